"""SLA clocks by severity: defaults, settings overrides and the deadlines they give; table-tested.

Where an incident stands against its deadlines is tested in ``test_clock_rules``."""

import math
from datetime import datetime, timedelta

import pytest

from incidents.services.clocks import DEFAULT_SLAS, Severity, Sla, sla_for, sla_table
from incidents.services.incidents import sla_deadlines
from tests.incidents.clock_helpers import BRUSSELS, D, ForeignSeverity, H, bxl, utc

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


REPORTED = bxl(2025, 6, 10, 9, 0)


def test_it_sets_the_deadlines_from_the_time_of_reporting():
    assert sla_deadlines("SEV2", REPORTED) == (bxl(2025, 6, 10, 13, 0), bxl(2025, 6, 13, 9, 0))


def test_it_counts_sla_periods_in_real_hours_across_a_dst_change():
    reported = bxl(2025, 3, 29, 12, 0)  # Saturday, winter time; clocks go forward that night
    respond_by, resolve_by = sla_deadlines("SEV3", reported)
    assert respond_by == utc(2025, 3, 30, 11, 0)
    assert respond_by.astimezone(BRUSSELS).replace(tzinfo=None) == datetime(2025, 3, 30, 13, 0), (
        "24 real hours, 13:00 summer time"
    )
    assert resolve_by.astimezone(BRUSSELS).replace(tzinfo=None) == datetime(2025, 4, 12, 13, 0)


def test_it_applies_the_overrides_setting_to_the_deadlines(settings):
    settings.VERITY_INCIDENT_SLAS = {"SEV1": {"respond_hours": 2, "resolve_hours": 8}}
    assert sla_deadlines("SEV1", REPORTED) == (REPORTED + 2 * H, REPORTED + 8 * H)
    assert sla_deadlines("SEV2", REPORTED) == (REPORTED + 4 * H, REPORTED + 3 * D)
