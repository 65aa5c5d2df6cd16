"""Evidence packs built for auditors, and every download of one (an audit event)."""

from django.conf import settings
from django.core.files.storage import storages
from django.db import models


def _evidence_storage():
    return storages["evidence"]


class EvidencePackQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every pack; engineers the packs they asked for."""
        from governance.querysets import scoped

        return scoped(self, user, lambda: models.Q(requested_by=user))


class EvidencePack(models.Model):
    """A ZIP of the register for some frameworks, a scope and a period, built in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="evidence_packs"
    )
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    file = models.FileField(storage=_evidence_storage, max_length=300, blank=True, editable=False)
    size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True, editable=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EvidencePackQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

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
