"""Periodic reviews: which policy paces a system, scheduling, completing, waiving, material changes.

(Interface; implemented with the review scans.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from governance.models import AISystem, Review, ReviewPolicy, User


def policy_for(system: AISystem) -> ReviewPolicy:
    """The policy of the system's risk tier and EU AI Act class, else of its tier, else the
    defaults (an unsaved policy: 90/180/365/730 days, reminders 30, 7 and 1 days, escalation 7)."""
    raise NotImplementedError


def schedule_next(*, system: AISystem, after: datetime, actor: User | None = None) -> Review:
    """Schedule the system's next cadence review ``policy.cadence_days`` after ``after``, unless one
    is already open (then return that one)."""
    raise NotImplementedError


def require_review_now(*, system: AISystem, reason: str, actor: User | None = None) -> Review:
    """A material change: make a review due now (an open review is brought forward, else one is
    created with trigger ``material_change``)."""
    raise NotImplementedError


def start_review(*, actor: User, review: Review) -> Review:
    """An officer takes the review on: status ``in_progress``, reviewer = actor."""
    raise NotImplementedError


def complete_review(
    *, actor: User, review: Review, outcome: str, answers: Mapping[str, str], conditions: str = ""
) -> Review:
    """Officers only. Every checklist question answered; conditions required for an approval with
    conditions. Signs off (actor, now) and schedules the next review from the policy."""
    raise NotImplementedError


def waive_review(*, actor: User, review: Review, reason: str) -> Review:
    """Officers only; a reason is required. Schedules the next review from the policy."""
    raise NotImplementedError
