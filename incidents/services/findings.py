"""Hallucination findings: recording them (one or a batch, deduplicated) and triaging them.

Every write is one transaction, takes keyword arguments only and the acting user explicitly.
Officers act on every system, engineers (people or service accounts) on their teams' systems;
only officers accept a finding's risk. ``incidents.services.evaluations`` re-exports these.

A finding's dedupe hash covers its system and the normalised model name and version, benchmark,
sample id and claim (:func:`finding_dedupe_hash`); posting it again returns the stored finding,
also when both posts arrive at once (the unique hash decides, inside a savepoint).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.exceptions import NotAllowed, TooLarge
from governance.models import AISystem, User
from incidents import choices
from incidents.models import EvaluationRun, HallucinationFinding
from incidents.services.incidents import may_act_for_team, require_incident_permission, require_officer

MAX_BULK_FINDINGS = 1_000
"""Findings one bulk request may carry."""

FINDING_FIELDS = frozenset(
    {
        "run",
        "system",
        "model_name",
        "model_version",
        "benchmark_name",
        "sample_id",
        "prompt",
        "prompt_sha256",
        "prompt_sensitive",
        "response_excerpt",
        "claim",
        "reference",
        "kind",
        "subtype",
        "grade",
        "detector_score",
        "detector_threshold",
        "severity",
    }
)
# Set here, not validated by full_clean: loaded references and the computed hash.
_FINDING_REFERENCES = ["run", "system", "team", "reporter", "duplicate_of", "dedupe_hash"]
_HEX = frozenset("0123456789abcdef")


class BulkInvalid(Exception):
    """Some items of a bulk request are invalid; nothing was written.

    ``errors`` maps each invalid item's 0-based index to ``{field: [messages]}`` (``"__all__"``
    for messages about the item as a whole).
    """

    def __init__(self, errors: dict[int, dict[str, list[str]]]):
        super().__init__(f"{len(errors)} invalid item(s); nothing was recorded.")
        self.errors = errors


def normalise(text: str) -> str:
    """Text as compared for deduplication: NFKC, case-folded, whitespace collapsed and stripped."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def finding_dedupe_hash(
    *, system_id: int, model_name: str, model_version: str, benchmark_name: str, sample_id: str, claim: str
) -> str:
    """SHA-256 over the system and the normalised model name and version, benchmark, sample id and
    claim. The system is part of it because findings are scoped by system: without it, one
    team's post could return another team's finding."""
    parts = [
        system_id,
        *(normalise(text) for text in (model_name, model_version, benchmark_name, sample_id, claim)),
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def _prepare_finding(actor: User, data: Mapping[str, object]) -> HallucinationFinding:
    """An unsaved, validated finding with its dedupe hash; errors as a ``ValidationError``."""
    if not isinstance(data, Mapping):
        raise ValidationError("Each finding must be an object.")
    data = dict(data)
    unknown = sorted(set(data) - FINDING_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    run = data.get("run")
    if run is not None and not isinstance(run, EvaluationRun):
        raise ValidationError({"run": "Name an evaluation run."})
    system = data.get("system") or (run.system if run is not None else None)
    if not isinstance(system, AISystem):
        raise ValidationError({"system": "Name the AI system that hallucinated."})
    if not may_act_for_team(actor, system.owning_team_id):
        raise ValidationError({"system": "You can only report findings of your teams' systems."})
    if run is not None:
        if run.system_id != system.pk:
            raise ValidationError({"run": "This run evaluated another AI system."})
        for field, value in (
            ("model_name", run.model_name),
            ("model_version", run.model_version),
            ("benchmark_name", run.benchmark_name),
        ):
            data[field] = data.get(field) or value

    sensitive = data.pop("prompt_sensitive", False)
    prompt = data.get("prompt") or ""
    given_hash = (data.get("prompt_sha256") or "").lower()
    if given_hash and (len(given_hash) != 64 or not set(given_hash) <= _HEX):
        raise ValidationError({"prompt_sha256": "Must be 64 hexadecimal digits."})
    if prompt:
        computed = hashlib.sha256(prompt.encode()).hexdigest()
        if given_hash and given_hash != computed:
            raise ValidationError({"prompt_sha256": "Does not match the prompt."})
        given_hash = computed
    # A sensitive prompt is kept only as its hash: findings can still be matched on it.
    data["prompt"] = "" if sensitive else prompt
    data["prompt_sha256"] = given_hash
    data.setdefault("grade", choices.SampleGrade.INCORRECT)
    finding = HallucinationFinding(**data)
    finding.system, finding.team_id, finding.reporter = system, system.owning_team_id, actor
    for field in ("model_name", "model_version", "benchmark_name", "sample_id", "claim"):
        setattr(finding, field, (getattr(finding, field) or "").strip())
    finding.full_clean(exclude=_FINDING_REFERENCES, validate_unique=False, validate_constraints=False)
    finding.dedupe_hash = finding_dedupe_hash(
        system_id=system.pk,
        model_name=finding.model_name,
        model_version=finding.model_version,
        benchmark_name=finding.benchmark_name,
        sample_id=finding.sample_id,
        claim=finding.claim,
    )
    return finding


def _insert_finding(finding: HallucinationFinding) -> tuple[HallucinationFinding, bool]:
    existing = HallucinationFinding.objects.filter(dedupe_hash=finding.dedupe_hash).first()
    if existing is not None:
        return existing, False
    # A concurrent post of the same finding may insert between the look-up and this INSERT: the
    # unique hash refuses the second row, and the savepoint keeps the transaction usable.
    try:
        with transaction.atomic():
            finding.save(force_insert=True)
    except IntegrityError:
        existing = HallucinationFinding.objects.filter(dedupe_hash=finding.dedupe_hash).first()
        if existing is None:
            raise
        return existing, False
    return finding, True


@transaction.atomic
def record_finding(*, actor: User, data: Mapping[str, object]) -> tuple[HallucinationFinding, bool]:
    """Record a hallucination finding of a system the actor's team owns (officers: any).

    ``data`` holds the finding's fields (:data:`FINDING_FIELDS`): ``system`` (or ``run``, whose
    system, model and benchmark fill those left out), ``claim``, ``kind``, ``subtype`` and
    ``severity`` are required; ``grade`` defaults to ``incorrect``. With ``prompt_sensitive``
    only the prompt's SHA-256 is stored. Returns ``(finding, created)``: a finding whose dedupe
    hash is already stored returns that one with ``created`` False, also when posted at once.
    """
    require_incident_permission(actor, "add_hallucinationfinding")
    return _insert_finding(_prepare_finding(actor, data))


def _message_dict(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}


@transaction.atomic
def record_findings(
    *, actor: User, items: Iterable[Mapping[str, object]]
) -> list[tuple[HallucinationFinding, bool]]:
    """Record up to :data:`MAX_BULK_FINDINGS` findings at once, all or nothing.

    Every item is validated before anything is written; if any is invalid, :class:`BulkInvalid`
    carries each invalid item's errors by index. Otherwise returns ``(finding, created)`` per
    item, in order; items already stored, or repeated within the request, are not created again.
    """
    require_incident_permission(actor, "add_hallucinationfinding")
    items = list(items)
    if len(items) > MAX_BULK_FINDINGS:
        raise TooLarge(
            f"At most {MAX_BULK_FINDINGS} findings per request.", limit=MAX_BULK_FINDINGS, field="items"
        )
    prepared: list[HallucinationFinding] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        try:
            prepared.append(_prepare_finding(actor, item))
        except ValidationError as exc:
            errors[index] = _message_dict(exc)
    if errors:
        raise BulkInvalid(errors)

    stored = {
        finding.dedupe_hash: finding
        for finding in HallucinationFinding.objects.filter(dedupe_hash__in={f.dedupe_hash for f in prepared})
    }
    new = {}
    for finding in prepared:
        if finding.dedupe_hash not in stored:
            new.setdefault(finding.dedupe_hash, finding)
    try:
        with transaction.atomic():
            HallucinationFinding.objects.bulk_create(new.values())
    except IntegrityError:
        # Some were posted concurrently: fall back to one savepoint per finding.
        new = {key: finding for key, finding in new.items() if _insert_finding(finding)[1]}
        stored |= {
            finding.dedupe_hash: finding
            for finding in HallucinationFinding.objects.filter(
                dedupe_hash__in={f.dedupe_hash for f in prepared} - set(new)
            )
        }
    results, seen = [], set()
    for finding in prepared:
        created = finding.dedupe_hash in new and finding.dedupe_hash not in seen
        seen.add(finding.dedupe_hash)
        results.append((new.get(finding.dedupe_hash) or stored[finding.dedupe_hash], created))
    return results


@transaction.atomic
def update_finding_status(
    *,
    actor: User,
    finding: HallucinationFinding,
    status: str,
    duplicate_of: HallucinationFinding | None = None,
) -> HallucinationFinding:
    """Triage a finding: confirm it, call it a false positive, fixed, a duplicate of another
    finding of the same system (``duplicate_of``, required then and only then) or accept its risk
    (officers only: accepting residual risk is a governance decision).

    Findings that duplicated this one follow it to its original, so a duplicate never points at
    another duplicate.
    """
    require_incident_permission(actor, "change_hallucinationfinding")
    if not may_act_for_team(actor, finding.system.owning_team_id):
        raise NotAllowed("You can only triage findings of your teams' systems.")
    if status not in choices.FindingStatus.values:
        raise ValidationError({"status": f"Must be one of {', '.join(choices.FindingStatus.values)}."})
    if status == choices.FindingStatus.RISK_ACCEPTED:
        require_officer(actor, "accept the risk of a finding")
    finding = HallucinationFinding.objects.select_for_update().get(pk=finding.pk)
    if status == choices.FindingStatus.DUPLICATE:
        if duplicate_of is None:
            raise ValidationError({"duplicate_of": "Name the finding this one duplicates."})
        original = duplicate_of.duplicate_of or duplicate_of
        if original.system_id != finding.system_id:
            raise ValidationError({"duplicate_of": "That finding is of another AI system."})
        if original.pk == finding.pk:
            raise ValidationError({"duplicate_of": "A finding cannot duplicate itself."})
        HallucinationFinding.objects.filter(duplicate_of=finding).update(
            duplicate_of=original, updated_at=timezone.now()
        )
        finding.duplicate_of = original
    elif duplicate_of is not None:
        raise ValidationError({"duplicate_of": "Only a duplicate names the finding it duplicates."})
    else:
        finding.duplicate_of = None
    finding.status = status
    finding.save(update_fields=["status", "duplicate_of", "updated_at"])
    return finding
