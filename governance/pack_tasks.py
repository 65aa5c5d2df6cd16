"""The evidence pack task: a thin wrapper, the work is in ``governance.services.pack_builds``."""

from celery import shared_task

from governance.services import pack_builds


@shared_task(name="governance.tasks.build_evidence_pack")
def build_evidence_pack(pack_id: int) -> str:
    """Build one queued evidence pack; returns its status."""
    return pack_builds.run_pack(pack_id=pack_id).status
