"""The evidence pack task: a thin wrapper, the work is in ``governance.services.pack_builds``."""

from celery import shared_task
from celery.signals import worker_process_init

from governance.packs import report
from governance.services import pack_builds


@worker_process_init.connect
def load_pdf_renderer(**_kwargs) -> None:
    """Each worker process loads WeasyPrint and its fonts as it starts, not during a pack build."""
    report.warm_up()


@shared_task(name="governance.tasks.build_evidence_pack")
def build_evidence_pack(pack_id: int) -> str:
    """Build one queued evidence pack; returns its status."""
    return pack_builds.run_pack(pack_id=pack_id).status
