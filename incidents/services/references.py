"""Public reference incidents from the AI Incident Database (AIID): import and similarity search.

The import reads an AIID CSV export (``incidents.csv`` plus the MIT AI Risk Repository and CSET v1
classification files beside it; by default the snapshot shipped in ``incidents/data/aiid``),
validates every row before anything is written, and fails with a ``ReferenceImportError`` naming
the file and line of the first bad record. It is idempotent: the rows the database holds are read
in one query and compared with the files, new incidents are inserted in bulk and only rows that
differ are updated, so a second run writes no row at all (and leaves no trace in the change
history). Incidents that disappeared from the export are reported,
never deleted: internal incidents may still link to them.

Similarity search ranks by PostgreSQL full-text search over title and description (``ts_rank``,
title weighted above description) plus ``pg_trgm`` similarity of the titles, with one query for
internal incidents and one for public ones.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector, TrigramSimilarity
from django.db import transaction
from django.db.models import DecimalField, F, Q, QuerySet, Value
from django.db.models.functions import Cast

from governance.change_context import change_context
from governance.exceptions import DataFileError
from governance.models import User
from incidents.models import Incident, ReferenceIncident

# The snapshot shipped with Verity (CC BY-SA 4.0); its README says how to refresh it.
AIID_DIR = Path(__file__).resolve().parents[1] / "data" / "aiid"
INCIDENTS_FILE = "incidents.csv"
MIT_FILE = "classifications_MIT.csv"
CSET_FILE = "classifications_CSETv1.csv"

# incidents.csv column -> model field (``_id``, the export's own ObjectId, is not kept)
INCIDENT_ID_COLUMN = "incident_id"
ENTITY_COLUMNS = {
    "Alleged deployer of AI system": "deployers",
    "Alleged developer of AI system": "developers",
    "Alleged harmed or nearly harmed parties": "harmed_parties",
}
INCIDENT_COLUMNS = (INCIDENT_ID_COLUMN, "date", "reports", *ENTITY_COLUMNS, "description", "title")

CLASSIFICATION_ID_COLUMN = "Incident ID"
PUBLISHED_COLUMN = "Published"
MIT_COLUMNS = (CLASSIFICATION_ID_COLUMN, PUBLISHED_COLUMN, "Risk Domain", "Risk Subdomain")

# CSET v1 column -> key in ``ReferenceIncident.cset``; the annotators' notes and bookkeeping are left out.
CSET_ATTRIBUTES = {
    "Harm Domain": "harm_domain",
    "Tangible Harm": "tangible_harm",
    "AI Harm Level": "ai_harm_level",
    "Special Interest Intangible Harm": "special_interest_intangible_harm",
    "Rights Violation": "rights_violation",
    "Detrimental Content": "detrimental_content",
    "Protected Characteristic": "protected_characteristic",
    "Harm Distribution Basis": "harm_distribution_basis",
    "Involving Minor": "involving_minor",
    "Impact on Critical Services": "impact_on_critical_services",
    "Lives Lost": "lives_lost",
    "Injuries": "injuries",
    "Sector of Deployment": "sector_of_deployment",
    "Public Sector Deployment": "public_sector_deployment",
    "Infrastructure Sectors": "infrastructure_sectors",
    "Autonomy Level": "autonomy_level",
    "Intentional Harm": "intentional_harm",
    "AI Task": "ai_task",
    "AI tools and methods": "ai_tools_and_methods",
    "Location Country (two letters)": "location_country",
    "Location Region": "location_region",
}
CSET_COUNTS = ("Lives Lost", "Injuries")
CSET_COLUMNS = (CLASSIFICATION_ID_COLUMN, PUBLISHED_COLUMN, *CSET_ATTRIBUTES)
EMPTY_VALUES = ("", "--")

IMPORTED_FIELDS = (
    "title",
    "description",
    "date",
    "deployers",
    "developers",
    "harmed_parties",
    "report_ids",
    "mit_domain",
    "mit_subdomain",
    "cset",
)
BATCH_SIZE = 500


class ReferenceImportError(DataFileError):
    """An AIID export file is missing or malformed."""


@dataclass
class _Classification:
    line: int
    values: dict[str, Any]


# --- import ------------------------------------------------------------------------------------


@transaction.atomic
def import_aiid(directory: Path = AIID_DIR, *, actor: User | None = None) -> dict[str, Any]:
    """Load the AIID export in ``directory`` into ``ReferenceIncident``; return what was written.

    ``incidents.csv`` is required; the MIT and CSET v1 classification files are joined when present
    (only published classifications). The result counts ``rows`` in the file, ``created``,
    ``updated`` and ``unchanged`` rows, the incidents that got an MIT (``with_mit``) or CSET
    (``with_cset``) classification, classifications naming no incident of the file
    (``unmatched_classifications``) and ``not_in_file``: rows the database holds that the file no
    longer lists (kept, not deleted).

    Raises ``ReferenceImportError`` (naming file and line) on bad data; nothing is written then.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ReferenceImportError(directory, None, "AIID export folder not found")
    rows = _read_incidents(directory / INCIDENTS_FILE)
    mit = _read_classifications(directory / MIT_FILE, MIT_COLUMNS, _mit_values)
    cset = _read_classifications(directory / CSET_FILE, CSET_COLUMNS, _cset_values)

    for aiid_id, values in rows.items():
        classification = mit.get(aiid_id)
        values["mit_domain"] = classification.values["mit_domain"] if classification else ""
        values["mit_subdomain"] = classification.values["mit_subdomain"] if classification else ""
        values["cset"] = cset[aiid_id].values if aiid_id in cset else {}
    unmatched = len(set(mit) - set(rows)) + len(set(cset) - set(rows))

    context: dict[str, Any] = {"reason": f"import_aiid from {_display_path(directory)}"}
    if actor is not None:
        context["actor"] = actor
    with change_context(**context):
        tally = _write(rows)
    return {
        "rows": len(rows),
        **tally,
        "with_mit": sum(1 for aiid_id in rows if aiid_id in mit),
        "with_cset": sum(1 for aiid_id in rows if aiid_id in cset),
        "unmatched_classifications": unmatched,
    }


def _write(rows: dict[int, dict[str, Any]]) -> dict[str, int]:
    existing = {obj.aiid_id: obj for obj in ReferenceIncident.objects.only("id", "aiid_id", *IMPORTED_FIELDS)}
    to_create, to_update, fields = [], [], set()
    for aiid_id, values in rows.items():
        obj = existing.get(aiid_id)
        if obj is None:
            to_create.append(ReferenceIncident(aiid_id=aiid_id, **values))
            continue
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            to_update.append(obj)
            fields.update(changed)
    if to_create:
        ReferenceIncident.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
    if to_update:
        ReferenceIncident.objects.bulk_update(to_update, sorted(fields), batch_size=BATCH_SIZE)
    return {
        "created": len(to_create),
        "updated": len(to_update),
        "unchanged": len(rows) - len(to_create) - len(to_update),
        "not_in_file": len(set(existing) - set(rows)),
    }


# --- reading and validating files ------------------------------------------------------------


def _csv_records(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, {column: value})`` per record, ``line`` being where the record starts.

    The header must name every column of ``columns`` once; other columns are ignored.
    """
    if not path.is_file():
        raise ReferenceImportError(path, None, "missing file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ReferenceImportError(path, 1, "empty file, expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReferenceImportError(path, 1, f"unreadable CSV: {exc}") from exc
        missing = [name for name in columns if name not in header]
        repeated = sorted({name for name in columns if header.count(name) > 1})
        if missing or repeated:
            raise ReferenceImportError(
                path,
                1,
                f"header must name the columns {', '.join(columns)} once each "
                f"(missing: {', '.join(missing) or '-'}; repeated: {', '.join(repeated) or '-'})",
            )
        positions = {name: header.index(name) for name in columns}
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ReferenceImportError(path, line, f"unreadable CSV: {exc}") from exc
            if cells and any(cell.strip() for cell in cells):
                if len(cells) != len(header):
                    raise ReferenceImportError(
                        path, line, f"expected {len(header)} cells, found {len(cells)}"
                    )
                yield line, {name: cells[index].strip() for name, index in positions.items()}
            line = reader.line_num + 1


def _read_incidents(path: Path) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    lines: dict[int, int] = {}
    for line, cells in _csv_records(path, INCIDENT_COLUMNS):
        aiid_id = _incident_id(path, line, INCIDENT_ID_COLUMN, cells[INCIDENT_ID_COLUMN])
        if aiid_id in lines:
            raise ReferenceImportError(
                path, line, f"duplicate incident_id {aiid_id} (first on line {lines[aiid_id]})"
            )
        lines[aiid_id] = line
        if not cells["title"]:
            raise ReferenceImportError(path, line, f"title is empty for incident {aiid_id}")
        values: dict[str, Any] = {
            "title": cells["title"],
            "description": cells["description"],
            "date": _date(path, line, cells["date"]),
            "report_ids": _json_list(path, line, "reports", cells["reports"], int),
        }
        for column, field in ENTITY_COLUMNS.items():
            values[field] = [item.strip() for item in _json_list(path, line, column, cells[column], str)]
        _check_lengths(path, line, values)
        rows[aiid_id] = values
    return rows


def _incident_id(path: Path, line: int, column: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ReferenceImportError(path, line, f"{column} must be a whole number >= 1, not {raw!r}")
    return value


def _date(path: Path, line: int, raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ReferenceImportError(path, line, f"date is not a date (YYYY-MM-DD): {raw!r}") from None


def _json_list(path: Path, line: int, column: str, raw: str, item_type: type) -> list:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ReferenceImportError(path, line, f"{column} is not valid JSON: {exc.msg}") from None
    kind = "whole numbers >= 0" if item_type is int else "strings"
    if not isinstance(value, list) or not all(
        type(item) is item_type and (item_type is not int or item >= 0) for item in value
    ):
        raise ReferenceImportError(path, line, f"{column} must be a JSON array of {kind}")
    return value


def _check_lengths(path: Path, line: int, values: dict[str, Any]) -> None:
    for name, value in values.items():
        field = ReferenceIncident._meta.get_field(name)
        limit = getattr(getattr(field, "base_field", field), "max_length", None)
        items = value if isinstance(value, list) else [value]
        if limit and any(isinstance(item, str) and len(item) > limit for item in items):
            raise ReferenceImportError(path, line, f"{name} holds a value longer than {limit} characters")


def _read_classifications(path: Path, columns: tuple[str, ...], parse) -> dict[int, _Classification]:
    """Published classifications by incident id; a missing file means none.

    A classification that says nothing (empty, or only the zero counts an annotation form starts
    with) is skipped. When an incident has several, the one that says most (a subdomain, or the
    most attributes) wins, the earlier one on a tie.
    """
    if not path.exists():
        return {}
    found: dict[int, _Classification] = {}
    for line, cells in _csv_records(path, columns):
        aiid_id = _incident_id(path, line, CLASSIFICATION_ID_COLUMN, cells[CLASSIFICATION_ID_COLUMN])
        if cells[PUBLISHED_COLUMN].lower() == "false":
            continue
        current = _Classification(line=line, values=parse(path, line, cells))
        if not _detail(current.values):
            continue
        first = found.get(aiid_id)
        if first is None or _detail(current.values) > _detail(first.values):
            found[aiid_id] = current
    return found


def _detail(values: dict[str, Any]) -> int:
    """How much a classification says: its values other than empty strings and zero counts."""
    return sum(1 for value in values.values() if value not in ("", 0))


def _mit_values(path: Path, line: int, cells: dict[str, str]) -> dict[str, str]:
    values = {"mit_domain": cells["Risk Domain"], "mit_subdomain": cells["Risk Subdomain"]}
    if values["mit_subdomain"] and not values["mit_domain"]:
        raise ReferenceImportError(path, line, "Risk Subdomain is given without a Risk Domain")
    _check_lengths(path, line, values)
    return values


def _cset_values(path: Path, line: int, cells: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column, key in CSET_ATTRIBUTES.items():
        raw = cells[column]
        if raw in EMPTY_VALUES:
            continue
        if column in CSET_COUNTS:
            try:
                values[key] = int(raw)
            except ValueError:
                raise ReferenceImportError(
                    path, line, f"{column} must be a whole number, not {raw!r}"
                ) from None
            if values[key] < 0:
                raise ReferenceImportError(path, line, f"{column} must be a whole number, not {raw!r}")
        else:
            values[key] = raw
    return values


def _display_path(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(settings.BASE_DIR).resolve()).as_posix()
    except ValueError:
        return str(path)


# --- similarity search -------------------------------------------------------------------------

MAX_TERMS = 64
SEARCH_CONFIG = "english"
SCORE_FIELD = DecimalField(max_digits=12, decimal_places=6)
_WORD = re.compile(r"[^\W_]+")


def _document() -> SearchVector:
    return SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "description", weight="B", config=SEARCH_CONFIG
    )


def any_words_query(text: str) -> SearchQuery | None:
    """A full-text query matching documents with any of the words of ``text`` (stemmed, stop words
    dropped); ``None`` when ``text`` has no words. Ranking does the rest: more shared words, and
    words in the title, rank higher."""
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_TERMS]
    if not words:
        return None
    # Words are letters and digits only, so joining them with "|" cannot break the tsquery syntax.
    return SearchQuery(" | ".join(words), search_type="raw", config=SEARCH_CONFIG)


def web_query(text: str) -> SearchQuery:
    """A full-text query in the syntax of web search engines: all words, "a phrase", -excluded."""
    return SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)


def ranked(queryset: QuerySet, *, query: SearchQuery | None, title: str) -> QuerySet:
    """``queryset`` rows that match ``query`` or have a title similar to ``title``, annotated with
    ``search_score``: ``ts_rank`` over title and description plus the trigram similarity of the
    titles (a decimal, so it pages exactly with a cursor). Not ordered: callers order by
    ``-search_score``."""
    title = title.strip()
    parts, match = [], Q(pk__in=[])
    if query is not None:
        parts.append(SearchRank(_document(), query))
        match |= Q(_search_document=query)
        queryset = queryset.alias(_search_document=_document())
    if title:
        parts.append(TrigramSimilarity("title", title))
        match |= Q(title__trigram_similar=title)
    if not parts:
        return queryset.none().annotate(search_score=Value(None, SCORE_FIELD))
    score = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return queryset.filter(match).annotate(search_score=Cast(score, SCORE_FIELD))


def similar_incidents(
    *,
    text: str,
    internal_queryset: QuerySet[Incident],
    exclude_incident_id: int | None = None,
    title: str | None = None,
    public_queryset: QuerySet[ReferenceIncident] | None = None,
    limit: int = 10,
) -> dict[str, list[dict[str, Any]]]:
    """Incidents like the one described by ``text`` (its title and description), best first.

    ``internal`` lists incidents of ``internal_queryset`` (the caller scopes it, e.g. with
    ``Incident.objects.visible_to(user)``), leaving out ``exclude_incident_id`` (the incident
    itself); ``public`` lists AIID reference incidents (all of them unless ``public_queryset``
    says otherwise). Titles are compared with ``title``, by default the first line of ``text``.
    At most ``limit`` of each; two queries in all.
    """
    if title is None:
        title = next((line for line in text.splitlines() if line.strip()), "")
    query = any_words_query(text)
    if query is None and not title.strip():
        return {"internal": [], "public": []}
    limit = max(1, min(int(limit), 100))

    internal = internal_queryset
    if exclude_incident_id is not None:
        internal = internal.exclude(pk=exclude_incident_id)
    internal_rows = (
        ranked(internal, query=query, title=title)
        .order_by("-search_score", "-created_at", "-pk")
        .values("reference", "title", "severity", "status", "search_score", system_slug=F("system__slug"))
    )[:limit]

    public = ReferenceIncident.objects.all() if public_queryset is None else public_queryset
    public_rows = (
        ranked(public, query=query, title=title)
        .order_by("-search_score", "-aiid_id")
        .values("aiid_id", "title", "date", "search_score")
    )[:limit]

    return {
        "internal": [
            {
                "reference": row["reference"],
                "title": row["title"],
                "system": row["system_slug"],
                "severity": row["severity"],
                "status": row["status"],
                "score": _score(row["search_score"]),
            }
            for row in internal_rows
        ],
        "public": [
            {
                "aiid_id": row["aiid_id"],
                "title": row["title"],
                "date": row["date"],
                "url": ReferenceIncident(aiid_id=row["aiid_id"]).url,
                "score": _score(row["search_score"]),
            }
            for row in public_rows
        ],
    }


def _score(value: Decimal | None) -> float:
    return round(float(value or 0), 4)
