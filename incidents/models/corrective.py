from django.conf import settings
from django.db import models

from incidents import choices
from incidents.querysets import ChildOfIncidentQuerySet


class CorrectiveAction(models.Model):
    """What is done so the incident does not happen again (ISO/IEC 42001 10.2)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="corrective_actions"
    )
    description = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=20,
        choices=choices.CorrectiveActionStatus.choices,
        default=choices.CorrectiveActionStatus.OPEN,
    )
    verification = models.TextField(blank=True, help_text="How the action was checked to work.")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChildOfIncidentQuerySet.as_manager()

    OPEN_STATUSES = (
        choices.CorrectiveActionStatus.OPEN,
        choices.CorrectiveActionStatus.IN_PROGRESS,
        choices.CorrectiveActionStatus.DONE,
    )

    class Meta:
        ordering = ["incident", "due_on", "id"]

    def __str__(self) -> str:
        return self.description[:80]
