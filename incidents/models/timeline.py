from django.conf import settings
from django.db import models

from incidents import choices
from incidents.querysets import ChildOfIncidentQuerySet


class TimelineEntry(models.Model):
    """An immutable line of an incident's history: the database refuses UPDATE and DELETE."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="timeline")
    kind = models.CharField(max_length=20, choices=choices.TimelineKind.choices)
    at = models.DateTimeField(auto_now_add=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=150, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="e.g. {'from': 'reported', 'to': 'triaged'}")

    objects = ChildOfIncidentQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "timeline entries"
        ordering = ["incident", "at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"
