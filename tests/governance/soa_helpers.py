"""Constants and helpers for the Statement of Applicability tests.

The ``iso`` catalog and ``scenario`` fixtures built from these are in ``tests/governance/conftest.py``.
"""

import datetime
import hashlib

from django.utils import timezone

from governance.choices import ImplementationStatus
from governance.models import Control, ControlImplementation, Evidence

TODAY = timezone.localdate()
ANNEX_A = [
    ("A.2.2", "AI policy", "A.2"),
    ("A.2.3", "Alignment with other organizational policies", "A.2"),
    ("A.2.4", "Review of the AI policy", "A.2"),
    ("A.6.1.2", "Objectives for responsible development of AI system", "A.6.1"),
    ("A.6.1.3", "Processes for responsible AI system design and development", "A.6.1"),
]
ORG_STATUSES = {
    "A.2.2": "implemented",
    "A.2.3": "not_started",
    "A.2.4": "not_applicable",
    "A.6.1.2": "no_control",
    "A.6.1.3": "not_started",
}
SYSTEM_STATUSES = {**ORG_STATUSES, "A.2.4": "in_progress", "A.6.1.3": "implemented"}
HYPERLINK = '=HYPERLINK("http://x","y")'


def _control(code, *requirements, title=None):
    control = Control.objects.create(
        code=code, title=title or code.replace("-", " "), control_type="process", frequency="annual"
    )
    control.requirements.set(requirements)
    return control


def _implementation(control, system=None, status=ImplementationStatus.IMPLEMENTED):
    return ControlImplementation.objects.create(control=control, system=system, status=status)


def _evidence(title, *, team=None, valid_until=None, implementations=(), requirements=()):
    evidence = Evidence.objects.create(
        title=title,
        kind="link",
        url="https://example.com/evidence",
        collected_on=TODAY - datetime.timedelta(days=30),
        valid_until=valid_until,
        sha256=hashlib.sha256(title.encode()).hexdigest(),
        team=team,
    )
    evidence.implementations.set(implementations)
    evidence.requirements.set(requirements)
    return evidence


def _by_ref(statement):
    return {entry["ref_id"]: entry for entry in statement}


def _statement_url(system=None, **extra):
    url = "/api/v1/soa/?framework=iso-iec-42001"
    if system:
        url += f"&system={system}"
    return url + "".join(f"&{key}={value}" for key, value in extra.items())


def _export_url(kind, system=None):
    url = f"/api/v1/soa/export/?framework=iso-iec-42001&format={kind}"
    return url + (f"&system={system}" if system else "")


def _put_applicability(client, **body):
    payload = {"framework": "iso-iec-42001", "ref_id": "A.2.3", "applicable": True, **body}
    return client.put("/api/v1/soa/applicability/", payload, format="json")
