from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.choices import RequirementKind
from governance.services.catalogs import CATALOG_ROOT, CatalogError, load_catalogs


class Command(BaseCommand):
    help = (
        "Load the framework catalogs, mappings and transparency indicator sets from governance/catalogs/ "
        "(idempotent: a second run writes nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--root", type=Path, default=CATALOG_ROOT, help="Catalog folder (default: the shipped catalogs)."
        )

    def handle(self, *args, **options):
        try:
            result = load_catalogs(options["root"])
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] < 1:
            return
        labels = dict(RequirementKind.choices)
        for key, info in result["frameworks"].items():
            kinds = ", ".join(f"{count} {labels[kind].lower()}" for kind, count in info["kinds"].items())
            self.stdout.write(
                f"{info['name']} [{key}, framework {info['framework']}]: {info['rows']} requirements "
                f"({kinds}); created {info['created']}, updated {info['updated']}, "
                f"unchanged {info['unchanged']}"
            )
            if info["not_in_file"]:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {info['not_in_file']} requirements in the database are no longer in the file"
                    )
                )
        for name, info in result["mappings"].items():
            self.stdout.write(
                f"mappings/{name}: {info['rows']} mappings; created {info['created']}, "
                f"updated {info['updated']}, unchanged {info['unchanged']}, kept {info['kept']}"
            )
            if info["kept"]:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {info['kept']} mappings kept as officers recorded or changed them "
                        "(the file's values were not applied)"
                    )
                )
        for key, info in result.get("indicator_sets", {}).items():
            domains = ", ".join(f"{domain} {count}" for domain, count in info["domains"].items())
            self.stdout.write(
                f"{info['name']} [{key}, set {info['set']}]: {info['rows']} indicators ({domains}); "
                f"created {info['created']}, updated {info['updated']}, unchanged {info['unchanged']}"
            )
            if info["not_in_file"]:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {info['not_in_file']} indicators in the database are no longer in the file"
                    )
                )
        self.stdout.write(self.style.SUCCESS("Catalogs loaded."))
