import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from incidents.services.references import AIID_DIR, ReferenceImportError, import_aiid


class Command(BaseCommand):
    help = (
        "Import the AI Incident Database export (incidents.csv with its MIT and CSET v1 "
        "classifications) as reference incidents (idempotent: a second run writes nothing). "
        "Data: AI Incident Database, CC BY-SA 4.0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "directory",
            nargs="?",
            type=Path,
            default=AIID_DIR,
            help=(
                "Folder of a downloaded AIID export (default: the snapshot shipped in "
                "incidents/data/aiid, see its README)."
            ),
        )

    def handle(self, *args, **options):
        started = time.perf_counter()
        try:
            result = import_aiid(options["directory"])
        except ReferenceImportError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] < 1:
            return
        self.stdout.write(
            f"{result['rows']} AIID incidents ({result['with_mit']} with an MIT risk domain, "
            f"{result['with_cset']} with a CSET v1 classification); created {result['created']}, "
            f"updated {result['updated']}, unchanged {result['unchanged']}"
        )
        if result["not_in_file"]:
            self.stdout.write(
                self.style.WARNING(
                    f"  {result['not_in_file']} reference incidents in the database are no longer in the file"
                )
            )
        if result["unmatched_classifications"]:
            self.stdout.write(
                self.style.WARNING(
                    f"  {result['unmatched_classifications']} classifications name no incident of the file"
                )
            )
        self.stdout.write(self.style.SUCCESS(f"AIID imported in {time.perf_counter() - started:.2f} s."))
