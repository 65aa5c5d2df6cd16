"""Periodic reviews of AI systems and the policies that pace them."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from governance import choices
from governance.querysets import ReviewQuerySet

DEFAULT_CADENCE_DAYS = {
    choices.RiskTier.CRITICAL: 90,
    choices.RiskTier.HIGH: 180,
    choices.RiskTier.MEDIUM: 365,
    choices.RiskTier.LOW: 730,
}
DEFAULT_REMINDER_LEAD_DAYS = (30, 7, 1)
DEFAULT_ESCALATE_AFTER_DAYS = 7


def _default_lead_days() -> list[int]:
    return list(DEFAULT_REMINDER_LEAD_DAYS)


class ReviewPolicy(models.Model):
    """How often systems of one internal risk tier are reviewed; a policy that also names an EU AI
    Act class overrides the tier's general one for systems of that class."""

    risk_tier = models.CharField(max_length=10, choices=choices.RiskTier.choices)
    eu_ai_act_class = models.CharField(
        "EU AI Act class",
        max_length=20,
        choices=choices.EUAIActClass.choices,
        blank=True,
        help_text="Empty: every class of this tier without a policy of its own.",
    )
    cadence_days = models.PositiveIntegerField(help_text="Days from one completed review to the next.")
    reminder_lead_days = ArrayField(
        models.PositiveIntegerField(),
        default=_default_lead_days,
        help_text="Remind this many days before a review falls due (comma-separated).",
    )
    escalate_after_days = models.PositiveIntegerField(
        default=DEFAULT_ESCALATE_AFTER_DAYS,
        help_text="Escalate to the team lead and the officers this many days after the due date.",
    )
    checklist = models.JSONField(
        default=list,
        blank=True,
        help_text='Questions the reviewer answers: a list of {"key": "...", "question": "..."}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "review policies"
        ordering = ["risk_tier", "eu_ai_act_class"]
        constraints = [
            models.UniqueConstraint(fields=["risk_tier", "eu_ai_act_class"], name="unique_review_policy"),
            models.CheckConstraint(condition=Q(cadence_days__gte=1), name="review_cadence_positive"),
        ]

    def __str__(self) -> str:
        scope = self.get_eu_ai_act_class_display() if self.eu_ai_act_class else "any EU AI Act class"
        return f"{self.get_risk_tier_display()} risk, {scope}: every {self.cadence_days} days"

    def clean(self):
        questions = self.checklist if isinstance(self.checklist, list) else None
        if questions is None or not all(
            isinstance(q, dict) and str(q.get("key", "")).strip() and str(q.get("question", "")).strip()
            for q in questions
        ):
            raise ValidationError({"checklist": 'Give a list of {"key": "...", "question": "..."}.'})
        keys = [q["key"] for q in questions]
        if len(keys) != len(set(keys)):
            raise ValidationError({"checklist": "Each question needs its own key."})
        if len(set(self.reminder_lead_days or [])) != len(self.reminder_lead_days or []):
            raise ValidationError({"reminder_lead_days": "Name each lead time once."})


class Review(models.Model):
    """One review of one system. At most one is open (scheduled, in progress or overdue) per system."""

    system = models.ForeignKey("governance.AISystem", on_delete=models.CASCADE, related_name="reviews")
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=choices.ReviewStatus.choices, default=choices.ReviewStatus.SCHEDULED
    )
    trigger = models.CharField(
        max_length=16, choices=choices.ReviewTrigger.choices, default=choices.ReviewTrigger.CADENCE
    )
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was scheduled.")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checklist = models.JSONField(default=list, blank=True, help_text="The policy's questions when scheduled.")
    answers = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=30, choices=choices.ReviewOutcome.choices, blank=True)
    conditions = models.TextField(blank=True, help_text="For an approval with conditions.")
    waived_reason = models.TextField(blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["system"],
                condition=Q(status__in=choices.OPEN_REVIEW_STATUSES),
                name="one_open_review_per_system",
            ),
            models.CheckConstraint(
                condition=~Q(status=choices.ReviewStatus.WAIVED) | ~Q(waived_reason=""),
                name="waived_review_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=choices.ReviewStatus.COMPLETED)
                | (~Q(outcome="") & Q(signed_off_at__isnull=False)),
                name="completed_review_signed_off",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of {self.system} due {self.due_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.status in choices.OPEN_REVIEW_STATUSES
