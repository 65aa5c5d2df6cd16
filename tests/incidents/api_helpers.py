"""Shared constants and helpers for the incident API tests."""

import datetime

INCIDENTS = "/api/v1/incidents/"


def iso(value: datetime.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
