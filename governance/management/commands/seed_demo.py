from django.core.management.base import BaseCommand

from governance.services.demo import DEMO_PASSWORD, PEOPLE, seed_demo


class Command(BaseCommand):
    help = "Create the demo organisation (idempotent: a second run writes nothing)."

    def handle(self, *args, **options):
        written = seed_demo()
        summary = ", ".join(f"{count} {kind}" for kind, count in written.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data in place (rows written: {summary})."))
        if options["verbosity"] >= 1:
            logins = ", ".join(f"{username} ({role})" for username, _, _, role, _ in PEOPLE)
            self.stdout.write(f"Demo logins, password '{DEMO_PASSWORD}': {logins}")
