"""The AI risk register (ISO/IEC 42001 6.1.2 and 8.2; AI RMF MAP, MEASURE and MANAGE)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance import choices
from governance.querysets import RiskQuerySet

_SCALE = [MinValueValidator(1), MaxValueValidator(5)]


class Risk(models.Model):
    """A risk of one AI system, scored before (inherent) and after (residual) its treatment."""

    system = models.ForeignKey("governance.AISystem", on_delete=models.CASCADE, related_name="risks")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    characteristic = models.CharField(
        "trustworthiness characteristic", max_length=30, choices=choices.TrustworthinessCharacteristic.choices
    )
    likelihood = models.PositiveSmallIntegerField(
        validators=_SCALE, help_text="1 (rare) to 5 (almost certain)"
    )
    impact = models.PositiveSmallIntegerField(validators=_SCALE, help_text="1 (negligible) to 5 (severe)")
    residual_likelihood = models.PositiveSmallIntegerField(null=True, blank=True, validators=_SCALE)
    residual_impact = models.PositiveSmallIntegerField(null=True, blank=True, validators=_SCALE)
    inherent_score = models.GeneratedField(
        expression=models.F("likelihood") * models.F("impact"),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    residual_score = models.GeneratedField(
        expression=models.F("residual_likelihood") * models.F("residual_impact"),
        output_field=models.PositiveSmallIntegerField(null=True),
        db_persist=True,
    )
    treatment = models.CharField(max_length=10, choices=choices.RiskTreatment.choices)
    status = models.CharField(
        max_length=12, choices=choices.RiskStatus.choices, default=choices.RiskStatus.IDENTIFIED
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    controls = models.ManyToManyField("governance.Control", related_name="risks", blank=True)
    review_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RiskQuerySet.as_manager()

    class Meta:
        ordering = ["system", "-inherent_score", "title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(residual_likelihood__isnull=True, residual_impact__isnull=True)
                | models.Q(residual_likelihood__isnull=False, residual_impact__isnull=False),
                name="risk_residual_pair",
                violation_error_message="Give both residual likelihood and residual impact, or neither.",
            )
        ]

    def __str__(self) -> str:
        return self.title
