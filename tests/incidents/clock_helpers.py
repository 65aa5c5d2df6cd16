"""Shared time zones, durations and datetime builders for the clock tests."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from incidents.services.clocks import SeriousIncidentGround

BRUSSELS = ZoneInfo("Europe/Brussels")
G = SeriousIncidentGround
H = timedelta(hours=1)
D = timedelta(days=1)
US = timedelta(microseconds=1)


def bxl(*args, fold=0):
    return datetime(*args, tzinfo=BRUSSELS, fold=fold)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def end_of(year, month, day, tz=BRUSSELS):
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=tz)


class ForeignGround(StrEnum):
    """Stands in for another str enum with the same values (e.g. a model's TextChoices)."""

    DEATH_OF_A_PERSON = "death"
    INFRA = "critical_infrastructure"


class ForeignSeverity(StrEnum):
    CRITICAL = "SEV1"
