"""Query sets of the incidents app; ``visible_to(user)`` scopes every read, through the same
helpers as the governance app's."""

from datetime import datetime

from django.db import models

from governance.querysets import CatalogQuerySet, scoped
from incidents import clock_rules


class IncidentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every incident; engineers their teams' systems'."""
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))

    def with_clocks(self, now: datetime):
        """Each incident's clock states at ``now``: ``respond_state`` and ``resolve_state``
        (``SlaStepState``) and ``report_state`` (``ReportState``), by the rules of
        ``incidents.clock_rules``. Every display of a clock state reads these."""
        return self.annotate(**clock_rules.clock_annotations(now))

    def with_names(self):
        """The names an incident shows for its system, team, reporter and original (of a
        duplicate), as columns of the one query: the API reads them (``annotated_name``) instead
        of loading each related row."""
        return self.annotate(
            system_slug=models.F("system__slug"),
            team_slug=models.F("team__slug"),
            reporter_username=models.F("reporter__username"),
            duplicate_of_reference=models.F("duplicate_of__reference"),
        )

    def sla_breached(self, now: datetime, breached: bool = True):
        """Incidents whose response or resolution SLA is breached at ``now`` (or, with
        ``breached=False``, is not)."""
        return _where(self, clock_rules.sla_breached_q(now), breached)

    def report_overdue(self, now: datetime, overdue: bool = True):
        """Serious incidents whose Art. 73 initial report is overdue at ``now`` (or the others)."""
        return _where(self, clock_rules.report_overdue_q(now), overdue)

    def report_due_soon(self, now: datetime, due_soon: bool = True):
        """Serious incidents whose Art. 73 initial report is due soon at ``now`` (or the others)."""
        return _where(self, clock_rules.report_due_soon_q(now), due_soon)


def _where(queryset, condition: models.Q, wanted: bool):
    return queryset.filter(condition) if wanted else queryset.exclude(condition)


class ChildOfIncidentQuerySet(models.QuerySet):
    """Timeline entries and corrective actions follow their incident's visibility."""

    def visible_to(self, user):
        from incidents.models import Incident

        return self.filter(incident__in=Incident.objects.visible_to(user).values("pk"))


class ReferenceIncidentQuerySet(CatalogQuerySet):
    """Public reference data: readable by every role."""


class SystemScopedQuerySet(models.QuerySet):
    """Evaluation runs, findings and limits: visible with their AI system."""

    # The name each relation shows: (annotation, path), for the relations the model has.
    _NAMES = {
        "system": ("system_slug", "system__slug"),
        "team": ("team_slug", "team__slug"),
        "reporter": ("reporter_username", "reporter__username"),
        "incident": ("incident_reference", "incident__reference"),
    }

    def visible_to(self, user):
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))

    def with_names(self):
        """The names a run, finding or limit shows for its system, team, reporter and incident
        (those of them it has), as columns of the one query: the API reads them
        (``annotated_name``) instead of loading each related row."""
        own = {field.name for field in self.model._meta.get_fields()}
        return self.annotate(
            **{name: models.F(path) for relation, (name, path) in self._NAMES.items() if relation in own}
        )


class EvaluationSampleQuerySet(models.QuerySet):
    def visible_to(self, user):
        from incidents.models import EvaluationRun

        return self.filter(run__in=EvaluationRun.objects.visible_to(user).values("pk"))
