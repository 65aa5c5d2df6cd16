"""Evidence packs built for auditors, and every download of one (an audit event)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.db import models


def _evidence_storage():
    return storages["evidence"]


def lease_length() -> timedelta:
    """How long a build holds its pack without a heartbeat before it counts as dead."""
    return timedelta(seconds=settings.VERITY_PACK_LEASE_SECONDS)


def build_bound() -> timedelta:
    """How long after its first attempt began a pack may still be unfinished."""
    return timedelta(seconds=settings.VERITY_PACK_BUILD_TIMEOUT_SECONDS)


class EvidencePackQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every pack; engineers the packs they asked for."""
        from governance.querysets import scoped

        return scoped(self, user, lambda: models.Q(requested_by=user))

    # The states of a build. The claim of a build, the sweep and the admin read them from here.

    def unfinished(self):
        return self.filter(status__in=EvidencePack.UNFINISHED)

    def lease_expired(self, now: datetime):
        """Building, but its worker has not renewed the lease in time: it died or hangs."""
        return self.filter(status=EvidencePack.Status.BUILDING, lease_until__lt=now)

    def claimable(self, now: datetime):
        """What a build may start on: a queued pack, or one whose last build's lease expired."""
        expired = models.Q(status=EvidencePack.Status.BUILDING, lease_until__lt=now)
        return self.filter(models.Q(status=EvidencePack.Status.QUEUED) | expired)

    def past_bound(self, now: datetime):
        """Unfinished longer than ``VERITY_PACK_BUILD_TIMEOUT_SECONDS`` after its first attempt began."""
        return self.unfinished().filter(started_at__lte=now - build_bound())

    def unsent(self, now: datetime):
        """Queued, with no build message sent within the last lease: its message was lost (the
        filesystem broker deletes a message as a worker takes it), or the send never happened."""
        sent_recently = models.Q(queued_at__gt=now - lease_length())
        return self.filter(status=EvidencePack.Status.QUEUED).exclude(sent_recently)


class EvidencePack(models.Model):
    """A ZIP of the register for some frameworks, a scope and a period, built in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    UNFINISHED = (Status.QUEUED, Status.BUILDING)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="evidence_packs"
    )
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    file = models.FileField(storage=_evidence_storage, max_length=300, blank=True, editable=False)
    size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True, editable=False)
    error = models.TextField(blank=True, help_text="Why the pack failed, when it did.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Builds started so far; a build whose worker died counts as one."
    )
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first build began; the build bound counts from here."
    )
    # Renewed by the building worker's heartbeat; not recorded in the change history.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # When a build message was last sent (bookkeeping, not recorded in the change history).
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = EvidencePackQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=["queued", "building"]),
                name="evidencepack_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"Evidence pack {self.pk} ({self.status})"


class PackDownload(models.Model):
    """One download of a pack: append-only, and recorded in the change history by its trigger."""

    pack = models.ForeignKey(EvidencePack, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Download of pack {self.pack_id} at {self.at:%Y-%m-%d %H:%M}"
