"""Periodic reviews in the admin: the policies that pace them, and the review queue.

The queue shows each review's due state (``ReviewQuerySet.with_due_state``): overdue, due within
7 days, or not yet due. An open review's page asks each
checklist question in a field of its own; "Complete review", "Start review" and "Waive" go
through ``governance.services.reviews``, whose refusals show on the form. Engineers and auditors
read; closed reviews are read-only for everyone.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance import choices
from governance.admin.base import ChangeHistoryMixin, ServiceForm
from governance.models import Review, ReviewPolicy
from governance.services import reviews as services

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]*")
ANSWER_PREFIX = "answer__"
DECISIONS = {"_complete": "complete", "_start": "start", "_waive": "waive"}
OVERDUE_COLOUR, SOON_COLOUR = "#cf222e", "#9a6700"
DueState = choices.ReviewDueState


# --- Review policies ------------------------------------------------------------------------------


class ChecklistField(forms.CharField):
    """The policy's questions as text, one a line: ``key: question``."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 90})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{item.get('key', '')}: {item.get('question', '')}" for item in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        questions = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, question = line.partition(":")
            key, question = key.strip().lower(), question.strip()
            if not sep or not question:
                raise ValidationError(f"Line {number}: write it as key: question.")
            if not KEY_PATTERN.fullmatch(key):
                raise ValidationError(
                    f"Line {number}: a key is lower-case letters, digits and underscores ({key!r})."
                )
            questions.append({"key": key, "question": question})
        return questions


class ReviewPolicyForm(forms.ModelForm):
    checklist = ChecklistField(
        required=False,
        help_text="One question a line, written as key: question, e.g. "
        "purpose: Is the purpose still accurate? Reviews scheduled from now on ask these; "
        "scheduled reviews keep their questions.",
    )

    class Meta:
        model = ReviewPolicy
        fields = [
            "risk_tier",
            "eu_ai_act_class",
            "cadence_days",
            "reminder_lead_days",
            "escalate_after_days",
            "checklist",
        ]


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    form = ReviewPolicyForm
    list_display = [
        "risk_tier",
        "eu_class",
        "cadence_days",
        "reminders",
        "escalate_after_days",
        "question_count",
        "updated_at",
    ]
    list_filter = ["risk_tier", "eu_ai_act_class"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["risk_tier", "eu_ai_act_class"]}),
        ("Pace", {"fields": ["cadence_days", "reminder_lead_days", "escalate_after_days"]}),
        ("Checklist", {"fields": ["checklist"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="EU AI Act class", ordering="eu_ai_act_class")
    def eu_class(self, policy):
        return policy.get_eu_ai_act_class_display() if policy.eu_ai_act_class else "any (tier default)"

    @admin.display(description="reminders (days before)")
    def reminders(self, policy):
        return ", ".join(str(days) for days in sorted(policy.reminder_lead_days or [], reverse=True)) or "—"

    @admin.display(description="questions")
    def question_count(self, policy):
        return len(policy.checklist or [])


# --- Reviews --------------------------------------------------------------------------------------


class DueFilter(admin.SimpleListFilter):
    """By due state (``ReviewQuerySet.with_due_state``): overdue, due within 7 days, not yet due."""

    title = "due"
    parameter_name = "due"
    STATES = (DueState.OVERDUE, DueState.DUE_SOON, DueState.UPCOMING)

    def lookups(self, request, model_admin):
        return [(state.value, state.label.capitalize()) for state in self.STATES]

    def queryset(self, request, queryset):
        if self.value() in {state.value for state in self.STATES}:
            return queryset.filter(due_state=self.value())
        return queryset


def answer_field(key: str) -> str:
    return f"{ANSWER_PREFIX}{key}"


class ReviewDecisionForm(ServiceForm):
    """One text field per checklist question (added per review), the outcome, and a reason to waive.

    Validating the form runs the decision the officer chose (``decision``) through the review
    services, so their refusals show on the form like any other error.
    """

    outcome = forms.ChoiceField(choices=[("", "---------"), *choices.ReviewOutcome.choices], required=False)
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Only for an approval with conditions: what must happen, and by when.",
    )
    waive_reason = forms.CharField(
        label="Reason to waive",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text='Only with "Waive": why this review is not carried out. The next one is scheduled.',
    )

    decision: str | None = None
    error_fields = {"reason": "waive_reason"}

    class Meta:
        model = Review
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        answers = self.instance.answers or {}
        for question in self.instance.checklist or []:
            name = answer_field(str(question["key"]))
            if name in self.fields:
                self.fields[name].initial = answers.get(question["key"], "")

    def answers(self) -> dict[str, str]:
        return {
            name.removeprefix(ANSWER_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(ANSWER_PREFIX)
        }

    def decide(self, data):
        review = self.instance
        if self.decision == "complete":
            blank = [name for name, answer in data.items() if name.startswith(ANSWER_PREFIX) and not answer]
            for name in blank:
                self.add_error(name, "Answer this question to complete the review.")
            if blank:
                return
            services.complete_review(
                actor=self.actor,
                review=review,
                outcome=data.get("outcome") or "",
                answers=self.answers(),
                conditions=data.get("conditions") or "",
            )
        elif self.decision == "waive":
            services.waive_review(actor=self.actor, review=review, reason=data.get("waive_reason") or "")
        elif self.decision == "start":
            services.start_review(actor=self.actor, review=review)
        else:
            raise ValidationError('Choose "Complete review", "Start review" or "Waive".')


def review_form_for(review: Review | None) -> type[ReviewDecisionForm]:
    """The decision form with one field per question of this review's checklist."""
    fields = {
        answer_field(str(question["key"])): forms.CharField(
            label=question["question"],
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        )
        for question in (review.checklist if review is not None else None) or []
    }
    return type("ReviewDecisionForm", (ReviewDecisionForm,), fields)


@admin.register(Review)
class ReviewAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["system", "due", "status", "trigger", "outcome", "reviewer", "signed_off_at"]
    list_filter = [
        DueFilter,
        "status",
        "outcome",
        "trigger",
        ("system__owning_team", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["system", "reviewer"]
    search_fields = ["system__name", "system__slug", "reason"]
    ordering = ["due_at", "id"]
    list_per_page = 50
    summary = ["system", "status", "due", "trigger", "reason", "reviewer"]
    record = ["signed_off_by", "signed_off_at", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).with_due_state(timezone.now())

    def has_add_permission(self, request):
        return False  # reviews are scheduled by the policies and by material changes

    def has_delete_permission(self, request, obj=None):
        return False  # waived with a reason, never deleted

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.is_open)

    def _decidable(self, request, obj) -> bool:
        return obj is not None and self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = review_form_for(obj)
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        form.decision = next((name for button, name in DECISIONS.items() if button in request.POST), None)
        return form

    def get_fieldsets(self, request, obj=None):
        summary = (None, {"fields": self.summary})
        record = ("Record", {"fields": self.record, "classes": ["collapse"]})
        if not self._decidable(request, obj):
            closed = ["outcome", "conditions", "waived_reason"]
            return [
                summary,
                ("Checklist", {"fields": ["checklist_panel"]}),
                ("Decision", {"fields": closed}),
                record,
            ]
        questions = [answer_field(str(q["key"])) for q in obj.checklist or []]
        return [
            summary,
            (
                "Checklist",
                {
                    "fields": questions or ["checklist_panel"],
                    "description": "Answer every question to complete the review.",
                },
            ),
            ("Decision", {"fields": ["outcome", "conditions"]}),
            ("Waive", {"fields": ["waive_reason"], "classes": ["collapse"]}),
            record,
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.summary, "checklist_panel", *self.record]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["decide"] = self._decidable(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        pass  # the decision was taken by the review services when the form was validated

    def save_related(self, request, form, formsets, change):
        pass

    def construct_change_message(self, request, form, formsets, add=False):
        return [{"changed": {"fields": [f"decision: {form.decision}"]}}]

    @admin.display(description="due", ordering="due_at")
    def due(self, review):
        """The due date with the review's due state: in red with the days late when overdue, in
        orange when due within 7 days."""
        state = DueState(review.due_state)
        text = timezone.localtime(review.due_at).strftime("%Y-%m-%d")
        if state == DueState.OVERDUE:
            late = (timezone.now() - review.due_at).days
            text, colour = f"{text} ({late} d overdue)", OVERDUE_COLOUR
        elif state == DueState.DUE_SOON:
            text, colour = f"{text} ({state.label})", SOON_COLOUR
        else:
            colour = "inherit"
        return format_html('<span class="review-{}" style="color:{}">{}</span>', state.value, colour, text)

    @admin.display(description="questions and answers")
    def checklist_panel(self, review):
        questions = review.checklist or []
        if not questions:
            return "No checklist questions."
        answers = review.answers or {}
        return format_html(
            "<dl>{}</dl>",
            format_html_join(
                "",
                "<dt><strong>{}</strong></dt><dd>{}</dd>",
                ((q["question"], answers.get(q["key"]) or "—") for q in questions),
            ),
        )
