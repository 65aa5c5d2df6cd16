"""Query sets of the incidents app; ``visible_to(user)`` scopes every read, through the same
helpers as the governance app's."""

from django.db import models

from governance.querysets import CatalogQuerySet, scoped


class IncidentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every incident; engineers their teams' systems'."""
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))


class ChildOfIncidentQuerySet(models.QuerySet):
    """Timeline entries and corrective actions follow their incident's visibility."""

    def visible_to(self, user):
        from incidents.models import Incident

        return self.filter(incident__in=Incident.objects.visible_to(user).values("pk"))


class ReferenceIncidentQuerySet(CatalogQuerySet):
    """Public reference data: readable by every role."""


class SystemScopedQuerySet(models.QuerySet):
    """Evaluation runs, findings and limits: visible with their AI system."""

    def visible_to(self, user):
        return scoped(self, user, lambda: models.Q(system__owning_team_id__in=user.team_ids()))


class EvaluationSampleQuerySet(models.QuerySet):
    def visible_to(self, user):
        from incidents.models import EvaluationRun

        return self.filter(run__in=EvaluationRun.objects.visible_to(user).values("pk"))
