from datetime import timedelta

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from governance.choices import Role, TokenScope
from governance.models import Team, TeamMembership, User
from governance.services import tokens


class Command(BaseCommand):
    help = (
        "Issue an API token for a user, or for a service account (created if needed with "
        "--service-account and --team). Prints the token once."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="Username of an existing account.")
        who.add_argument("--service-account", help="Service account name; created as an engineer if missing.")
        parser.add_argument("--team", help="Team slug the new service account belongs to.")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'payments CI'.")
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.READ)
        parser.add_argument("--expires-in-days", type=int, default=90)
        parser.add_argument("--never-expires", action="store_true")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Revoke the account's usable tokens of the same name (rotation).",
        )

    @transaction.atomic
    def handle(self, *args, **opts):
        if opts["user"]:
            user = User.objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user named {opts['user']!r}.")
        else:
            user = self._service_account(opts["service_account"], opts["team"])
        if opts["expires_in_days"] <= 0 and not opts["never_expires"]:
            raise CommandError("--expires-in-days must be positive (or use --never-expires).")
        if opts["replace"]:
            for old in user.api_tokens.usable().filter(name=opts["name"]):
                tokens.revoke_token(actor=user, token=old)
        issued = tokens.issue_token(
            actor=None,
            user=user,
            name=opts["name"],
            scope=opts["scope"],
            expires_at=None
            if opts["never_expires"]
            else timezone.now() + timedelta(days=opts["expires_in_days"]),
            never_expires=opts["never_expires"],
        )
        self.stderr.write(
            f"Token {issued.token.prefix} for {user.username} ({issued.token.scope}); "
            "copy it now, it cannot be shown again:"
        )
        self.stdout.write(issued.secret)

    def _service_account(self, name: str, team_slug: str | None) -> User:
        user = User.objects.filter(username=name).first()
        if user is not None:
            if not user.is_service_account:
                raise CommandError(f"{name!r} is a person's account, not a service account.")
            return user
        if not team_slug:
            raise CommandError("A new service account needs --team.")
        team = Team.objects.filter(slug=team_slug).first()
        if team is None:
            raise CommandError(f"No team with slug {team_slug!r}.")
        user = User(username=name, is_service_account=True)
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=Role.ENGINEER))
        TeamMembership.objects.create(team=team, user=user)
        return user
