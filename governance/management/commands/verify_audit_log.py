"""``manage.py verify_audit_log``: check the whole audit chain, optionally against a file anchor."""

from django.core.management.base import BaseCommand, CommandError

from governance.services import audit_chain


class Command(BaseCommand):
    help = (
        "Recompute the audit chain from its first link. Exits 0 with the head, or 1 naming the first "
        "bad event (changed, deleted, reordered, or a link missing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from-seq", type=int, default=1, help="Start at this link (default: 1).")
        parser.add_argument(
            "--workers",
            type=int,
            help="Processes that share a long chain's checking (default: one per CPU; 1: this one only).",
        )
        parser.add_argument(
            "--anchor-file",
            help="A file sink (JSON lines): the chain must still hold the last head published there.",
        )

    def handle(self, *args, from_seq: int, workers: int | None, anchor_file: str | None, **options):
        if workers is not None and workers < 1:
            raise CommandError("--workers must be 1 or more")
        result = audit_chain.verify(from_seq=from_seq, workers=workers)
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if not result.ok:
            self.stdout.write(
                f"BAD: seq {result.first_bad_seq}, event {result.first_bad_event_id} "
                f"({result.first_bad_table or '?'} #{result.first_bad_object or '?'}): {result.reason}"
            )
            raise CommandError(f"audit chain broken at seq {result.first_bad_seq}", returncode=1)
        if anchor_file:
            anchor = audit_chain.last_file_anchor(anchor_file)
            if anchor is None:
                raise CommandError(f"no anchor in {anchor_file}", returncode=1)
            if problem := audit_chain.check_anchor(anchor):
                self.stdout.write(f"BAD: anchor mismatch: {problem}")
                raise CommandError("audit chain does not match its published anchor", returncode=1)
        self.stdout.write(f"OK: {result.checked} events, head seq {result.head_seq} hash {result.head_hash}")
