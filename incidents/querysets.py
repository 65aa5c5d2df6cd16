"""Query sets of the incidents app; ``visible_to(user)`` scopes every read."""

from django.db import models


class IncidentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Officers, auditors and superusers see every incident; engineers their teams' systems'."""
        from governance.models import AISystem

        systems = AISystem.objects.visible_to(user)
        if systems.query.is_empty():
            return self.none()
        if user.sees_everything:
            return self
        return self.filter(system__owning_team_id__in=user.team_ids())


class ChildOfIncidentQuerySet(models.QuerySet):
    """Timeline entries and corrective actions follow their incident's visibility."""

    def visible_to(self, user):
        from incidents.models import Incident

        return self.filter(incident__in=Incident.objects.visible_to(user).values("pk"))


class ReferenceIncidentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Public reference data: readable by every role."""
        from governance.models import Framework

        return self if not Framework.objects.visible_to(user).query.is_empty() else self.none()
