"""The audit chain's fast paths: the canonical form from row values, and checking ranges in parallel.

The parallel check forks worker processes with their own connections, so these tests commit for
real (``transaction=True``) and shrink the threshold and the range size to reach it on a few links.
"""

import json
import signal
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command

from governance.audit_canonical import COLUMNS, canonical_event, canonical_values
from governance.models import AuditChainLink
from governance.services import audit_chain
from tests.governance.test_audit_chain import _as_superuser, _seal_until, _team_events

DB = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_ranges(monkeypatch):
    """Any chain is long enough for the parallel check, cut into ranges of three links."""
    monkeypatch.setattr(audit_chain, "PARALLEL_MIN_LINKS", 1)
    monkeypatch.setattr(audit_chain, "PARALLEL_CHUNK", 3)


@pytest.fixture
def parallel(short_ranges, monkeypatch):
    """As ``short_ranges``, and forking even though the test run has left threads behind (idle ones)."""
    monkeypatch.setattr(audit_chain, "_single_threaded", lambda: True)


def _chain(count: int) -> list[int]:
    """``count`` sealed team events; the event ids of every link in seq order (from seq 1)."""
    _seal_until(_team_events(count))
    return list(AuditChainLink.objects.order_by("seq").values_list("event_id", flat=True))


def _both() -> tuple[audit_chain.VerifyResult, audit_chain.VerifyResult]:
    return audit_chain.verify(workers=1), audit_chain.verify(workers=2)


ROW = {
    "id": 9_007_199_254_740_993,
    "occurred_at": "2026-11-25T16:30:00.000001Z",
    "table_name": "governance_aisystem",
    "object_pk": "12",
    "root_table": "governance_aisystem",
    "root_pk": "12",
    "operation": "UPDATE",
    "before": {
        "name": 'Ünïcødé "quoted" \\ back\tslash\n\u0001\u007f\u2028 😀',
        "score": 0.1,
        "big": 12345678901234567890,
        "ratio": 1e-07,
        "flags": [True, False, None, {"z": [], "a": {}}],
        "b": 1.5,
        "a": -0.0,
    },
    "after": None,
    "changes": {"name": ["x", "y"], "é": 1, "e": 2, "ß": [1.0, 2.5e300]},
    "actor_id": None,
    "actor": "",
    "source": "database",
    "correlation_id": "",
    "reason": "tidy\r\nup",
    "db_user": "postgres",
    "transaction_id": 4_294_967_296,
}


def _as_fetched(row: dict) -> tuple:
    """The row as verification reads it: JSON columns as text, in the database's own key order."""
    values = []
    for column in COLUMNS:
        value = row[column]
        if column in ("before", "after", "changes") and value is not None:
            value = json.dumps(dict(reversed(list(value.items()))), ensure_ascii=False)
        values.append(value)
    return tuple(values)


def test_it_gives_the_same_bytes_from_row_values_as_from_a_mapping():
    assert canonical_values(_as_fetched(ROW)) == canonical_event(ROW)
    actor = {**ROW, "actor_id": 3, "actor": "officer", "after": {"k": "v"}, "before": None}
    assert canonical_values(_as_fetched(actor)) == canonical_event(actor)
    # White space around the JSON text changes nothing; text that is not one JSON value is refused.
    spaced = list(_as_fetched(ROW))
    spaced[COLUMNS.index("changes")] = f"  {spaced[COLUMNS.index('changes')]}\n"
    assert canonical_values(spaced) == canonical_event(ROW)
    spaced[COLUMNS.index("changes")] = '{"a": 1} {"b": 2}'
    with pytest.raises(ValueError):
        canonical_values(spaced)
    with pytest.raises(TypeError):
        canonical_values([str(v) if c == "id" else v for c, v in zip(COLUMNS, _as_fetched(ROW), strict=True)])


@DB
def test_it_checks_a_chain_in_parallel_ranges(parallel, monkeypatch):
    _chain(8)
    calls = []
    spread = audit_chain._verify_parallel
    monkeypatch.setattr(audit_chain, "_verify_parallel", lambda *args: calls.append(args) or spread(*args))
    sequential, parallel_result = _both()
    assert calls and calls[0][3] == 2  # the second check went through the pool of two
    assert parallel_result.ok and parallel_result.checked == AuditChainLink.objects.count()
    assert parallel_result == sequential
    assert audit_chain.verify(from_seq=5, workers=2) == audit_chain.verify(from_seq=5, workers=1)
    out = StringIO()
    call_command("verify_audit_log", "--workers", "2", stdout=out, stderr=StringIO())
    assert f"OK: {sequential.checked} events, head seq {sequential.head_seq}" in out.getvalue()


@DB
def test_it_names_the_first_changed_event_when_ranges_run_in_parallel(parallel):
    ids = _chain(9)
    # Two changed events: one in the middle of the second range, a later one in the third.
    _as_superuser("UPDATE governance_changeevent SET reason = 'later' WHERE id = %s", [ids[7]])
    _as_superuser("UPDATE governance_changeevent SET reason = 'tidied' WHERE id = %s", [ids[4]])
    sequential, result = _both()
    assert not result.ok and result == sequential
    assert (result.first_bad_seq, result.first_bad_event_id) == (5, ids[4])
    assert result.checked == 4 and result.first_bad_table == "governance_team"
    assert "does not match" in result.reason


@DB
def test_it_names_a_gap_that_swallows_a_whole_range_when_parallel(parallel):
    ids = _chain(10)
    _as_superuser("DELETE FROM governance_changeevent WHERE id = %s", [ids[8]])
    # Links 4 to 6, the whole second range, are gone: the chain jumps from 3 to 7.
    _as_superuser("DELETE FROM governance_auditchainlink WHERE seq BETWEEN 4 AND 6")
    sequential, result = _both()
    assert not result.ok and result == sequential
    assert (result.first_bad_seq, result.first_bad_event_id) == (7, ids[6])
    assert result.reason == "link 4 is missing: the chain jumps to 7" and result.checked == 3


@DB
def test_it_names_a_gap_inside_a_range_and_a_deleted_event_when_parallel(parallel):
    ids = _chain(10)
    _as_superuser("DELETE FROM governance_changeevent WHERE id = %s", [ids[7]])
    sequential, result = _both()
    assert not result.ok and result == sequential
    assert (result.first_bad_seq, result.first_bad_event_id) == (8, ids[7]) and "deleted" in result.reason
    _as_superuser("DELETE FROM governance_auditchainlink WHERE seq = 5")
    sequential, result = _both()
    assert not result.ok and result == sequential
    assert result.first_bad_seq == 6 and result.reason == "link 5 is missing: the chain jumps to 6"


@DB
def test_it_stays_in_one_process_while_another_thread_runs(short_ranges, monkeypatch):
    _chain(4)
    monkeypatch.setattr(audit_chain, "_verify_parallel", lambda *args: pytest.fail("forked"))
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert audit_chain.verify(workers=2).ok
    finally:
        release.set()
        other.join()


@DB
def test_it_stops_its_workers_even_if_the_parent_ignores_termination(parallel):
    ids = _chain(12)
    _as_superuser("UPDATE governance_changeevent SET reason = 'first' WHERE id = %s", [ids[0]])
    previous = signal.signal(signal.SIGTERM, lambda *args: None)  # as a web server's graceful exit
    try:
        result = audit_chain.verify(workers=2)  # the pool is terminated after the first range
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not result.ok and result.first_bad_seq == 1


def _stall(_range):
    time.sleep(60)


@DB
def test_it_checks_in_this_process_when_a_verifying_process_stalls(parallel, monkeypatch, caplog):
    _chain(6)
    monkeypatch.setattr(audit_chain, "_check_range", _stall)
    monkeypatch.setattr(audit_chain, "PARALLEL_RANGE_TIMEOUT", 1.0)
    started = time.monotonic()
    result = audit_chain.verify(workers=2)
    assert result.ok and result.checked == AuditChainLink.objects.count()
    assert time.monotonic() - started < 30
    assert "stalled" in caplog.text
