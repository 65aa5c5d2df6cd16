from django.db import models


class AuditChainLink(models.Model):
    """One change event's place in the hash chain, written only by the sealer.

    ``event_id`` is a plain column, not a foreign key: a superuser who deletes an event with the
    triggers disabled must leave a dangling link that verification reports, not be stopped by (or
    cascade through) a constraint. The table refuses UPDATE and DELETE like the events themselves.
    """

    seq = models.BigIntegerField(primary_key=True, help_text="1, 2, … without gaps: the chain's order.")
    event_id = models.BigIntegerField(unique=True)
    event_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical event.")
    chain_hash = models.CharField(max_length=64, help_text="SHA-256 of the previous chain hash + event hash.")
    sealed_at = models.DateTimeField()
    batch = models.IntegerField(help_text="The sealing run that appended this link.")

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["sealed_at"], name="auditchainlink_sealed")]

    def __str__(self) -> str:
        return f"#{self.seq} event {self.event_id} {self.chain_hash[:12]}"


class AuditAnchor(models.Model):
    """One publication of the chain head to a sink outside the database (file, e-mail, webhook)."""

    seq = models.BigIntegerField()
    chain_hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    sink = models.CharField(max_length=20, help_text="file, email or webhook")
    detail = models.CharField(max_length=500, blank=True, help_text="Where it went, or why it failed.")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"head #{self.seq} → {self.sink} at {self.at:%Y-%m-%d %H:%M:%S}"
