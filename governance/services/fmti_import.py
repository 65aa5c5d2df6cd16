"""Import the published Foundation Model Transparency Index (FMTI) scores as assessments.

Reads the FMTI data (Stanford CRFM, CC BY 4.0, github.com/stanford-crfm/fmti) in the upstream
layout, by default the copy shipped in ``governance/data/fmti`` (see its README):

    October2023/October2023_scores.csv   2023 (v1.0): Domain, Subdomain, Indicator, one column per
                                          developer, Total; plus a Total row
    May2024/May2024_scores.csv           2024 (v1.1): Indicator, one column per developer; a Total row
    May2024/reports/*.csv                2024 per-developer reports (disclosure, justification)
    Dec2025/Dec2025_scores.csv           2025: Indicator, one column per developer; no Total row
    Dec2025/reports/*.csv                2025 per-developer reports

Each developer of each edition becomes one final, imported assessment (``import_key``
``fmti-2024:BigCode``) of its flagship model, named by ``catalogs/transparency/fmti-flagships.csv``;
the AI model is registered when missing (a model already in the register is left as it is). Each
indicator is answered satisfied (1) or not satisfied (0), with the report's disclosure,
justification and first reference link where the edition has reports. Score rows are matched to
the indicator set by row order, as upstream publishes them, and the names are checked on the way.

Everything is read and validated before anything is written, and a problem fails with an
``FMTIImportError`` naming the file and line. The import is idempotent: rows are compared with
what the database holds and only differences are written, so a second run writes no row. The
stored scores are then recomputed from the answers (``services.transparency.recompute_scores``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from governance.change_context import change_context
from governance.choices import (
    AssessmentSource,
    AssessmentStatus,
    Hosting,
    IndicatorAnswer,
    ModelModality,
    ModelType,
    WeightsAvailability,
)
from governance.exceptions import DataFileError
from governance.models import AIModel, AssessmentAnswer, Indicator, IndicatorSet, TransparencyAssessment, User
from governance.services.catalogs import BATCH_SIZE, _changed_fields, _display_path
from governance.services.transparency import ANSWER_FIELDS, recompute_scores
from governance.services.transparency_catalogs import TRANSPARENCY_DIR

# The published scores shipped with Verity (CC BY 4.0); its README says how to refresh them.
FMTI_DIR = Path(__file__).resolve().parents[1] / "data" / "fmti"
FLAGSHIPS_FILE = TRANSPARENCY_DIR / "fmti-flagships.csv"
FLAGSHIP_COLUMNS = (
    "edition",
    "developer",
    "provider",
    "model_name",
    "model_version",
    "modality",
    "weights",
    "report",
    "basis",
)
ATTRIBUTION = "Foundation Model Transparency Index, Stanford CRFM, CC BY 4.0, github.com/stanford-crfm/fmti"
NON_DEVELOPER_COLUMNS = {"Domain", "Subdomain", "Indicator", "Total"}
ASSESSMENT_FIELDS = (
    "indicator_set_id",
    "model_id",
    "system_id",
    "assessor_label",
    "assessed_on",
    "status",
    "source",
    "notes",
)
URL_PATTERN = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class Edition:
    year: str
    set_key: str
    scores: str  # relative to the FMTI folder
    reports: str  # folder of per-developer reports, "" when the edition has none
    published_on: date


# Publication dates: the 2023 and 2024 indexes as released by Stanford CRFM (18 October 2023,
# 21 May 2024); for 2025 the upstream release of the December 2025 data (9 December 2025).
EDITIONS = (
    Edition("2023", "fmti-2023", "October2023/October2023_scores.csv", "", date(2023, 10, 18)),
    Edition("2024", "fmti-2024", "May2024/May2024_scores.csv", "May2024/reports", date(2024, 5, 21)),
    Edition("2025", "fmti-2025", "Dec2025/Dec2025_scores.csv", "Dec2025/reports", date(2025, 12, 9)),
)


class FMTIImportError(DataFileError):
    """An FMTI file is missing or malformed, or does not agree with the shipped catalogs."""


@dataclass
class _Flagship:
    line: int
    provider: str
    name: str
    version: str
    modality: str
    weights: str
    report: str
    basis: str

    @property
    def model_key(self) -> tuple[str, str, str]:
        return (self.provider, self.name, self.version)


@dataclass
class _Answer:
    answer: str
    disclosure: str = ""
    evidence_url: str = ""
    justification: str = ""


@dataclass
class _Developer:
    edition: Edition
    name: str
    flagship: _Flagship
    answers: list[_Answer] = field(default_factory=list)  # in indicator order

    @property
    def import_key(self) -> str:
        return f"{self.edition.set_key}:{self.name}"


# --- import ------------------------------------------------------------------------------------


@transaction.atomic
def import_fmti(
    directory: Path = FMTI_DIR, *, flagships: Path = FLAGSHIPS_FILE, actor: User | None = None
) -> dict[str, Any]:
    """Record every developer's published FMTI scores as a final assessment of its flagship model.

    Returns counts per edition (``developers``, ``satisfied``) and ``created``/``updated``/
    ``unchanged`` counts for ``models``, ``assessments`` and ``answers``, and ``scored`` (how many
    stored scores changed). Raises ``FMTIImportError`` on bad data; nothing is written then.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FMTIImportError(directory, None, "FMTI folder not found")
    sets = {s.key: s for s in IndicatorSet.objects.filter(key__in=[e.set_key for e in EDITIONS])}
    missing = [e.set_key for e in EDITIONS if e.set_key not in sets]
    if missing:
        raise FMTIImportError(
            TRANSPARENCY_DIR,
            None,
            f"indicator sets not loaded: {', '.join(missing)}; run manage.py load_catalogs",
        )
    indicators = {
        key: list(Indicator.objects.filter(indicator_set=s).order_by("order")) for key, s in sets.items()
    }
    mapping = _read_flagships(Path(flagships))
    developers: list[_Developer] = []
    for edition in EDITIONS:
        developers += _read_edition(directory, edition, indicators[edition.set_key], mapping)
    unused = sorted(set(mapping) - {(d.edition.year, d.name) for d in developers})
    if unused:
        first = mapping[unused[0]]
        raise FMTIImportError(
            Path(flagships), first.line, f"no scores for edition {unused[0][0]} {unused[0][1]!r}"
        )

    context: dict[str, Any] = {"reason": f"import_fmti from {_display_path(directory)}"}
    if actor is not None:
        context["actor"] = actor
    with change_context(**context):
        models, model_tally = _ensure_models(developers)
        assessments, assessment_tally = _write_assessments(developers, sets, models)
        answer_tally = _write_answers(developers, assessments, indicators)
        scored = recompute_scores(assessment_ids=[a.pk for a in assessments.values()])
    editions = {
        edition.year: {
            "developers": sum(1 for d in developers if d.edition == edition),
            "satisfied": sum(
                1
                for d in developers
                if d.edition == edition
                for a in d.answers
                if a.answer == IndicatorAnswer.SATISFIED
            ),
        }
        for edition in EDITIONS
    }
    return {
        "editions": editions,
        "models": model_tally,
        "assessments": assessment_tally,
        "answers": answer_tally,
        "scored": scored,
    }


# --- reading -----------------------------------------------------------------------------------


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """``(line, cells)`` for the header and each non-empty record of a CSV file."""
    if not path.is_file():
        raise FMTIImportError(path, None, "missing file")
    result = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, strict=True)
        line = 1
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    result.append((line, cells))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise FMTIImportError(path, line, f"unreadable CSV: {exc}") from exc
    if not result:
        raise FMTIImportError(path, 1, "empty file")
    return result


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def _read_flagships(path: Path) -> dict[tuple[str, str], _Flagship]:
    rows = _rows(path)
    header = [name.strip() for name in rows[0][1]]
    if tuple(header) != FLAGSHIP_COLUMNS:
        raise FMTIImportError(path, 1, f"header must be {','.join(FLAGSHIP_COLUMNS)}")
    mapping: dict[tuple[str, str], _Flagship] = {}
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            raise FMTIImportError(path, line, f"expected {len(header)} cells, found {len(cells)}")
        values = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        key = (values["edition"], values["developer"])
        if key[0] not in {e.year for e in EDITIONS}:
            raise FMTIImportError(path, line, f"unknown edition {key[0]!r}")
        if key in mapping:
            raise FMTIImportError(path, line, f"duplicate row for {key[0]} {key[1]!r}")
        for name in ("developer", "provider", "model_name", "model_version"):
            if not values[name]:
                raise FMTIImportError(path, line, f"{name} is empty")
        if values["modality"] not in ModelModality.values:
            raise FMTIImportError(path, line, f"unknown modality {values['modality']!r}")
        if values["weights"] not in WeightsAvailability.values:
            raise FMTIImportError(
                path, line, f"weights must be one of {', '.join(WeightsAvailability.values)}"
            )
        flagship = _Flagship(
            line=line,
            provider=values["provider"],
            name=values["model_name"],
            version=values["model_version"],
            modality=values["modality"],
            weights=values["weights"],
            report=values["report"],
            basis=values["basis"],
        )
        for name, value in zip(("provider", "name", "version"), flagship.model_key, strict=True):
            limit = AIModel._meta.get_field(name).max_length
            if len(value) > limit:
                raise FMTIImportError(path, line, f"{name} is longer than {limit} characters")
        mapping[key] = flagship
    return mapping


def _read_edition(
    directory: Path, edition: Edition, indicators: list[Indicator], mapping: dict[tuple[str, str], _Flagship]
) -> list[_Developer]:
    path = directory / edition.scores
    rows = _rows(path)
    header = [name.strip() for name in rows[0][1]]
    if "Indicator" not in header:
        raise FMTIImportError(path, 1, "no Indicator column")
    name_at = header.index("Indicator")
    records = [(line, cells) for line, cells in rows[1:] if cells[name_at].strip() != "Total"]
    if len(records) != len(indicators):
        raise FMTIImportError(
            path, None, f"{len(records)} indicator rows, the {edition.set_key} set has {len(indicators)}"
        )
    for (line, cells), indicator in zip(records, indicators, strict=True):
        if len(cells) != len(header):
            raise FMTIImportError(path, line, f"expected {len(header)} cells, found {len(cells)}")
        if _normal(cells[name_at]) != _normal(indicator.name):
            raise FMTIImportError(
                path,
                line,
                f"indicator {cells[name_at].strip()!r} is not {indicator.name!r}, "
                f"number {indicator.order} of the {edition.set_key} set",
            )
    developers = []
    for column, name in enumerate(header):
        if name in NON_DEVELOPER_COLUMNS:
            continue
        flagship = mapping.get((edition.year, name))
        if flagship is None:
            raise FMTIImportError(
                path, 1, f"developer {name!r} has no flagship model in {FLAGSHIPS_FILE.name} ({edition.year})"
            )
        developer = _Developer(edition=edition, name=name, flagship=flagship)
        for line, cells in records:
            score = cells[column].strip()
            if score not in ("0", "1"):
                raise FMTIImportError(path, line, f"score of {name!r} must be 0 or 1, not {score!r}")
            developer.answers.append(
                _Answer(IndicatorAnswer.SATISFIED if score == "1" else IndicatorAnswer.NOT_SATISFIED)
            )
        if edition.reports:
            if not flagship.report:
                raise FMTIImportError(
                    FLAGSHIPS_FILE, flagship.line, f"no report named for {edition.year} {name!r}"
                )
            _read_report(directory / edition.reports / flagship.report, developer, indicators)
        developers.append(developer)
    return developers


def _read_report(path: Path, developer: _Developer, indicators: list[Indicator]) -> None:
    """Add the report's disclosure, justification and first reference link to each answer. The first
    column holds the indicator whatever its header says (one 2024 report mislabels it)."""
    rows = _rows(path)
    header = [name.strip() for name in rows[0][1]]
    missing = [name for name in ("Disclosure", "Score") if name not in header]
    if missing:
        raise FMTIImportError(path, 1, f"missing columns: {', '.join(missing)}")
    column = {
        name: header.index(name)
        for name in ("Disclosure", "Justification", "References", "Score")
        if name in header
    }
    records = rows[1:]
    if len(records) != len(indicators):
        raise FMTIImportError(path, None, f"{len(records)} indicator rows, expected {len(indicators)}")
    for (line, cells), indicator, answer in zip(records, indicators, developer.answers, strict=True):
        if len(cells) != len(header):
            raise FMTIImportError(path, line, f"expected {len(header)} cells, found {len(cells)}")
        score = cells[column["Score"]].strip()
        expected = "1" if answer.answer == IndicatorAnswer.SATISFIED else "0"
        if score != expected:
            raise FMTIImportError(
                path,
                line,
                f"score {score!r} for {indicator.name!r} disagrees with the scores file ({expected})",
            )
        answer.disclosure = _text(cells[column["Disclosure"]])
        if "Justification" in column:
            answer.justification = _text(cells[column["Justification"]])
        if "References" in column:
            answer.evidence_url = _first_url(cells[column["References"]])


def _text(value: str) -> str:
    return value.replace("\u2028", "").replace("\r\n", "\n").strip()


def _first_url(text: str) -> str:
    validate = URLValidator()
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(".,;:")
        if len(url) > AssessmentAnswer._meta.get_field("evidence_url").max_length:
            continue
        try:
            validate(url)
        except ValidationError:
            continue
        return url
    return ""


# --- writing -----------------------------------------------------------------------------------


def _ensure_models(developers: list[_Developer]) -> tuple[dict[tuple[str, str, str], int], dict[str, int]]:
    wanted: dict[tuple[str, str, str], _Developer] = {}
    for developer in developers:
        wanted.setdefault(developer.flagship.model_key, developer)
    ids: dict[tuple[str, str, str], int] = {}
    for provider, name, version, pk in AIModel.objects.filter(
        provider__in={key[0] for key in wanted}
    ).values_list("provider", "name", "version", "pk"):
        if (provider, name, version) in wanted:
            ids[(provider, name, version)] = pk
    created = 0
    for key, developer in wanted.items():
        if key in ids:
            continue
        flagship = developer.flagship
        model = AIModel.objects.create(
            provider=flagship.provider,
            name=flagship.name,
            version=flagship.version,
            modality=flagship.modality,
            model_type=ModelType.FOUNDATION,
            weights=flagship.weights,
            hosting=Hosting.VENDOR_API,
            notes=(
                f"Registered by the FMTI import as the flagship model of {developer.name} assessed in the "
                f"{developer.edition.year} Foundation Model Transparency Index ({flagship.basis}). "
                "Adjust hosting and licence when a system uses it."
            ),
        )
        ids[key] = model.pk
        created += 1
    return ids, {"created": created, "updated": 0, "unchanged": len(wanted) - created}


def _assessment_values(developer: _Developer, sets: dict[str, IndicatorSet], model_id: int) -> dict[str, Any]:
    edition, flagship = developer.edition, developer.flagship
    return {
        "indicator_set_id": sets[edition.set_key].pk,
        "model_id": model_id,
        "system_id": None,
        "assessor_label": f"Stanford CRFM (FMTI {edition.year})",
        "assessed_on": edition.published_on,
        "status": AssessmentStatus.FINAL,
        "source": AssessmentSource.IMPORT,
        "notes": (
            f"Published FMTI {edition.year} scores of {developer.name}, recorded against its flagship model "
            f"{flagship.provider} {flagship.name} {flagship.version} (model named by: {flagship.basis}). "
            f"Source: {ATTRIBUTION}."
        ),
    }


def _write_assessments(
    developers: list[_Developer], sets: dict[str, IndicatorSet], models: dict[tuple[str, str, str], int]
) -> tuple[dict[str, TransparencyAssessment], dict[str, int]]:
    existing = {
        a.import_key: a
        for a in TransparencyAssessment.objects.filter(import_key__in=[d.import_key for d in developers])
    }
    tally = {"created": 0, "updated": 0, "unchanged": 0}
    result: dict[str, TransparencyAssessment] = {}
    to_create = []
    for developer in developers:
        values = _assessment_values(developer, sets, models[developer.flagship.model_key])
        obj = existing.get(developer.import_key)
        if obj is None:
            to_create.append(TransparencyAssessment(import_key=developer.import_key, **values))
            continue
        changed = _changed_fields(obj, values)
        if changed:
            obj.save(update_fields=[*changed, "updated_at"])
            tally["updated"] += 1
        else:
            tally["unchanged"] += 1
        result[developer.import_key] = obj
    for obj in TransparencyAssessment.objects.bulk_create(to_create, batch_size=BATCH_SIZE):
        result[obj.import_key] = obj
    tally["created"] = len(to_create)
    return result, tally


def _write_answers(
    developers: list[_Developer],
    assessments: dict[str, TransparencyAssessment],
    indicators: dict[str, list[Indicator]],
) -> dict[str, int]:
    existing = {
        (a.assessment_id, a.indicator_id): a
        for a in AssessmentAnswer.objects.filter(assessment__in=list(assessments.values()))
    }
    tally = {"created": 0, "updated": 0, "unchanged": 0}
    to_create, to_update, fields = [], [], set()
    for developer in developers:
        assessment = assessments[developer.import_key]
        for indicator, answer in zip(indicators[developer.edition.set_key], developer.answers, strict=True):
            values = {name: getattr(answer, name) for name in ANSWER_FIELDS}
            obj = existing.get((assessment.pk, indicator.pk))
            if obj is None:
                to_create.append(AssessmentAnswer(assessment=assessment, indicator=indicator, **values))
                continue
            changed = _changed_fields(obj, values)
            if changed:
                to_update.append(obj)
                fields.update(changed)
            else:
                tally["unchanged"] += 1
    if to_create:
        AssessmentAnswer.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
        tally["created"] = len(to_create)
    if to_update:
        AssessmentAnswer.objects.bulk_update(to_update, sorted(fields), batch_size=BATCH_SIZE)
        tally["updated"] = len(to_update)
    return tally
