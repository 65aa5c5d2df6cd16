import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.services.fmti_import import FLAGSHIPS_FILE, FMTI_DIR, FMTIImportError, import_fmti


class Command(BaseCommand):
    help = (
        "Import the published Foundation Model Transparency Index scores (2023, 2024, 2025) as final "
        "assessments of each developer's flagship model (idempotent: a second run writes nothing). "
        "Data: Foundation Model Transparency Index, Stanford CRFM, CC BY 4.0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "directory",
            nargs="?",
            type=Path,
            default=FMTI_DIR,
            help=(
                "Folder of downloaded FMTI data in the upstream layout (default: the copy shipped "
                "in governance/data/fmti, see its README)."
            ),
        )
        parser.add_argument(
            "--flagships",
            type=Path,
            default=FLAGSHIPS_FILE,
            help="CSV naming each developer's flagship model per edition (default: the shipped mapping).",
        )

    def handle(self, *args, **options):
        started = time.perf_counter()
        try:
            result = import_fmti(options["directory"], flagships=options["flagships"])
        except FMTIImportError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] < 1:
            return
        for year, info in result["editions"].items():
            self.stdout.write(
                f"FMTI {year}: {info['developers']} developers, {info['satisfied']} indicators satisfied"
            )
        for kind in ("models", "assessments", "answers"):
            info = result[kind]
            self.stdout.write(
                f"{kind}: created {info['created']}, updated {info['updated']}, unchanged {info['unchanged']}"
            )
        self.stdout.write(f"scores recomputed: {result['scored']}")
        self.stdout.write(self.style.SUCCESS(f"FMTI imported in {time.perf_counter() - started:.2f} s."))
