"""Sign-in lockouts: which accounts are locked after failed admin logins, and unlocking them.

django-axes counts failed logins (``AccessAttempt`` rows, one per username, address and browser)
and refuses a username from an address once that pair has failed ``AXES_FAILURE_LIMIT`` times,
the last within ``AXES_COOLOFF_TIME`` (config/settings.py). ``with_lock_ends`` reads the same rows
the same way, so the users page shows the locks axes enforces; ``unlock`` clears them.
"""

from datetime import timedelta

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db.models import ExpressionWrapper, Max, OuterRef, QuerySet, Subquery, Sum
from django.db.models.fields import DateTimeField
from django.utils import timezone

from governance.exceptions import NotAllowed


def cool_off() -> timedelta:
    """How long a lock lasts after the last failed attempt."""
    return get_cool_off()


def with_lock_ends(users: QuerySet, now=None) -> QuerySet:
    """Annotate ``sign_in_locked_until``: when the latest lock of each user ends (None: not locked).

    Failures are summed per address, as axes sums them for its lockout parameters
    (username and address together)."""
    now = now or timezone.now()
    locks = (
        AccessAttempt.objects.filter(username=OuterRef("username"), attempt_time__gte=now - cool_off())
        .values("ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("-last")
        .values("last")[:1]
    )
    return users.annotate(
        sign_in_locked_until=ExpressionWrapper(Subquery(locks) + cool_off(), output_field=DateTimeField())
    )


def unlock(*, actor, user) -> int:
    """Clear ``user``'s failed logins from every address, which ends any lock at once; returns how
    many records were cleared. Only those who may change users (officers) may unlock."""
    if not actor.has_perm("governance.change_user"):
        raise NotAllowed("Only officers can unlock a sign-in.")
    return reset(username=user.get_username())
