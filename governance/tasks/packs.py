"""The evidence pack tasks: thin wrappers around ``governance.services.pack_builds`` (a build)
and ``governance.services.pack_queue`` (the sweep that leaves no pack unfinished for good)."""

from celery import shared_task
from celery.signals import worker_process_init

from governance.packs import report
from governance.services import pack_builds, pack_queue


@worker_process_init.connect
def load_pdf_renderer(**_kwargs) -> None:
    """Each worker process loads WeasyPrint and its fonts as it starts, not during a pack build."""
    report.warm_up()


@shared_task(name="governance.tasks.build_evidence_pack")
def build_evidence_pack(pack_id: int) -> str:
    """Build one queued evidence pack (or take over one whose build died); returns its status, or
    ``missing`` when the request that queued it was rolled back."""
    pack = pack_builds.run_pack(pack_id=pack_id)
    return pack.status if pack is not None else "missing"


@shared_task(name="governance.tasks.sweep_evidence_packs")
def sweep_evidence_packs() -> dict:
    """Beat, every minute: fail packs past their bound, build again those whose worker died, send
    again the builds whose message was lost; returns how many of each."""
    return pack_queue.sweep()
