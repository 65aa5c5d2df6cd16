"""Periodic reviews: which policy paces a system, scheduling, completing, waiving, material changes.

A system has at most one open review (scheduled, in progress or overdue; a partial unique
constraint holds it). Closing one, by completing or waiving it, schedules the next from the policy.
The scans that mark reviews overdue and send their reminders live in ``review_scans``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance import choices
from governance.exceptions import Conflict, NotAllowed
from governance.models import AISystem, Review, ReviewPolicy, User
from governance.models.reviews import (
    DEFAULT_CADENCE_DAYS,
    DEFAULT_ESCALATE_AFTER_DAYS,
    DEFAULT_REMINDER_LEAD_DAYS,
)
from governance.services.access import is_officer

# The questions of a policy that names none (migration 0012 gives the default policies a copy).
DEFAULT_CHECKLIST = [
    {"key": "purpose", "question": "Does the recorded purpose still describe what the system does?"},
    {"key": "risk_assessment", "question": "Is the risk assessment current, with any new risks recorded?"},
    {
        "key": "incidents",
        "question": "Have the incidents since the last review been examined and closed out?",
    },
    {"key": "oversight", "question": "Does human oversight work as designed, and do people use it?"},
]

_REASON_LENGTH = Review._meta.get_field("reason").max_length
_ONE_OPEN = "one_open_review_per_system"


def default_policy(risk_tier: str) -> ReviewPolicy:
    """The unsaved policy a tier falls back to when no row names it."""
    return ReviewPolicy(
        risk_tier=risk_tier,
        eu_ai_act_class="",
        cadence_days=DEFAULT_CADENCE_DAYS[risk_tier],
        reminder_lead_days=list(DEFAULT_REMINDER_LEAD_DAYS),
        escalate_after_days=DEFAULT_ESCALATE_AFTER_DAYS,
        checklist=[dict(question) for question in DEFAULT_CHECKLIST],
    )


def policy_for(system: AISystem) -> ReviewPolicy:
    """The policy of the system's risk tier and EU AI Act class, else of its tier, else the
    defaults (an unsaved policy: 90/180/365/730 days, reminders 30, 7 and 1 days, escalation 7)."""
    found = {
        policy.eu_ai_act_class: policy
        for policy in ReviewPolicy.objects.filter(
            risk_tier=system.risk_tier, eu_ai_act_class__in=[system.eu_ai_act_class, ""]
        )
    }
    return found.get(system.eu_ai_act_class) or found.get("") or default_policy(system.risk_tier)


def _require_officer(actor: User | None) -> None:
    if not is_officer(actor):
        raise NotAllowed("Only governance officers run reviews.")


def _locked_open_review(system_id: int) -> Review | None:
    return Review.objects.select_for_update().filter(system_id=system_id).open().first()


def _lock_open(review: Review) -> Review:
    """The review, locked and re-read; ``Conflict`` unless it is still open."""
    locked = Review.objects.select_for_update().get(pk=review.pk)
    if not locked.is_open:
        raise Conflict(
            f"The review is {locked.get_status_display().lower()}, no longer open.", field="status"
        )
    return locked


def _insert_open_review(system: AISystem, **fields) -> Review | None:
    """Create the system's open review, or ``None`` when a concurrent write created one first."""
    try:
        with transaction.atomic():
            return Review.objects.create(system=system, **fields)
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") == _ONE_OPEN:
            return None
        raise


@transaction.atomic
def schedule_next(*, system: AISystem, after: datetime, actor: User | None = None) -> Review:
    """Schedule the system's next cadence review ``policy.cadence_days`` after ``after``, unless one
    is already open (then return that one)."""
    existing = _locked_open_review(system.pk)
    if existing is not None:
        return existing
    policy = policy_for(system)
    review = _insert_open_review(
        system,
        due_at=after + timedelta(days=policy.cadence_days),
        trigger=choices.ReviewTrigger.CADENCE,
        reason=f"Every {policy.cadence_days} days ({policy.get_risk_tier_display().lower()} risk).",
        checklist=policy.checklist,
    )
    return review or _locked_open_review(system.pk)


@transaction.atomic
def require_review_now(
    *, system: AISystem, reason: str, actor: User | None = None, now: datetime | None = None
) -> Review:
    """A material change: make a review due now (an open review is brought forward, else one is
    created with trigger ``material_change``)."""
    now = now or timezone.now()
    review = _locked_open_review(system.pk)
    if review is None:
        review = _insert_open_review(
            system,
            due_at=now,
            trigger=choices.ReviewTrigger.MATERIAL_CHANGE,
            reason=reason[:_REASON_LENGTH],
            checklist=policy_for(system).checklist,
        )
        if review is not None:
            return review
        review = _locked_open_review(system.pk)
    # Several changes before the review happens: keep every reason, the earliest due date.
    if review.trigger == choices.ReviewTrigger.MATERIAL_CHANGE and review.reason:
        reason = f"{review.reason}; {reason}"
    review.trigger = choices.ReviewTrigger.MATERIAL_CHANGE
    review.reason = reason[:_REASON_LENGTH]
    review.due_at = min(review.due_at, now)
    review.save(update_fields=["trigger", "reason", "due_at", "updated_at"])
    return review


@transaction.atomic
def start_review(*, actor: User, review: Review) -> Review:
    """An officer takes the review on: status ``in_progress``, reviewer = actor.

    An overdue review stays overdue (it is still late), with the actor as its reviewer.
    """
    _require_officer(actor)
    review = _lock_open(review)
    if review.status == choices.ReviewStatus.SCHEDULED:
        review.status = choices.ReviewStatus.IN_PROGRESS
    review.reviewer = actor
    review.save(update_fields=["status", "reviewer", "updated_at"])
    return review


def _check_answers(review: Review, answers: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(answers, Mapping):
        raise ValidationError({"answers": "Give the answers as an object keyed by question."})
    keys = [str(question["key"]) for question in review.checklist or []]
    unknown = sorted(set(map(str, answers)) - set(keys))
    if unknown:
        raise ValidationError({"answers": f"Not questions of this review: {', '.join(unknown)}."})
    cleaned = {key: str(answers.get(key) or "").strip() for key in keys}
    missing = [key for key, answer in cleaned.items() if not answer]
    if missing:
        raise ValidationError({"answers": f"Answer every question; missing: {', '.join(missing)}."})
    return cleaned


@transaction.atomic
def complete_review(
    *,
    actor: User,
    review: Review,
    outcome: str,
    answers: Mapping[str, str],
    conditions: str = "",
    now: datetime | None = None,
) -> Review:
    """Officers only. Every checklist question answered; conditions required for an approval with
    conditions. Signs off (actor, now) and schedules the next review from the policy."""
    _require_officer(actor)
    now = now or timezone.now()
    review = _lock_open(review)
    errors = {}
    if outcome not in choices.ReviewOutcome.values:
        errors["outcome"] = f"Choose one of: {', '.join(choices.ReviewOutcome.values)}."
    conditions = (conditions or "").strip()
    if outcome == choices.ReviewOutcome.APPROVED_WITH_CONDITIONS and not conditions:
        errors["conditions"] = "State the conditions of the approval."
    elif conditions and outcome != choices.ReviewOutcome.APPROVED_WITH_CONDITIONS:
        errors["conditions"] = "Only an approval with conditions has conditions."
    try:
        cleaned = _check_answers(review, answers)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    review.status = choices.ReviewStatus.COMPLETED
    review.outcome, review.answers, review.conditions = outcome, cleaned, conditions
    review.reviewer = review.reviewer or actor
    review.signed_off_by, review.signed_off_at = actor, now
    review.save()
    schedule_next(system=review.system, after=now, actor=actor)
    return review


@transaction.atomic
def waive_review(*, actor: User, review: Review, reason: str, now: datetime | None = None) -> Review:
    """Officers only; a reason is required. Schedules the next review from the policy."""
    _require_officer(actor)
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the review is waived."})
    review = _lock_open(review)
    review.status = choices.ReviewStatus.WAIVED
    review.waived_reason = reason
    review.save(update_fields=["status", "waived_reason", "updated_at"])
    schedule_next(system=review.system, after=now, actor=actor)
    return review
