"""Transparency scoring: versioned indicator sets (the FMTI editions and Verity's own deployment
set), assessments of AI models or AI systems against them, and one answer per indicator."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance import choices
from governance.querysets import CatalogQuerySet, TransparencyAssessmentQuerySet


class IndicatorSet(models.Model):
    """One published edition of a transparency index, or Verity's own set, as data."""

    key = models.SlugField(max_length=60, unique=True, help_text="Stable identifier, e.g. fmti-2024.")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40)
    publisher = models.CharField(max_length=200)
    licence = models.CharField(max_length=200)
    source_url = models.URLField(max_length=500, blank=True)
    attribution = models.TextField(blank=True, help_text="Shown wherever the set's data appear.")
    subject_kind = models.CharField(max_length=10, choices=choices.TransparencySubject.choices)
    scoring_rule = models.TextField(
        help_text="How a score follows from the answers (e.g. weighted satisfied over applicable)."
    )
    domains = models.JSONField(
        default=list, blank=True, help_text="Domains in order, each with its subdomains in order."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["subject_kind", "key"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_indicator_set_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Indicator(models.Model):
    indicator_set = models.ForeignKey(IndicatorSet, on_delete=models.CASCADE, related_name="indicators")
    key = models.SlugField(max_length=120, help_text="Stable within its set.")
    domain = models.CharField(max_length=100)
    subdomain = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    definition = models.TextField()
    notes = models.TextField(blank=True)
    rationale = models.TextField(blank=True, help_text="Why it matters (Verity's own indicators).")
    weight = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    order = models.PositiveIntegerField()

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["indicator_set", "order"]
        constraints = [
            models.UniqueConstraint(fields=["indicator_set", "key"], name="unique_indicator_key"),
            models.UniqueConstraint(fields=["indicator_set", "order"], name="unique_indicator_order"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="indicator_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} / {self.subdomain}: {self.name}"


class TransparencyAssessment(models.Model):
    """An assessment of one AI model or one AI system against one indicator set, on one day.

    The score is computed from the answers in the database (see ``services/transparency``) and
    stored here when they change, so rankings and filters read a column.
    """

    indicator_set = models.ForeignKey(IndicatorSet, on_delete=models.PROTECT, related_name="assessments")
    model = models.ForeignKey(
        "governance.AIModel", null=True, blank=True, on_delete=models.PROTECT, related_name="assessments"
    )
    system = models.ForeignKey(
        "governance.AISystem", null=True, blank=True, on_delete=models.CASCADE, related_name="assessments"
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assessor_label = models.CharField(
        max_length=200, blank=True, help_text="E.g. the publisher of an import."
    )
    assessed_on = models.DateField()
    status = models.CharField(
        max_length=6, choices=choices.AssessmentStatus.choices, default=choices.AssessmentStatus.DRAFT
    )
    source = models.CharField(
        max_length=6, choices=choices.AssessmentSource.choices, default=choices.AssessmentSource.MANUAL
    )
    import_key = models.CharField(
        max_length=200, blank=True, help_text="For imported assessments: edition and developer."
    )
    notes = models.TextField(blank=True)
    points = models.DecimalField(max_digits=8, decimal_places=2, null=True, editable=False)
    possible_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, editable=False)
    score = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        editable=False,
        help_text="Percentage of applicable points.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TransparencyAssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-assessed_on", "-id"]
        indexes = [
            models.Index(fields=["system", "assessed_on"], name="assessment_system_history"),
            models.Index(fields=["model", "assessed_on"], name="assessment_model_history"),
            models.Index(fields=["score"], name="assessment_score"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(model__isnull=False) & Q(system__isnull=True))
                | (Q(model__isnull=True) & Q(system__isnull=False)),
                name="assessment_has_one_subject",
            ),
            models.UniqueConstraint(
                fields=["import_key"], condition=~Q(import_key=""), name="unique_assessment_import_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model or self.system}: {self.indicator_set} ({self.assessed_on})"


class AssessmentAnswer(models.Model):
    assessment = models.ForeignKey(TransparencyAssessment, on_delete=models.CASCADE, related_name="answers")
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="answers")
    answer = models.CharField(
        max_length=14, choices=choices.IndicatorAnswer.choices, default=choices.IndicatorAnswer.UNANSWERED
    )
    disclosure = models.TextField(blank=True, help_text="The disclosure found, or a link to the evidence.")
    evidence_url = models.URLField(max_length=1000, blank=True)
    justification = models.TextField(
        blank=True, help_text="Required for 'not applicable' in a final assessment."
    )

    class Meta:
        ordering = ["assessment", "indicator__order"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "indicator"], name="unique_assessment_answer"),
        ]

    def __str__(self) -> str:
        return f"{self.indicator}: {self.get_answer_display()}"
