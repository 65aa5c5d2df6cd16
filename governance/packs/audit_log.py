"""``audit_log.jsonl``: the audit chain's segment for the pack's period, one event per line with its
link, so ``verify.py`` can recompute every event hash and chain hash offline.

Used only when this installation keeps an audit chain (``governance.services.audit_chain``).
"""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from governance.packs import PackScope

MEMBER = "audit_log.jsonl"


def chain_module():
    try:
        return importlib.import_module("governance.services.audit_chain")
    except ImportError:
        return None


def canonical_source() -> str | None:
    """The source of the canonical event form, embedded in ``verify.py``; ``None`` without a chain."""
    try:
        module = importlib.import_module("governance.audit_canonical")
    except ImportError:
        return None
    return Path(module.__file__).read_text(encoding="utf-8")


def head() -> dict:
    chain = chain_module()
    if chain is None:
        return {"seq": None, "chain_hash": None, "note": "this installation keeps no audit chain"}
    seq, chain_hash, sealed_at = chain.head()
    return {"seq": seq, "chain_hash": chain_hash, "sealed_at": sealed_at.isoformat() if sealed_at else None}


def _bounds(scope: PackScope) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_current_timezone()
    start = scope.start or datetime.date(1970, 1, 1)
    end = (scope.end or timezone.localdate()) + datetime.timedelta(days=1)
    return (
        datetime.datetime.combine(start, datetime.time.min, tzinfo=zone),
        datetime.datetime.combine(end, datetime.time.min, tzinfo=zone),
    )


def segment_lines(scope: PackScope, summary: dict) -> Iterator[bytes]:
    """JSON lines of the period's chain segment; ``summary`` receives what the manifest records."""
    chain = chain_module()
    canonical = importlib.import_module("governance.audit_canonical")
    start, end = _bounds(scope)
    summary.update(start=start.isoformat(), end=end.isoformat(), lines=0, first_seq=None, last_seq=None)
    summary.update(prev_chain_hash=None, last_chain_hash=None)
    for link, event in chain.chain_segment(start=start, end=end):
        if summary["first_seq"] is None:
            summary["first_seq"] = link["seq"]
            summary["prev_chain_hash"] = chain.link_before(link["seq"])
        if event is not None:
            event = {**event, "occurred_at": canonical.canonical_time(event["occurred_at"])}
        line = {
            "seq": link["seq"],
            "event_id": link["event_id"],
            "event_hash": link["event_hash"],
            "chain_hash": link["chain_hash"],
            "event": event,
        }
        summary["lines"] += 1
        summary["last_seq"] = link["seq"]
        summary["last_chain_hash"] = link["chain_hash"]
        yield (json.dumps(line, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")
