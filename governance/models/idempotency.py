"""Idempotency keys: the first response to a keyed POST, kept so that a retry gets it again.

Not tracked by the change history: a record is transport bookkeeping, not a governance fact, and
the writes it guards are recorded on their own tables.
"""

import uuid

from django.db import models


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` of one client: the request it was first used for and, once that
    request finished, the response to replay. See ``governance.services.idempotency``."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    client = models.CharField(max_length=64, help_text='Who sent the key: "token:<id>" or "user:<id>".')
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    # Changes when a stale claim is taken over, so the request that lost it cannot overwrite it.
    claim_token = models.UUIDField(default=uuid.uuid4)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=bytes, blank=True)
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "idempotency record"
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="unique_idempotency_key_per_client"),
        ]

    def __str__(self) -> str:
        return f"{self.client} {self.key} ({self.state})"
