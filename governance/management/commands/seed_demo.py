from django.core.management.base import BaseCommand, CommandError

from governance.services.catalogs import CatalogError, load_catalogs
from governance.services.demo import DEMO_PASSWORD, PEOPLE, seed_demo
from governance.services.demo_controls import CatalogsMissing


class Command(BaseCommand):
    help = (
        "Load the framework catalogs, then create the demo organisation and its governance programme "
        "(idempotent: a second run writes nothing)."
    )

    def handle(self, *args, **options):
        try:
            # The demo controls map to catalog requirements; loading is a no-op when they are current.
            load_catalogs()
        except CatalogError as exc:
            raise CommandError(f"Could not load the framework catalogs the demo data needs: {exc}") from exc
        try:
            written = seed_demo()
        except CatalogsMissing as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{count} {kind}" for kind, count in written.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data in place (rows written: {summary})."))
        if options["verbosity"] >= 1:
            logins = ", ".join(f"{username} ({role})" for username, _, _, role, _ in PEOPLE)
            self.stdout.write(f"Demo logins, password '{DEMO_PASSWORD}': {logins}")
