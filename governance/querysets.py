"""Query sets of the governance app.

``visible_to(user)`` is the single scoping path used by the admin, the API and exports: an
object outside it does not exist for that user (the API answers 404).
"""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import F

from governance import choices


def _has_any_role(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.role_names())
    )


def scoped(queryset, user, own_rows):
    """Nothing without a role; everything for officers, auditors and superusers; otherwise the
    rows that ``own_rows()`` (a Q object built for the user's teams) selects."""
    if not _has_any_role(user):
        return queryset.none()
    if user.sees_everything:
        return queryset
    return queryset.filter(own_rows())


class TeamQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The team directory is visible to everyone holding a Verity role."""
        return self if _has_any_role(user) else self.none()


class AIModelQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The model catalogue is shared by all teams."""
        return self if _has_any_role(user) else self.none()


class AISystemQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every system; engineers their teams' systems."""
        return scoped(self, user, lambda: models.Q(owning_team_id__in=user.team_ids()))

    def with_related(self):
        """The names a list or detail shows, as columns of the one query.

        Team and owner names come as annotations instead of related instances; the model links
        are loaded for a whole page at once by ``load_link_rows()`` (see the API serializer).
        """
        return self.annotate(
            owning_team_slug=F("owning_team__slug"),
            business_owner_username=F("business_owner__username"),
            technical_owner_username=F("technical_owner__username"),
        )


def system_visible_to(system, user) -> bool:
    """For one loaded system, the answer ``AISystem.objects.visible_to(user)`` gives (a test keeps
    the two equal): for hot paths that look the system up without the ORM."""
    if not _has_any_role(user):
        return False
    return user.sees_everything or system.owning_team_id in user.team_ids()


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers and auditors see every token (never its secret); others only their own."""
        if not _has_any_role(user):
            return self.none()
        if user.sees_everything:
            return self
        return self.filter(user=user)

    def usable(self):
        from django.utils import timezone

        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ChangeEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        if _has_any_role(user) and user.sees_everything:
            return self
        return self.none()

    def for_object(self, obj):
        """Events of an object and of the rows filed under it (e.g. a system's model links).

        A row that is itself filed under another aggregate (an implementation under its control)
        still shows its own events.
        """
        table, pk = obj._meta.db_table, str(obj.pk)
        return self.filter(models.Q(root_table=table, root_pk=pk) | models.Q(table_name=table, object_pk=pk))


class CatalogQuerySet(models.QuerySet):
    """Frameworks and mappings: reference data, readable by every role."""

    def visible_to(self, user):
        return self if _has_any_role(user) else self.none()


class RequirementQuerySet(CatalogQuerySet):
    def assessable(self):
        return self.filter(assessable=True)


class ControlQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The control library is shared by all teams."""
        return self if _has_any_role(user) else self.none()


class ScopedToSystemQuerySet(models.QuerySet):
    """Rows for one system or organisation-wide (``system`` empty)."""

    def visible_to(self, user):
        """Organisation-wide rows are visible to every role; per-system rows follow the system."""
        return scoped(
            self,
            user,
            lambda: models.Q(system__isnull=True) | models.Q(system__owning_team_id__in=user.team_ids()),
        )


def _where(queryset, condition: models.Q, wanted: bool):
    return queryset.filter(condition) if wanted else queryset.exclude(condition)


def _flag(condition: models.Q) -> models.Case:
    """``condition`` as a true/false column (false, not null, where a compared date is empty)."""
    return models.Case(
        models.When(condition, then=models.Value(True)),
        default=models.Value(False),
        output_field=models.BooleanField(),
    )


class ControlImplementationQuerySet(ScopedToSystemQuerySet):
    def test_overdue(self, today: datetime.date, overdue: bool = True):
        """Implementations whose next test was due before ``today`` (or, with ``overdue=False``,
        the others, those without a next test date included)."""
        return _where(self, models.Q(next_test_due__lt=today), overdue)


class RiskQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Risks follow their system's visibility."""
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))

    def review_due(self, today: datetime.date, due: bool = True):
        """Risks whose review date is ``today`` or has passed (or, with ``due=False``, the others)."""
        return _where(self, models.Q(review_on__lte=today), due)


def evidence_expired_q(today: datetime.date, prefix: str = "") -> models.Q:
    """Evidence is valid through its ``valid_until`` day: expired from the day after. ``prefix``
    reaches the evidence through a relation (``"evidence__"``)."""
    return models.Q(**{f"{prefix}valid_until__lt": today})


def evidence_expired(today: datetime.date, prefix: str = "") -> models.Case:
    """Whether the evidence has expired on ``today``, as a true/false column."""
    return _flag(evidence_expired_q(today, prefix))


class EvidenceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Organisation-wide evidence is visible to every role; team evidence to that team."""
        return scoped(self, user, lambda: models.Q(team__isnull=True) | models.Q(team_id__in=user.team_ids()))

    def with_expiry(self, today: datetime.date):
        """Each row's ``expired`` (true or false) on ``today``."""
        return self.annotate(expired=evidence_expired(today))

    def expired(self, today: datetime.date, expired: bool = True):
        """Evidence expired on ``today`` (or, with ``expired=False``, still valid or open-ended)."""
        return _where(self, evidence_expired_q(today), expired)


# --- Reviews: the due-date rule, written once ----------------------------------------------------
#
# A review is open while scheduled, in progress or overdue (``OPEN_REVIEW_STATUSES``). An open review
# is overdue once its due date has passed, whatever its stored status says (the review scan marks it
# ``overdue`` a few minutes later); due soon within ``REVIEW_DUE_SOON`` of it (the due date itself
# included); not yet due before that. A completed or waived review is that, whenever it was due.
# ``with_due_state(now)`` annotates the state, and the admin, the API, the evidence packs and the
# review scan use it or the Q objects below.

REVIEW_DUE_SOON = datetime.timedelta(days=7)


def review_open_q() -> models.Q:
    return models.Q(status__in=choices.OPEN_REVIEW_STATUSES)


def review_overdue_q(now: datetime.datetime) -> models.Q:
    return review_open_q() & models.Q(due_at__lt=now)


def review_due_soon_q(now: datetime.datetime) -> models.Q:
    return review_open_q() & models.Q(due_at__gte=now, due_at__lte=now + REVIEW_DUE_SOON)


def review_due_state(now: datetime.datetime) -> models.Case:
    """The :class:`~governance.choices.ReviewDueState` of a review at ``now`` (first match wins)."""
    state = choices.ReviewDueState
    return models.Case(
        models.When(status=choices.ReviewStatus.COMPLETED, then=models.Value(state.COMPLETED.value)),
        models.When(status=choices.ReviewStatus.WAIVED, then=models.Value(state.WAIVED.value)),
        models.When(review_overdue_q(now), then=models.Value(state.OVERDUE.value)),
        models.When(review_due_soon_q(now), then=models.Value(state.DUE_SOON.value)),
        default=models.Value(state.UPCOMING.value),
        output_field=models.CharField(),
    )


class ReviewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Reviews of the systems the user sees."""
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))

    def open(self):
        return self.filter(review_open_q())

    def with_due_state(self, now: datetime.datetime):
        """Each review's ``due_state`` at ``now`` (see the rule above)."""
        return self.annotate(due_state=review_due_state(now))

    def overdue(self, now: datetime.datetime, overdue: bool = True):
        """Open reviews past their due date at ``now`` (or, with ``overdue=False``, the others)."""
        return self.filter(review_overdue_q(now)) if overdue else self.exclude(review_overdue_q(now))

    def due_soon(self, now: datetime.datetime):
        """Open reviews due within ``REVIEW_DUE_SOON`` of ``now``, not yet overdue."""
        return self.filter(review_due_soon_q(now))

    def due_within(self, now: datetime.datetime, days: int):
        """Open reviews due by ``days`` days from ``now``, the overdue ones included."""
        return self.open().filter(due_at__lte=now + datetime.timedelta(days=days))


class OwnRowsQuerySet(models.QuerySet):
    """Rows that belong to one user (``owner_field``): officers see all, everyone else their own."""

    owner_field = "user"

    def visible_to(self, user):
        if not _has_any_role(user):
            return self.none()
        if user.is_superuser or user.has_role("officer"):
            return self
        return self.filter(**{self.owner_field: user})


class NotificationQuerySet(OwnRowsQuerySet):
    owner_field = "recipient"

    def unread_in_app(self, user):
        return self.filter(recipient=user, channel="in_app", read_at__isnull=True, status="sent")


class NotificationPreferenceQuerySet(OwnRowsQuerySet):
    owner_field = "user"


class WebhookEndpointQuerySet(OwnRowsQuerySet):
    owner_field = "owner"


class TransparencyAssessmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Assessments of AI models are shared like the model catalogue; those of AI systems follow
        the system's visibility."""
        return scoped(
            self,
            user,
            lambda: models.Q(model__isnull=False) | models.Q(system__owning_team_id__in=user.team_ids()),
        )


class AssessmentAnswerQuerySet(models.QuerySet):
    def visible_to(self, user):
        from governance.models import TransparencyAssessment

        return self.filter(assessment__in=TransparencyAssessment.objects.visible_to(user).values("pk"))
