"""EU AI Act Art. 73 reporting clocks and the ground/severity enumerations: pure functions, table-tested."""

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.services.clocks import ReportingDeadline, Severity, art73_deadline
from tests.incidents.clock_helpers import (
    BRUSSELS,
    US,
    ForeignGround,
    ForeignSeverity,
    G,
    H,
    bxl,
    end_of,
    utc,
)

# --------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------


def test_it_defines_the_art_3_49_grounds_with_labels_citing_the_point():
    assert [g.value for g in G] == [
        "death",
        "health",
        "critical_infrastructure",
        "fundamental_rights",
        "property_environment",
    ]
    points = {g: g.label.rsplit("(Art. 3(49)", 1)[1] for g in G}
    assert points == {
        G.DEATH: "(a))",
        G.HEALTH: "(a))",
        G.CRITICAL_INFRASTRUCTURE: "(b))",
        G.FUNDAMENTAL_RIGHTS: "(c))",
        G.PROPERTY_ENVIRONMENT: "(d))",
    }
    assert G.choices()[0] == ("death", "Death of a person (Art. 3(49)(a))")
    assert max(len(g.value) for g in G) <= 30


def test_it_defines_four_severities_with_labels_and_meanings():
    assert [s.value for s in Severity] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert [s.label for s in Severity] == ["SEV1: critical", "SEV2: major", "SEV3: moderate", "SEV4: minor"]
    assert all(s.description for s in Severity)
    assert "affecting people now" in Severity.SEV1.description
    assert Severity.SEV1 == "SEV1" and str(Severity.SEV1) == "SEV1"


@pytest.mark.parametrize(
    "enum,value,expected",
    [
        (G, "death", G.DEATH),
        (G, G.HEALTH, G.HEALTH),
        (G, ForeignGround.DEATH_OF_A_PERSON, G.DEATH),
        (Severity, "SEV2", Severity.SEV2),
        (Severity, ForeignSeverity.CRITICAL, Severity.SEV1),
    ],
)
def test_it_parses_values_members_and_other_str_enums(enum, value, expected):
    assert enum.parse(value) is expected


@pytest.mark.parametrize(
    "enum,value", [(G, "murder"), (G, None), (G, 3), (Severity, "sev1"), (Severity, "SEV5")]
)
def test_it_rejects_unknown_values_naming_the_allowed_ones(enum, value):
    with pytest.raises(ValueError, match="expected one of: .*"):
        enum.parse(value)


# --------------------------------------------------------------------------------------------
# Art. 73: which period applies
# --------------------------------------------------------------------------------------------

AWARE = bxl(2025, 6, 10, 14, 0)  # a Tuesday in summer time

GROUND_CASES = [
    # (ground, widespread, days, paragraph)
    (G.DEATH, False, 10, "Art. 73(4)"),
    (G.HEALTH, False, 15, "Art. 73(2)"),
    (G.CRITICAL_INFRASTRUCTURE, False, 2, "Art. 73(3)"),
    (G.FUNDAMENTAL_RIGHTS, False, 15, "Art. 73(2)"),
    (G.PROPERTY_ENVIRONMENT, False, 15, "Art. 73(2)"),
    (G.DEATH, True, 2, "Art. 73(3)"),
    (G.HEALTH, True, 2, "Art. 73(3)"),
    (G.CRITICAL_INFRASTRUCTURE, True, 2, "Art. 73(3)"),
    (G.FUNDAMENTAL_RIGHTS, True, 2, "Art. 73(3)"),
    (G.PROPERTY_ENVIRONMENT, True, 2, "Art. 73(3)"),
    (None, True, 2, "Art. 73(3)"),
    ("", True, 2, "Art. 73(3)"),
    ("death", False, 10, "Art. 73(4)"),
    ("fundamental_rights", False, 15, "Art. 73(2)"),
    (ForeignGround.INFRA, False, 2, "Art. 73(3)"),
    ([G.DEATH, G.HEALTH], False, 10, "Art. 73(4)"),
    ([G.HEALTH, G.CRITICAL_INFRASTRUCTURE], False, 2, "Art. 73(3)"),
    (["property_environment", "fundamental_rights"], False, 15, "Art. 73(2)"),
    ([G.DEATH, G.FUNDAMENTAL_RIGHTS], True, 2, "Art. 73(3)"),
]


@pytest.mark.parametrize("ground,widespread,days,paragraph", GROUND_CASES)
def test_it_applies_the_strictest_art_73_period(ground, widespread, days, paragraph):
    deadline = art73_deadline(ground=ground, widespread=widespread, became_aware_at=AWARE)
    assert (deadline.days, deadline.paragraph) == (days, paragraph)
    assert deadline.due_at == end_of(2025, 6, 10 + days)
    assert deadline.reason.endswith(f"({paragraph}).")
    assert "immediately" in deadline.reason


@pytest.mark.parametrize(
    "ground,widespread,starts_with",
    [
        (G.DEATH, False, "Death of a person: report immediately"),
        (G.HEALTH, False, "Serious harm to a person's health: report immediately"),
        (G.DEATH, True, "Widespread infringement: report immediately, and not later than 2 days"),
        (
            G.CRITICAL_INFRASTRUCTURE,
            True,
            "Widespread infringement and Serious and irreversible disruption of critical infrastructure:",
        ),
        ([G.HEALTH, G.HEALTH], False, "Serious harm to a person's health: "),
    ],
)
def test_it_says_why_the_period_applies(ground, widespread, starts_with):
    deadline = art73_deadline(ground=ground, widespread=widespread, became_aware_at=AWARE)
    assert deadline.reason.startswith(starts_with)


# --------------------------------------------------------------------------------------------
# Art. 73: counting days (Regulation 1182/71)
# --------------------------------------------------------------------------------------------

CALENDAR_CASES = [
    # (id, became_aware_at, ground, expected due_at in Brussels, same instant in UTC)
    (
        "evening, last second of the day",
        bxl(2025, 6, 10, 23, 59, 59),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 6, 12),
        utc(2025, 6, 12, 21, 59, 59, 999999),
    ),
    (
        "evening in UTC is already the next day in Brussels",
        utc(2025, 6, 10, 22, 30),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 6, 13),
        utc(2025, 6, 13, 21, 59, 59, 999999),
    ),
    (
        "evening in UTC, still the same day in Brussels",
        utc(2025, 6, 10, 21, 59, 59),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 6, 12),
        utc(2025, 6, 12, 21, 59, 59, 999999),
    ),
    (
        "first microsecond of the day",
        bxl(2025, 6, 11, 0, 0),
        G.DEATH,
        end_of(2025, 6, 21),
        utc(2025, 6, 21, 21, 59, 59, 999999),
    ),
    (
        "spring DST: aware the Saturday evening before",
        bxl(2025, 3, 29, 23, 30),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 3, 31),
        utc(2025, 3, 31, 21, 59, 59, 999999),
    ),
    (
        "spring DST: deadline on the 23-hour day",
        bxl(2025, 3, 28, 10, 0),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 3, 30),
        utc(2025, 3, 30, 21, 59, 59, 999999),
    ),
    (
        "spring DST: aware on the day itself",
        bxl(2025, 3, 30, 3, 30),
        G.DEATH,
        end_of(2025, 4, 9),
        utc(2025, 4, 9, 21, 59, 59, 999999),
    ),
    (
        "autumn DST: deadline on the 25-hour day",
        bxl(2025, 10, 24, 12, 0),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 10, 26),
        utc(2025, 10, 26, 22, 59, 59, 999999),
    ),
    (
        "autumn DST: aware in the repeated hour (second pass)",
        bxl(2025, 10, 26, 2, 30, fold=1),
        G.DEATH,
        end_of(2025, 11, 5),
        utc(2025, 11, 5, 22, 59, 59, 999999),
    ),
    (
        "autumn DST: aware in the repeated hour, given in UTC",
        utc(2025, 10, 26, 0, 30),
        G.DEATH,
        end_of(2025, 11, 5),
        utc(2025, 11, 5, 22, 59, 59, 999999),
    ),
    (
        "autumn DST: summer-time awareness, winter-time deadline",
        bxl(2025, 10, 20, 9, 0),
        G.HEALTH,
        end_of(2025, 11, 4),
        utc(2025, 11, 4, 22, 59, 59, 999999),
    ),
    (
        "year end: deadline on New Year's Day, not extended",
        bxl(2025, 12, 30, 18, 0),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2026, 1, 1),
        utc(2026, 1, 1, 22, 59, 59, 999999),
    ),
    (
        "year end: aware on New Year's Eve",
        bxl(2025, 12, 31, 23, 30),
        G.DEATH,
        end_of(2026, 1, 10),
        utc(2026, 1, 10, 22, 59, 59, 999999),
    ),
    (
        "year end: New Year's Eve in UTC is New Year's Day in Brussels",
        utc(2025, 12, 31, 23, 30),
        G.HEALTH,
        end_of(2026, 1, 16),
        utc(2026, 1, 16, 22, 59, 59, 999999),
    ),
    (
        "year end: 15 days across it",
        bxl(2025, 12, 20, 8, 0),
        G.PROPERTY_ENVIRONMENT,
        end_of(2026, 1, 4),
        utc(2026, 1, 4, 22, 59, 59, 999999),
    ),
    (
        "leap day",
        bxl(2028, 2, 27, 12, 0),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2028, 2, 29),
        utc(2028, 2, 29, 22, 59, 59, 999999),
    ),
    (
        "weekend: a deadline on Sunday stays on Sunday",
        bxl(2025, 6, 13, 9, 0),
        G.CRITICAL_INFRASTRUCTURE,
        end_of(2025, 6, 15),
        utc(2025, 6, 15, 21, 59, 59, 999999),
    ),
]


@pytest.mark.parametrize(
    "became_aware_at,ground,due_local,due_utc",
    [case[1:] for case in CALENDAR_CASES],
    ids=[case[0] for case in CALENDAR_CASES],
)
def test_it_ends_the_period_with_the_last_day_in_brussels(became_aware_at, ground, due_local, due_utc):
    deadline = art73_deadline(ground=ground, widespread=False, became_aware_at=became_aware_at)
    assert deadline.due_at == due_local == due_utc
    assert deadline.due_at.tzinfo == BRUSSELS
    local = deadline.due_at.replace(tzinfo=None)
    assert local == due_local.replace(tzinfo=None), "reported as Brussels wall-clock time"
    next_start = (deadline.due_at.astimezone(UTC) + US).astimezone(BRUSSELS)
    assert next_start.time().isoformat() == "00:00:00", "one microsecond later the next day starts"


@pytest.mark.parametrize(
    "tz,became_aware_at,due_utc",
    [
        ("UTC", utc(2025, 6, 10, 22, 30), utc(2025, 6, 12, 23, 59, 59, 999999)),
        (UTC, utc(2025, 6, 10, 22, 30), utc(2025, 6, 12, 23, 59, 59, 999999)),
        ("Europe/Lisbon", utc(2025, 6, 10, 22, 30), utc(2025, 6, 12, 22, 59, 59, 999999)),
        (ZoneInfo("Europe/Helsinki"), utc(2025, 6, 10, 21, 30), utc(2025, 6, 13, 20, 59, 59, 999999)),
        # Chile moves its clocks at midnight: 2024-09-08 00:00 does not exist, the day starts at 01:00.
        ("America/Santiago", utc(2024, 9, 5, 16, 0), utc(2024, 9, 8, 3, 59, 59, 999999)),
    ],
)
def test_it_counts_days_in_a_configurable_timezone(tz, became_aware_at, due_utc):
    deadline = art73_deadline(
        ground=G.CRITICAL_INFRASTRUCTURE, widespread=False, became_aware_at=became_aware_at, tz=tz
    )
    assert deadline.due_at == due_utc
    assert deadline.due_at.time().isoformat() == "23:59:59.999999"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"became_aware_at": datetime(2025, 6, 10, 14, 0)}, "became_aware_at must be timezone-aware"),
        ({"ground": "murder"}, "not a valid SeriousIncidentGround"),
        ({"ground": ["death", "murder"]}, "not a valid SeriousIncidentGround"),
        ({"ground": None}, "give an Art. 3\\(49\\) ground or flag a widespread infringement"),
        ({"ground": ""}, "give an Art. 3\\(49\\) ground"),
        ({"ground": []}, "give an Art. 3\\(49\\) ground"),
        ({"tz": "Europe/Atlantis"}, "unknown timezone 'Europe/Atlantis'"),
    ],
)
def test_it_rejects_bad_input(kwargs, message):
    arguments = {"ground": G.HEALTH, "widespread": False, "became_aware_at": AWARE} | kwargs
    with pytest.raises(ValueError, match=message):
        art73_deadline(**arguments)


def test_it_takes_keyword_arguments_only_and_returns_a_frozen_value():
    with pytest.raises(TypeError):
        art73_deadline(G.HEALTH, False, AWARE)
    deadline = art73_deadline(ground=G.HEALTH, widespread=False, became_aware_at=AWARE)
    assert isinstance(deadline, ReportingDeadline)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.days = 30


# --------------------------------------------------------------------------------------------
# Art. 73: time left (where a report stands is tested in test_clock_rules)
# --------------------------------------------------------------------------------------------

DUE = end_of(2025, 6, 12)  # critical infrastructure, aware 2025-06-10 14:00


@pytest.mark.parametrize(
    "now,left",
    [
        (AWARE, timedelta(days=2, hours=9, minutes=59, seconds=59, microseconds=999999)),
        (DUE, timedelta(0)),
        (bxl(2025, 6, 13, 0, 0), -US),
        (utc(2025, 6, 13, 0, 0), -(2 * H + US)),
    ],
)
def test_it_measures_time_left_in_real_time(now, left):
    deadline = art73_deadline(ground=G.CRITICAL_INFRASTRUCTURE, widespread=False, became_aware_at=AWARE)
    assert deadline.time_left(now) == left


def test_it_measures_time_left_across_a_dst_change_in_real_hours():
    deadline = art73_deadline(
        ground=G.CRITICAL_INFRASTRUCTURE, widespread=False, became_aware_at=bxl(2025, 3, 28, 10, 0)
    )
    # From the end of Saturday to the end of Sunday 30 March 2025: 23 real hours, not 24.
    assert deadline.time_left(end_of(2025, 3, 29)) == 23 * H


def test_it_rejects_a_naive_now():
    deadline = art73_deadline(ground=G.CRITICAL_INFRASTRUCTURE, widespread=False, became_aware_at=AWARE)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        deadline.time_left(datetime(2025, 6, 11, 9, 0))
