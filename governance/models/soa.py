"""Statement of Applicability (ISO/IEC 42001 6.1.3): decisions and approved versions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from governance.querysets import ScopedToSystemQuerySet


class Applicability(models.Model):
    """Whether one Annex A control applies, organisation-wide or for one system, and why."""

    requirement = models.ForeignKey("governance.Requirement", on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(
        "governance.AISystem", null=True, blank=True, on_delete=models.CASCADE, related_name="applicability"
    )
    applicable = models.BooleanField(default=True)
    justification = models.TextField(blank=True, help_text="Why it is included or excluded.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedToSystemQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "applicability decisions"
        constraints = [
            models.UniqueConstraint(fields=["requirement", "system"], name="unique_applicability_per_system"),
            models.UniqueConstraint(
                fields=["requirement"],
                condition=models.Q(system__isnull=True),
                name="unique_org_applicability",
            ),
        ]

    def __str__(self) -> str:
        scope = self.system.name if self.system_id else "organisation"
        return f"{self.requirement.ref_id} ({scope}): {'applicable' if self.applicable else 'not applicable'}"

    def clean(self) -> None:
        if not self.applicable and not self.justification.strip():
            raise ValidationError({"justification": "Say why the control is not applicable."})


class SoAVersion(models.Model):
    """An approved, frozen Statement of Applicability for a framework and scope."""

    framework = models.ForeignKey(
        "governance.Framework", on_delete=models.PROTECT, related_name="soa_versions"
    )
    system = models.ForeignKey(
        "governance.AISystem", null=True, blank=True, on_delete=models.PROTECT, related_name="soa_versions"
    )
    number = models.PositiveIntegerField()
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    note = models.TextField(blank=True)
    content = models.JSONField(help_text="The statement as approved, one entry per control.")
    content_sha256 = models.CharField(max_length=64)

    objects = ScopedToSystemQuerySet.as_manager()

    class Meta:
        verbose_name = "SoA version"
        ordering = ["framework", "system", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "system", "number"], name="unique_soa_version"),
            models.UniqueConstraint(
                fields=["framework", "number"],
                condition=models.Q(system__isnull=True),
                name="unique_org_soa_version",
            ),
        ]

    def __str__(self) -> str:
        scope = self.system.name if self.system_id else "organisation"
        return f"SoA v{self.number} ({scope})"
