"""Evidence: files and links that show a control works, for a period of time."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import models

from governance import choices
from governance.querysets import EvidenceQuerySet


def _evidence_storage():
    return storages["evidence"]


class Evidence(models.Model):
    """A file (stored under a generated name, outside the web root) or a link."""

    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=choices.EvidenceKind.choices)
    file = models.FileField(storage=_evidence_storage, max_length=300, blank=True, editable=False)
    url = models.URLField(max_length=1000, blank=True)
    original_name = models.CharField(max_length=255, blank=True, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True, editable=False)
    size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    content_type = models.CharField(
        max_length=100, blank=True, editable=False, help_text="From the file's bytes."
    )
    team = models.ForeignKey(
        "governance.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evidence",
        help_text="Empty for organisation-wide evidence (policies, procedures).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    collected_on = models.DateField()
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(
        null=True, blank=True, help_text="After this day the evidence has expired."
    )
    implementations = models.ManyToManyField(
        "governance.ControlImplementation", related_name="evidence", blank=True
    )
    requirements = models.ManyToManyField("governance.Requirement", related_name="evidence", blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ["-collected_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_from__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
                name="evidence_valid_period",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.kind == choices.EvidenceKind.LINK and not self.url:
            raise ValidationError({"url": "A link needs its URL."})
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError({"valid_until": "The evidence cannot expire before it becomes valid."})
