"""Reporting incidents, changing what is known about them, and commenting on them.

Every write is one transaction, takes keyword arguments only and the acting user explicitly,
validates through the model layer (``full_clean``) and leaves the change history to the database
triggers. Status changes live in ``lifecycle``; corrective actions in ``corrective``.

Who may write: officers, for every incident; engineers, for incidents of their teams' systems.
Auditors only read.

Times of an incident
--------------------
``occurred_at`` is required. ``detected_at`` defaults to the moment of reporting.
``became_aware_at`` (when the provider became aware: it starts the EU AI Act Art. 73 clock)
defaults to ``detected_at``: whoever detected the incident made the organisation aware of it, and
taking the earliest moment the record allows can only make a reporting deadline earlier, never
late. None of the three may lie in the future beyond :data:`CLOCK_SKEW`; detection cannot precede
occurrence and awareness cannot precede detection.

References
----------
``INC-<year>-<n>``, numbered without gaps per calendar year (``TIME_ZONE``): the number is taken
from ``IncidentSequence`` inside the reporting transaction with one upsert, whose row lock
serialises concurrent reports until they commit; a report that rolls back gives its number back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.choices import Role
from governance.exceptions import NotAllowed
from governance.models import AIModel, AISystem, SystemModel, User
from governance.services.access import is_officer
from incidents import choices
from incidents.models import Incident, IncidentSequence, TimelineEntry
from incidents.services import clocks
from incidents.services.notifications import SEV1, notify_incident

SEVERITIES = frozenset(severity.value for severity in choices.Severity)

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock a reported time may be (clocks of reporters drift)."""

CLASSIFICATION_FIELDS = (
    "harm_types",
    "harm_level",
    "mit_domain",
    "mit_subdomain",
    "affected_parties",
    "sector",
)
"""How an incident is classified: the harm, the MIT AI risk domain, who was affected, the sector."""

REPORTED_FIELDS = (
    "system",
    "model",
    "title",
    "description",
    "occurred_at",
    "detected_at",
    "became_aware_at",
    "external_id",
    "severity",
    *CLASSIFICATION_FIELDS,
)
"""What a report of a new incident may set (the API's POST); the rest is Verity's to fill in."""

UPDATABLE_FIELDS = ("title", "description", "severity", *CLASSIFICATION_FIELDS, "model")
"""What a change to a reported incident may set (the API's PATCH, the admin's change form); the
status changes through the lifecycle, and the system and the reported times never change."""

_EXTERNAL_ID_CONSTRAINT = "unique_external_incident_per_team"
# Loaded instances the caller resolved: the foreign keys refuse a vanished row anyway, so
# ``full_clean`` need not fetch each of them again.
_LOADED_REFERENCES = ["reference", "system", "team", "model", "reporter", "duplicate_of"]
# Computed from the severity: a bad severity gets its own message, not one for these as well.
_COMPUTED = ["respond_by", "resolve_by"]

_ALLOCATE_NUMBER = f"""
    INSERT INTO {IncidentSequence._meta.db_table} (year, last_number) VALUES (%s, 1)
    ON CONFLICT (year) DO UPDATE SET last_number = {IncidentSequence._meta.db_table}.last_number + 1
    RETURNING last_number
"""


# --- Shared by the incident services ------------------------------------------------------------


def require_incident_permission(actor: User | None, codename: str) -> None:
    """Refuse unless the actor's role grants ``incidents.<codename>``."""
    if actor is None or not actor.is_active or not actor.has_perm(f"incidents.{codename}"):
        raise NotAllowed(f"Your role does not allow this ({codename}).")


def may_act_for_team(actor: User, team_id: int | None) -> bool:
    """Officers act on every incident; engineers on those of their teams' systems."""
    if is_officer(actor):
        return True
    return actor.has_role(Role.ENGINEER) and team_id is not None and team_id in actor.team_ids()


def require_incident_scope(actor: User, incident: Incident) -> None:
    """The incident's system must belong to one of the actor's teams (officers: any)."""
    if not may_act_for_team(actor, incident.system.owning_team_id):
        raise NotAllowed("You can only act on incidents of your teams' systems.")


def require_officer(actor: User, what: str) -> None:
    if not is_officer(actor):
        raise NotAllowed(f"Only governance officers {what}.")


def lock_incident(incident: Incident) -> Incident:
    """The incident's row, locked until the transaction ends, with the objects it shows loaded
    (system, team, reporter, original of a duplicate), so the answer to a write reads no more."""
    return (
        Incident.objects.select_for_update(of=("self",))
        .select_related("system", "team", "reporter", "duplicate_of")
        .get(pk=incident.pk)
    )


def validate_incident(incident: Incident) -> None:
    """``full_clean``, leaving out the look-ups the database answers anyway: loaded references
    (their foreign keys refuse a vanished row) and uniqueness (reference numbers come from the
    sequence; a clashing external id is caught by its constraint). ``clean()`` checks the order
    of the times, which the check constraint would otherwise answer with a query."""
    incident.full_clean(
        exclude=_LOADED_REFERENCES + _COMPUTED, validate_unique=False, validate_constraints=False
    )


def add_timeline_entry(
    *, actor: User | None, incident: Incident, kind: str, body: str = "", data: Mapping | None = None
) -> TimelineEntry:
    """Append one line to the incident's (append-only) timeline."""
    entry = TimelineEntry(
        incident=incident,
        kind=kind,
        author=actor,
        author_label=actor.get_username() if actor is not None else "",
        body=body,
        data=dict(data or {}),
    )
    entry.full_clean(exclude=["incident", "author"])
    entry.save()
    return entry


def sla_deadlines(severity: str, reported_at: datetime) -> tuple[datetime, datetime]:
    """``(respond_by, resolve_by)`` for a severity, counted from when the incident was reported,
    in elapsed time (in UTC: a 24-hour SLA across a daylight-saving change is 24 real hours)."""
    sla = clocks.sla_for(severity, getattr(settings, clocks.SLA_SETTING, None))
    start = reported_at.astimezone(UTC)
    return start + sla.respond_within, start + sla.resolve_within


def refuse_future(now: datetime, **values: datetime | None) -> None:
    """A field message for each given time that lies ahead of ``now`` by more than the clock skew."""
    errors = {
        name: "This time is in the future."
        for name, value in values.items()
        if value is not None and value > now + CLOCK_SKEW
    }
    if errors:
        raise ValidationError(errors)


def require_model_of_system(model: AIModel | None, system: AISystem) -> None:
    """The model must be one the system uses."""
    if model is not None and not SystemModel.objects.filter(system=system, model=model).exists():
        raise ValidationError({"model": f"Model {model.pk} is not linked to the AI system {system.slug}."})


# --- Reporting ----------------------------------------------------------------------------------


def _existing_external(team_id: int, source: str, external_id: str) -> Incident | None:
    found = Incident.objects.filter(team_id=team_id, source=source, external_id=external_id)
    return found.select_related("system", "team", "reporter", "duplicate_of").first()


def _allocate_reference(now: datetime) -> str:
    year = timezone.localtime(now).year
    with connection.cursor() as cursor:
        cursor.execute(_ALLOCATE_NUMBER, [year])
        (number,) = cursor.fetchone()
    return f"INC-{year}-{number}"


def _is_external_id_clash(exc: IntegrityError) -> bool:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") == _EXTERNAL_ID_CONSTRAINT


def create_incident(*, actor: User, data: Mapping[str, object]) -> tuple[Incident, bool]:
    """Report an incident of an AI system the actor's team owns (officers: any system).

    ``data`` holds the model's fields: ``system`` (an ``AISystem``), ``title``, ``severity``,
    ``occurred_at`` and ``source`` are required; ``model`` must be linked to the system. The team
    is the system's owning team, the reporter the actor, the status ``reported``; the SLA
    deadlines follow the severity (``VERITY_INCIDENT_SLAS`` overrides the defaults).

    Returns ``(incident, created)``. A report whose non-empty ``external_id`` the team already
    reported from the same ``source`` returns that incident with ``created`` False, also when two
    such reports race. The checks only read; the writes (reference, row and, for a SEV1, its
    outbox rows and the review it makes due) are one atomic block.
    """
    require_incident_permission(actor, "add_incident")
    data = dict(data)
    system = data.get("system")
    if not isinstance(system, AISystem):
        raise ValidationError({"system": "Name the AI system the incident concerns."})
    if not may_act_for_team(actor, system.owning_team_id):
        raise ValidationError({"system": "You can only report incidents of your teams' systems."})

    now = timezone.now()
    data.setdefault("detected_at", None)
    data.setdefault("became_aware_at", None)
    occurred_at = data.get("occurred_at")
    if data["detected_at"] is None:
        data["detected_at"] = max(now, occurred_at) if isinstance(occurred_at, datetime) else now
    if data["became_aware_at"] is None:
        data["became_aware_at"] = data["detected_at"]
    refuse_future(
        now,
        occurred_at=occurred_at,
        detected_at=data["detected_at"],
        became_aware_at=data["became_aware_at"],
    )
    require_model_of_system(data.get("model"), system)

    incident = Incident(**data)
    incident.team = system.owning_team
    incident.reporter = actor
    incident.status = choices.IncidentStatus.REPORTED
    if incident.severity in SEVERITIES:
        incident.respond_by, incident.resolve_by = sla_deadlines(incident.severity, now)
    validate_incident(incident)

    # No look-up of the external id first: the unique constraint answers "already reported" in
    # the INSERT itself, also for a concurrent report, and rolling this block back hands the
    # report's reference number back to the sequence together with the failed row.
    try:
        with transaction.atomic():
            incident.reference = _allocate_reference(now)
            incident.save()
            if incident.severity == choices.Severity.SEV1:
                notify_incident(kind=SEV1, incident=incident, reason="Reported as SEV1.")
    except IntegrityError as exc:
        if not _is_external_id_clash(exc):
            raise
        return _existing_external(incident.team_id, incident.source, incident.external_id), False
    return incident, True


# --- Changes ------------------------------------------------------------------------------------


@transaction.atomic
def update_incident(*, actor: User, incident: Incident, changes: Mapping[str, object]) -> Incident:
    """Change what is known about an incident: title, description, classification, model, severity.

    A severity change is written to the timeline and moves the SLA deadlines (still counted from
    when the incident was reported); raising it to SEV1 writes its notification and makes a review
    of the system due, in the same transaction.
    """
    require_incident_permission(actor, "change_incident")
    unknown = sorted(set(changes).difference(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    require_incident_scope(actor, incident)
    incident = lock_incident(incident)
    before = incident.severity
    for field, value in changes.items():
        setattr(incident, field, value)
    if "model" in changes:
        require_model_of_system(incident.model, incident.system)
    severity_changed = incident.severity != before
    if severity_changed and incident.severity in SEVERITIES:
        incident.respond_by, incident.resolve_by = sla_deadlines(incident.severity, incident.created_at)
    validate_incident(incident)
    incident.save()
    if severity_changed:
        add_timeline_entry(
            actor=actor,
            incident=incident,
            kind=choices.TimelineKind.SEVERITY_CHANGE,
            data={"from": before, "to": incident.severity},
        )
        if incident.severity == choices.Severity.SEV1:
            notify_incident(kind=SEV1, incident=incident, reason=f"Severity raised from {before} to SEV1.")
    return incident


@transaction.atomic
def add_comment(*, actor: User, incident: Incident, body: str) -> TimelineEntry:
    """Add a comment to the incident's timeline."""
    require_incident_permission(actor, "add_timelineentry")
    require_incident_scope(actor, incident)
    if not (body or "").strip():
        raise ValidationError({"body": "A comment needs some text."})
    return add_timeline_entry(actor=actor, incident=incident, kind=choices.TimelineKind.COMMENT, body=body)
