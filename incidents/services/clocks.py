"""Regulatory and service-level clocks of an incident: pure functions, no database.

Two clocks run on an incident:

* the EU AI Act reporting deadline for serious incidents (Regulation (EU) 2024/1689, Art. 73),
  computed by :func:`art73_deadline`;
* the internal response and resolution SLAs by severity, computed by :func:`sla_for`.

These functions set the deadlines. Where an incident stands against them (on time, late, overdue,
due soon) is decided in one place only, by the query rules of ``incidents.clock_rules``.

Everything here works on timezone-aware datetimes only; a naive datetime raises ``ValueError``.
All comparisons and arithmetic on instants are done in UTC, so daylight-saving changes never
stretch or shrink a period. The enumerations are plain ``StrEnum`` classes: their members are
strings, and every function also accepts the bare string values (or any other ``str`` enum with
the same values, such as a Django ``TextChoices``).

How Art. 73 periods are counted
-------------------------------
Art. 73 expresses its limits in days "after the provider or, where applicable, the deployer,
becomes aware". Regulation (EEC, Euratom) No 1182/71 (periods, dates and time limits) gives the
EU's general rule for such periods, and we apply it rather than counting 24-hour blocks:

* Art. 3(1): the day during which the event occurs is not counted;
* Art. 3(2)(b): a period expressed in days starts at the beginning of the first hour of the first
  day and ends with the expiry of the last hour of the last day.

So for an N-day period, ``due_at`` is the end (23:59:59.999999) of the Nth calendar day after the
day of awareness, where days are those of a configurable timezone (Europe/Brussels unless
told otherwise). Awareness on Monday 23:30 gives a two-day deadline of Wednesday 23:59:59.999999;
awareness on Tuesday 00:30 gives Thursday.

Deliberately **not** applied: Art. 3(4) and 3(5) of Regulation 1182/71, which push a period
ending on a Saturday, Sunday or public holiday to the next working day and make any period of two
days or more include two working days. Public holidays differ by Member State, and a register
that shows the earlier date can never make a provider late. ``due_at`` is therefore the latest
safe moment without relying on the extension, never later than the legal limit.

Art. 73 also says the report is due *immediately* ("immediately, and not later than two days",
Art. 73(3)); the computed ``due_at`` is the outer limit, not a target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidents.choices import SeriousIncidentGround, Severity

__all__ = [
    "DEFAULT_SLAS",
    "EU_DEADLINE_TIMEZONE",
    "SLA_OVERRIDE_KEYS",
    "SLA_SETTING",
    "ReportingDeadline",
    "SeriousIncidentGround",
    "Severity",
    "Sla",
    "art73_deadline",
    "sla_for",
    "sla_table",
]

EU_DEADLINE_TIMEZONE = "Europe/Brussels"
"""Default timezone whose calendar days count for Art. 73 periods."""

SLA_SETTING = "VERITY_INCIDENT_SLAS"
"""Name of the Django setting holding SLA overrides; used in error messages."""

SLA_OVERRIDE_KEYS = ("respond_hours", "resolve_hours")
"""Keys allowed in each severity's entry of the SLA overrides."""


# --------------------------------------------------------------------------------------------
# EU AI Act, Art. 73: reporting of serious incidents
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportingDeadline:
    """The Art. 73 deadline that applies to a serious incident.

    ``due_at`` is the last instant at which the report is still on time (aware, in the timezone
    used for counting days); ``days`` the length of the period; ``paragraph`` the provision that
    sets it (e.g. ``"Art. 73(3)"``); ``reason`` a short sentence saying why it applies.
    """

    due_at: datetime
    days: int
    paragraph: str
    reason: str

    def time_left(self, now: datetime) -> timedelta:
        """Real time from ``now`` until ``due_at``; negative once the deadline has passed."""
        _require_aware(now, "now")
        return self.due_at.astimezone(UTC) - now.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Art73Rule:
    days: int
    paragraph: str
    instruction: str


# Art. 73(3): "in the event of a widespread infringement or a serious incident as defined in
# Article 3, point (49)(b), the report ... shall be provided immediately, and not later than two
# days after the provider or, where applicable, the deployer becomes aware of that incident."
_ART73_3 = _Art73Rule(2, "Art. 73(3)", "report immediately, and not later than 2 days after becoming aware")
# Art. 73(4): "in the event of the death of a person, the report shall be provided immediately after
# the provider or the deployer has established, or as soon as it suspects, a causal relationship
# ... but not later than 10 days after the date on which the provider or, where applicable, the
# deployer becomes aware of the serious incident."
_ART73_4 = _Art73Rule(
    10,
    "Art. 73(4)",
    "report immediately once a causal relationship is established or suspected, and not later than"
    " 10 days after becoming aware",
)
# Art. 73(2): "immediately after the provider has established a causal link between the AI system
# and the serious incident or the reasonable likelihood of such a link, and, in any event, not
# later than 15 days after the provider or, where applicable, the deployer, becomes aware".
_ART73_2 = _Art73Rule(
    15,
    "Art. 73(2)",
    "report immediately once a causal link (or its reasonable likelihood) is established, and not"
    " later than 15 days after becoming aware",
)

_RULE_FOR_GROUND: Mapping[SeriousIncidentGround, _Art73Rule] = {
    SeriousIncidentGround.DEATH: _ART73_4,
    SeriousIncidentGround.HEALTH: _ART73_2,
    SeriousIncidentGround.CRITICAL_INFRASTRUCTURE: _ART73_3,
    SeriousIncidentGround.FUNDAMENTAL_RIGHTS: _ART73_2,
    SeriousIncidentGround.PROPERTY_ENVIRONMENT: _ART73_2,
}

_TRIGGER_TEXT: Mapping[SeriousIncidentGround, str] = {
    SeriousIncidentGround.DEATH: "Death of a person",
    SeriousIncidentGround.HEALTH: "Serious harm to a person's health",
    SeriousIncidentGround.CRITICAL_INFRASTRUCTURE: (
        "Serious and irreversible disruption of critical infrastructure"
    ),
    SeriousIncidentGround.FUNDAMENTAL_RIGHTS: "Infringement of fundamental-rights obligations",
    SeriousIncidentGround.PROPERTY_ENVIRONMENT: "Serious harm to property or the environment",
}
_WIDESPREAD_TEXT = "Widespread infringement"

GroundInput = SeriousIncidentGround | str | Iterable[SeriousIncidentGround | str] | None


def art73_deadline(
    *,
    ground: GroundInput,
    widespread: bool,
    became_aware_at: datetime,
    tz: str | tzinfo = EU_DEADLINE_TIMEZONE,
) -> ReportingDeadline:
    """The Art. 73 deadline for reporting a serious incident to the market surveillance authority.

    ``ground`` is the Art. 3(49) ground (a :class:`SeriousIncidentGround` or its value), several
    grounds as an iterable, or ``None``/``""`` when only ``widespread`` applies. ``widespread``
    says whether the incident is (or involves) a widespread infringement in the sense of
    Art. 3(61). ``became_aware_at`` is when the provider (or, where applicable, the deployer)
    became aware of the incident; ``tz`` is the timezone whose calendar days are counted.

    Periods, from Art. 73 of Regulation (EU) 2024/1689:

    * widespread infringement, or ground (b) critical infrastructure: "immediately, and not later
      than two days after ... becomes aware" (Art. 73(3));
    * death of a person: "immediately ... but not later than 10 days after the date on which the
      provider ... becomes aware" (Art. 73(4));
    * any other serious incident: "immediately ... and, in any event, not later than 15 days
      after ... becomes aware" (Art. 73(2)).

    When several apply the earliest deadline wins, e.g. a death that is also a widespread
    infringement must be reported within 2 days under Art. 73(3).

    Days are calendar days per Regulation (EEC, Euratom) No 1182/71: the day of awareness is not
    counted, and the period ends with the expiry of the last day, so ``due_at`` is 23:59:59.999999
    of the Nth day after the day of awareness, in ``tz``. No weekend or holiday extension is
    applied (see the module docstring). "Immediately" is the real obligation; ``due_at`` is only
    the outer limit.

    Raises ``ValueError`` for a naive ``became_aware_at``, an unknown ground or timezone, or
    when there is neither a ground nor a widespread infringement (no Art. 73 duty then).
    """
    _require_aware(became_aware_at, "became_aware_at")
    zone = _zone(tz)
    grounds = _grounds(ground)

    triggers: list[tuple[_Art73Rule, str]] = []
    if widespread:
        triggers.append((_ART73_3, _WIDESPREAD_TEXT))
    triggers.extend((_RULE_FOR_GROUND[g], _TRIGGER_TEXT[g]) for g in grounds)
    if not triggers:
        raise ValueError(
            "Art. 73 applies to serious incidents: give an Art. 3(49) ground"
            " or flag a widespread infringement"
        )

    rule = min((r for r, _ in triggers), key=lambda r: r.days)
    because = " and ".join(dict.fromkeys(text for r, text in triggers if r is rule))
    last_day = became_aware_at.astimezone(zone).date() + timedelta(days=rule.days)
    return ReportingDeadline(
        due_at=_end_of_day(last_day, zone),
        days=rule.days,
        paragraph=rule.paragraph,
        reason=f"{because}: {rule.instruction} ({rule.paragraph}).",
    )


def _grounds(ground: GroundInput) -> list[SeriousIncidentGround]:
    if ground is None or ground == "":
        return []
    if isinstance(ground, str):  # a single value; str enums are str too
        return [SeriousIncidentGround.parse(ground)]
    return [SeriousIncidentGround.parse(g) for g in ground if g != ""]


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown timezone {tz!r}") from exc


def _end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last microsecond of ``day`` in ``zone``, robust to DST changes at midnight."""
    # Start of the next day, resolved to UTC (a non-existent local midnight resolves to the
    # first instant after the gap), minus one microsecond of real time.
    next_start = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return (next_start - timedelta(microseconds=1)).astimezone(zone)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


# --------------------------------------------------------------------------------------------
# Internal severity SLAs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sla:
    """How soon an incident must be responded to and resolved, counted from when it was reported."""

    respond_within: timedelta
    resolve_within: timedelta

    def __post_init__(self) -> None:
        if self.respond_within <= timedelta(0) or self.resolve_within <= timedelta(0):
            raise ValueError(f"SLA periods must be positive, got {self!r}")
        if self.respond_within > self.resolve_within:
            raise ValueError(f"respond_within must not exceed resolve_within, got {self!r}")


DEFAULT_SLAS: Mapping[Severity, Sla] = MappingProxyType(
    {
        Severity.SEV1: Sla(respond_within=timedelta(hours=1), resolve_within=timedelta(hours=24)),
        Severity.SEV2: Sla(respond_within=timedelta(hours=4), resolve_within=timedelta(days=3)),
        # "One business day" is taken as 24 hours of elapsed time: no working-hours calendar.
        Severity.SEV3: Sla(respond_within=timedelta(hours=24), resolve_within=timedelta(days=14)),
        Severity.SEV4: Sla(respond_within=timedelta(days=3), resolve_within=timedelta(days=30)),
    }
)
"""Built-in SLAs, used for every severity the overrides do not mention."""


def sla_table(overrides: Mapping[str, Any] | None = None) -> dict[Severity, Sla]:
    """The SLA of every severity: :data:`DEFAULT_SLAS` with ``overrides`` applied, validated.

    ``overrides`` is the ``VERITY_INCIDENT_SLAS`` setting: a mapping from severity value
    (``"SEV1"`` … ``"SEV4"``) to a mapping with ``respond_hours`` and/or ``resolve_hours``
    (positive int or float), e.g. ``{"SEV1": {"respond_hours": 1, "resolve_hours": 24}}``.
    A key left out keeps its default. The whole mapping is checked even for severities not asked
    about, so a system check can call this once at start-up.

    Raises ``ValueError`` with the offending entry named when the configuration is invalid,
    including when a respond period would exceed the resolve period.
    """
    table = dict(DEFAULT_SLAS)
    if overrides is None:
        return table
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"{SLA_SETTING} must be a dict keyed by severity (SEV1–SEV4), got {type(overrides).__name__}"
        )
    for key, entry in overrides.items():
        where = f"{SLA_SETTING}[{key!r}]"
        try:
            severity = Severity.parse(key)
        except ValueError:
            allowed = ", ".join(s.value for s in Severity)
            raise ValueError(f"{where}: unknown severity; expected one of: {allowed}") from None
        if not isinstance(entry, Mapping):
            keys = " and/or ".join(SLA_OVERRIDE_KEYS)
            raise ValueError(f"{where} must be a dict with {keys}, got {type(entry).__name__}")
        unknown = sorted(str(k) for k in entry if k not in SLA_OVERRIDE_KEYS)
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SLA_OVERRIDE_KEYS)}"
            )
        default = table[severity]
        respond = _hours(entry, "respond_hours", where, default.respond_within)
        resolve = _hours(entry, "resolve_hours", where, default.resolve_within)
        if respond > resolve:
            raise ValueError(
                f"{where}: the respond period ({_fmt_hours(respond)}) must not exceed the resolve period"
                f" ({_fmt_hours(resolve)})"
            )
        table[severity] = Sla(respond_within=respond, resolve_within=resolve)
    return table


def sla_for(severity: Severity | str, overrides: Mapping[str, Any] | None = None) -> Sla:
    """The SLA for ``severity`` (a :class:`Severity` or its value), honouring ``overrides``.

    ``overrides`` is ``settings.VERITY_INCIDENT_SLAS`` (see :func:`sla_table`, which validates
    it). Raises ``ValueError`` for an unknown severity or invalid overrides.
    """
    return sla_table(overrides)[Severity.parse(severity)]


def _hours(entry: Mapping[str, Any], key: str, where: str, default: timedelta) -> timedelta:
    if key not in entry:
        return default
    value = entry[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{where}[{key!r}] must be a positive number of hours, got {value!r}")
    return timedelta(hours=value)


def _fmt_hours(period: timedelta) -> str:
    return f"{period / timedelta(hours=1):g} h"
