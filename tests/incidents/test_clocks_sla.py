"""SLA clocks by severity: defaults, settings overrides and breaches; pure functions, table-tested."""

import math
from datetime import datetime, timedelta

import pytest

from incidents.services.clocks import DEFAULT_SLAS, Severity, Sla, SlaState, sla_for, sla_state, sla_table
from tests.incidents.clock_helpers import BRUSSELS, US, D, ForeignSeverity, H, bxl, utc

# --------------------------------------------------------------------------------------------
# SLAs by severity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "severity,respond,resolve",
    [
        (Severity.SEV1, H, 24 * H),
        (Severity.SEV2, 4 * H, 3 * D),
        (Severity.SEV3, 24 * H, 14 * D),
        (Severity.SEV4, 3 * D, 30 * D),
        ("SEV1", H, 24 * H),
        (ForeignSeverity.CRITICAL, H, 24 * H),
    ],
)
def test_it_has_default_slas(severity, respond, resolve):
    assert sla_for(severity) == Sla(respond_within=respond, resolve_within=resolve)
    assert sla_for(severity, {}) == sla_for(severity)


def test_it_keeps_the_defaults_read_only():
    with pytest.raises(TypeError):
        DEFAULT_SLAS[Severity.SEV1] = Sla(respond_within=H, resolve_within=H)
    table = sla_table()
    table[Severity.SEV1] = Sla(respond_within=2 * H, resolve_within=2 * H)
    assert sla_for(Severity.SEV1).respond_within == H


@pytest.mark.parametrize(
    "overrides,severity,expected",
    [
        ({"SEV1": {"respond_hours": 2, "resolve_hours": 48}}, "SEV1", Sla(2 * H, 48 * H)),
        ({"SEV1": {"respond_hours": 0.5}}, "SEV1", Sla(30 * timedelta(minutes=1), 24 * H)),
        ({"SEV2": {"resolve_hours": 120}}, "SEV2", Sla(4 * H, 5 * D)),
        ({"SEV2": {}}, "SEV2", Sla(4 * H, 3 * D)),
        ({"SEV2": {"resolve_hours": 120}}, "SEV3", Sla(24 * H, 14 * D)),
        ({Severity.SEV4: {"respond_hours": 8, "resolve_hours": 8}}, "SEV4", Sla(8 * H, 8 * H)),
        ({"SEV3": {"respond_hours": 8}, "SEV4": {"respond_hours": 24}}, "SEV4", Sla(24 * H, 30 * D)),
    ],
)
def test_it_applies_overrides_from_settings(overrides, severity, expected):
    assert sla_for(severity, overrides) == expected
    assert sla_table(overrides)[Severity(severity)] == expected


BAD_CONFIG = [
    # (id, overrides, message)
    ("not a dict", [("SEV1", {})], r"VERITY_INCIDENT_SLAS must be a dict keyed by severity .*got list"),
    (
        "unknown severity",
        {"SEV5": {"respond_hours": 1}},
        r"\['SEV5'\]: unknown severity; expected one of: SEV1",
    ),
    ("lower-case severity", {"sev1": {"respond_hours": 1}}, r"\['sev1'\]: unknown severity"),
    (
        "entry not a dict",
        {"SEV1": 4},
        r"\['SEV1'\] must be a dict with respond_hours and/or resolve_hours, got int",
    ),
    (
        "unknown key",
        {"SEV1": {"respond_minutes": 5}},
        r"unknown key\(s\) respond_minutes; allowed: respond_hours",
    ),
    (
        "zero hours",
        {"SEV1": {"respond_hours": 0}},
        r"\['SEV1'\]\['respond_hours'\] must be a positive number",
    ),
    (
        "negative hours",
        {"SEV2": {"resolve_hours": -1}},
        r"\['SEV2'\]\['resolve_hours'\] must be a positive .*-1",
    ),
    ("string hours", {"SEV1": {"respond_hours": "4"}}, r"must be a positive number of hours, got '4'"),
    ("boolean hours", {"SEV1": {"respond_hours": True}}, r"must be a positive number of hours, got True"),
    ("None hours", {"SEV1": {"respond_hours": None}}, r"got None"),
    ("NaN hours", {"SEV1": {"respond_hours": math.nan}}, r"got nan"),
    ("infinite hours", {"SEV1": {"resolve_hours": math.inf}}, r"got inf"),
    (
        "respond beyond the default resolve",
        {"SEV1": {"respond_hours": 48}},
        r"\['SEV1'\]: the respond period \(48 h\) must not exceed the resolve period \(24 h\)",
    ),
    (
        "respond beyond resolve",
        {"SEV3": {"respond_hours": 10, "resolve_hours": 9.5}},
        r"respond period \(10 h\) must not exceed the resolve period \(9.5 h\)",
    ),
]


@pytest.mark.parametrize("overrides,message", [c[1:] for c in BAD_CONFIG], ids=[c[0] for c in BAD_CONFIG])
def test_it_rejects_bad_sla_config_with_a_clear_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        sla_table(overrides)
    with pytest.raises(ValueError, match=message):
        sla_for(Severity.SEV4, overrides)


def test_it_validates_the_whole_config_whichever_severity_is_asked_for():
    with pytest.raises(ValueError, match=r"\['SEV4'\]\['resolve_hours'\]"):
        sla_for("SEV1", {"SEV4": {"resolve_hours": 0}})


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: sla_for("SEV9"), "not a valid Severity"),
        (lambda: Sla(respond_within=timedelta(0), resolve_within=H), "SLA periods must be positive"),
        (
            lambda: Sla(respond_within=2 * H, resolve_within=H),
            "respond_within must not exceed resolve_within",
        ),
    ],
)
def test_it_rejects_unknown_severities_and_impossible_slas(call, message):
    with pytest.raises(ValueError, match=message):
        call()


REPORTED = bxl(2025, 6, 10, 9, 0)  # SEV2: respond within 4 h, resolve within 72 h

BREACH_CASES = [
    # (id, responded_at, resolved_at, now, respond_breached, resolve_breached)
    ("open, early", None, None, REPORTED + H, False, False),
    ("open, at the respond limit", None, None, REPORTED + 4 * H, False, False),
    ("open, just past the respond limit", None, None, REPORTED + 4 * H + US, True, False),
    ("responded on time, open past the resolve limit", REPORTED + 3 * H, None, REPORTED + 5 * D, False, True),
    ("responded on time, open at the resolve limit", REPORTED + 3 * H, None, REPORTED + 72 * H, False, False),
    ("responded late", REPORTED + 5 * H, None, REPORTED + 6 * H, True, False),
    ("resolved exactly at the limit", REPORTED + H, REPORTED + 72 * H, REPORTED + 100 * D, False, False),
    ("resolved late", REPORTED + H, REPORTED + 73 * H, REPORTED + 100 * D, False, True),
    (
        "resolved quickly without a recorded response",
        None,
        REPORTED + 2 * H,
        REPORTED + 100 * D,
        False,
        False,
    ),
    (
        "resolved after the respond limit without a response",
        None,
        REPORTED + 5 * H,
        REPORTED + 5 * H,
        True,
        False,
    ),
    ("late response, on-time resolution", REPORTED + 5 * H, REPORTED + 6 * H, REPORTED + 7 * H, True, False),
    ("times given in UTC", utc(2025, 6, 10, 11, 0), None, utc(2025, 6, 13, 7, 0, 0, 1), False, True),
]


@pytest.mark.parametrize(
    "responded_at,resolved_at,now,respond_breached,resolve_breached",
    [c[1:] for c in BREACH_CASES],
    ids=[c[0] for c in BREACH_CASES],
)
def test_it_flags_sla_breaches(responded_at, resolved_at, now, respond_breached, resolve_breached):
    state = sla_state(
        severity=Severity.SEV2,
        reported_at=REPORTED,
        responded_at=responded_at,
        resolved_at=resolved_at,
        now=now,
    )
    assert state == SlaState(
        respond_by=bxl(2025, 6, 10, 13, 0),
        resolve_by=bxl(2025, 6, 13, 9, 0),
        respond_breached=respond_breached,
        resolve_breached=resolve_breached,
    )


def test_it_counts_sla_periods_in_real_hours_across_a_dst_change():
    reported = bxl(2025, 3, 29, 12, 0)  # Saturday, winter time; clocks go forward that night
    state = sla_state(
        severity="SEV3", reported_at=reported, responded_at=None, resolved_at=None, now=reported
    )
    assert state.respond_by == utc(2025, 3, 30, 11, 0)
    assert state.respond_by.tzinfo == BRUSSELS
    assert state.respond_by.replace(tzinfo=None) == datetime(2025, 3, 30, 13, 0), (
        "24 real hours, 13:00 summer time"
    )
    assert state.resolve_by.replace(tzinfo=None) == datetime(2025, 4, 12, 13, 0)


def test_it_applies_overrides_to_the_sla_state():
    overrides = {"SEV1": {"respond_hours": 2, "resolve_hours": 8}}
    now = REPORTED + 90 * timedelta(minutes=1)
    state = sla_state(
        severity="SEV1",
        reported_at=REPORTED,
        responded_at=None,
        resolved_at=None,
        now=now,
        overrides=overrides,
    )
    assert (state.respond_by, state.resolve_by) == (REPORTED + 2 * H, REPORTED + 8 * H)
    assert not state.respond_breached
    default = sla_state(severity="SEV1", reported_at=REPORTED, responded_at=None, resolved_at=None, now=now)
    assert default.respond_breached


@pytest.mark.parametrize(
    "field,value",
    [
        ("reported_at", datetime(2025, 6, 10, 9, 0)),
        ("responded_at", datetime(2025, 6, 10, 10, 0)),
        ("resolved_at", datetime(2025, 6, 10, 11, 0)),
        ("now", datetime(2025, 6, 10, 12, 0)),
    ],
)
def test_it_rejects_naive_datetimes_in_the_sla_state(field, value):
    arguments = {"severity": "SEV2", "reported_at": REPORTED, "responded_at": None, "resolved_at": None}
    arguments |= {"now": REPORTED + H, field: value}
    with pytest.raises(ValueError, match=f"{field} must be timezone-aware"):
        sla_state(**arguments)
