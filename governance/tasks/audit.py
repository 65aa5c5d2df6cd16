"""Beat tasks of the audit chain: sealing (every 30 s) and anchoring the head (every 5 minutes).

Thin wrappers around ``governance.services.audit_chain``.
"""

from celery import shared_task

from governance.services import audit_chain


@shared_task(name="governance.tasks.seal_audit_chain")
def seal_audit_chain() -> int:
    """Append every final, unsealed change event to the chain; returns how many were sealed."""
    return audit_chain.seal_all()


@shared_task(name="governance.tasks.anchor_audit_head")
def anchor_audit_head() -> list[str]:
    """Publish the chain head to the configured sinks; returns the sinks written to."""
    return [anchor.sink for anchor in audit_chain.publish_head()]
