"""Field validators shared by the model layer (and therefore by the admin and the API)."""

import re

from django.core.exceptions import ValidationError

from governance.jurisdictions import JURISDICTIONS

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,49}$")


def validate_sha256(value: str) -> None:
    if value and not _SHA256.match(value):
        raise ValidationError(
            "Enter a SHA-256 digest: exactly 64 hexadecimal characters (0-9, a-f).", code="sha256"
        )


def validate_jurisdiction(value: str) -> None:
    if value not in JURISDICTIONS:
        raise ValidationError(
            "%(value)s is not an ISO 3166-1 alpha-2 country code (or EU).",
            code="jurisdiction",
            params={"value": value},
        )


def validate_tag(value: str) -> None:
    if not _TAG.match(value):
        raise ValidationError(
            "Tags are lowercase letters, digits, '.', '_' or '-', at most 50 characters: %(value)s",
            code="tag",
            params={"value": value},
        )
