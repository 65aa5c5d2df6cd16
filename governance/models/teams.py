from django.contrib.auth.models import AbstractUser
from django.db import models

from governance.choices import Role
from governance.querysets import TeamQuerySet


class User(AbstractUser):
    """A person, or a service account that only talks to the API with tokens."""

    is_service_account = models.BooleanField(
        default=False,
        help_text="A non-human account for a service or CI pipeline: no password, tokens only.",
    )

    class Meta:
        db_table = "governance_user"

    def role_names(self) -> frozenset[str]:
        """The Verity roles held through groups; cached per instance (one query)."""
        if not hasattr(self, "_role_names"):
            names = self.groups.filter(name__in=Role.values).values_list("name", flat=True)
            self._role_names = frozenset(names)
        return self._role_names

    def has_role(self, role: str) -> bool:
        return self.is_active and (role in self.role_names())

    @property
    def sees_everything(self) -> bool:
        """Officers, auditors and superusers see the whole register."""
        return self.is_active and (
            self.is_superuser or bool(self.role_names() & {Role.OFFICER, Role.AUDITOR})
        )

    def team_ids(self) -> list[int]:
        if not hasattr(self, "_team_ids"):
            self._team_ids = list(self.team_memberships.values_list("team_id", flat=True))
        return self._team_ids


class Team(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    contact_email = models.EmailField(blank=True, help_text="Where notifications for this team go.")
    members = models.ManyToManyField(User, through="TeamMembership", related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")
    is_lead = models.BooleanField(
        "team lead", default=False, help_text="Overdue reviews of the team's systems escalate to its leads."
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_team_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
