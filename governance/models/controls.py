"""The organisation's control library and where each control is implemented."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from governance import choices
from governance.querysets import ControlImplementationQuerySet, ControlQuerySet


class Control(models.Model):
    """A control the organisation operates, mapped to requirements in any number of frameworks."""

    code = models.SlugField(max_length=40, unique=True, help_text="e.g. ctl-model-release-review")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    control_type = models.CharField(max_length=20, choices=choices.ControlType.choices)
    frequency = models.CharField(max_length=20, choices=choices.ControlFrequency.choices)
    requirements = models.ManyToManyField(
        "governance.Requirement",
        related_name="controls",
        blank=True,
        help_text="What this control satisfies.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ControlQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class ControlImplementation(models.Model):
    """A control as implemented for one AI system, or organisation-wide when ``system`` is empty."""

    control = models.ForeignKey(Control, on_delete=models.CASCADE, related_name="implementations")
    system = models.ForeignKey(
        "governance.AISystem",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="control_implementations",
    )
    status = models.CharField(
        max_length=20,
        choices=choices.ImplementationStatus.choices,
        default=choices.ImplementationStatus.NOT_STARTED,
    )
    justification = models.TextField(blank=True, help_text="Required when the control is not applicable.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_tested_on = models.DateField(null=True, blank=True)
    next_test_due = models.DateField(null=True, blank=True)
    effectiveness = models.CharField(
        max_length=20, choices=choices.Effectiveness.choices, default=choices.Effectiveness.NOT_ASSESSED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ControlImplementationQuerySet.as_manager()

    class Meta:
        ordering = ["control__code", "system__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["control", "system"],
                name="unique_control_per_system",
                violation_error_message="This control already has an implementation for this system.",
            ),
            models.UniqueConstraint(
                fields=["control"],
                condition=models.Q(system__isnull=True),
                name="unique_org_wide_control",
                violation_error_message="This control already has an organisation-wide implementation.",
            ),
        ]

    def __str__(self) -> str:
        where = self.system.name if self.system_id else "organisation-wide"
        return f"{self.control.code} ({where})"

    def clean(self) -> None:
        if self.status == choices.ImplementationStatus.NOT_APPLICABLE and not self.justification.strip():
            raise ValidationError({"justification": "Say why the control is not applicable."})
        if self.last_tested_on and self.next_test_due and self.next_test_due < self.last_tested_on:
            raise ValidationError({"next_test_due": "The next test cannot be due before the last one."})
