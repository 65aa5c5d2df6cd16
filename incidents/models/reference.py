from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from incidents.querysets import ReferenceIncidentQuerySet

AIID_ATTRIBUTION = (
    "AI Incident Database (incidentdatabase.ai), CC BY-SA 4.0; report contents keep their own rights."
)


class ReferenceIncident(models.Model):
    """A public incident from the AI Incident Database, read-only, for comparison and linking."""

    aiid_id = models.PositiveIntegerField("AIID incident id", unique=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    date = models.DateField(null=True, blank=True)
    deployers = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    developers = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    harmed_parties = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    report_ids = ArrayField(models.PositiveIntegerField(), default=list, blank=True)
    mit_domain = models.CharField(max_length=200, blank=True)
    mit_subdomain = models.CharField(max_length=200, blank=True)
    cset = models.JSONField(default=dict, blank=True, help_text="CSET v1 classification, where present.")
    attribution = models.CharField(max_length=300, default=AIID_ATTRIBUTION)

    objects = ReferenceIncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-aiid_id"]
        indexes = [
            GinIndex(fields=["title"], name="reference_title_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"AIID #{self.aiid_id}: {self.title}"

    @property
    def url(self) -> str:
        return f"https://incidentdatabase.ai/cite/{self.aiid_id}/"
