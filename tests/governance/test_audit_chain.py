"""The audit chain: sealing, verification, tampering done as a superuser, late commits and anchors.

The sealer only takes events written by transactions older than every running one, so these tests
commit for real (``transaction=True``) and poll briefly: a transaction open elsewhere on the same
server can hold sealing back for a moment.
"""

import json
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit_canonical import GENESIS, canonical_event, chain_hash, event_hash
from governance.models import AuditAnchor, AuditChainLink, ChangeEvent
from governance.services import audit_chain
from tests.factories import TeamFactory

DB = pytest.mark.django_db(transaction=True)


def _sealed(event_ids) -> bool:
    return AuditChainLink.objects.filter(event_id__in=event_ids).count() == len(set(event_ids))


def _seal_until(event_ids, timeout: float = 60.0) -> None:
    """Seal until ``event_ids`` are in the chain. An event is sealed once every transaction older
    than it has ended, in any database of the server, so a busy machine can take a while."""
    deadline = time.monotonic() + timeout
    while True:
        audit_chain.seal_all()
        if _sealed(event_ids):
            return
        assert time.monotonic() < deadline, "events were not sealed in time"
        time.sleep(0.1)


def _team_events(count: int = 3) -> list[int]:
    teams = [TeamFactory() for _ in range(count)]
    return list(
        ChangeEvent.objects.filter(table_name="governance_team", object_pk__in=[str(t.pk) for t in teams])
        .order_by("id")
        .values_list("id", flat=True)
    )


def _as_superuser(sql: str, params=()) -> None:
    """Tamper as a database administrator would: with the append-only triggers switched off."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("RESET session_replication_role")


def _raw_connection() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"], user=params["USER"], host=params["HOST"], port=params["PORT"] or 5432
    )


def _command(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _command_fails(*args) -> str:
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log", *args, stdout=out, stderr=StringIO())
    assert failure.value.returncode == 1
    return out.getvalue()


@DB
def test_it_seals_events_into_a_chain_that_verifies():
    ids = _team_events(3)
    _seal_until(ids)
    links = list(AuditChainLink.objects.order_by("seq"))
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    previous = GENESIS
    for link in links:
        assert link.chain_hash == chain_hash(previous, link.event_hash)
        previous = link.chain_hash
    result = audit_chain.verify()
    assert result.ok and result.checked == len(links) and result.head_hash == previous
    assert audit_chain.head()[:2] == (len(links), previous)
    assert f"OK: {len(links)} events, head seq {len(links)} hash {previous}" in _command()


@DB
def test_it_seals_each_event_once():
    ids = _team_events(2)
    _seal_until(ids)
    count = AuditChainLink.objects.count()
    assert audit_chain.seal() is None
    assert AuditChainLink.objects.count() == count


@DB
def test_it_does_not_fork_the_chain_when_two_sealers_run_at_once():
    ids = _team_events(40)
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            audit_chain.seal_all()
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    _seal_until(ids)
    seqs = list(AuditChainLink.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert audit_chain.verify().ok


@DB
def test_it_names_an_event_a_superuser_edited_behind_the_triggers():
    ids = _team_events(3)
    _seal_until(ids)
    _as_superuser("UPDATE governance_changeevent SET reason = 'tidied up' WHERE id = %s", [ids[1]])
    result = audit_chain.verify()
    assert not result.ok
    assert result.first_bad_event_id == ids[1]
    assert result.first_bad_table == "governance_team"
    assert "does not match" in result.reason
    output = _command_fails()
    assert f"event {ids[1]} (governance_team #" in output


@DB
def test_it_detects_a_deleted_event():
    ids = _team_events(3)
    _seal_until(ids)
    _as_superuser("DELETE FROM governance_changeevent WHERE id = %s", [ids[0]])
    result = audit_chain.verify()
    assert not result.ok and result.first_bad_event_id == ids[0] and "missing" in result.reason
    assert f"event {ids[0]}" in _command_fails()


@DB
def test_it_detects_a_deleted_link():
    ids = _team_events(3)
    _seal_until(ids)
    seq = AuditChainLink.objects.get(event_id=ids[1]).seq
    _as_superuser("DELETE FROM governance_auditchainlink WHERE seq = %s", [seq])
    result = audit_chain.verify()
    assert not result.ok and result.first_bad_seq == seq + 1 and "missing" in result.reason


@DB
def test_it_detects_reordered_links():
    ids = _team_events(3)
    _seal_until(ids)
    first, second = ids[0], ids[1]
    _as_superuser("UPDATE governance_auditchainlink SET event_id = -1 WHERE event_id = %s", [first])
    _as_superuser("UPDATE governance_auditchainlink SET event_id = %s WHERE event_id = %s", [first, second])
    _as_superuser("UPDATE governance_auditchainlink SET event_id = %s WHERE event_id = -1", [second])
    result = audit_chain.verify()
    assert not result.ok
    assert result.first_bad_seq == AuditChainLink.objects.get(event_id=second).seq


@DB
def test_it_bounds_the_segment_of_a_period():
    before = timezone.now()
    _seal_until(_team_events(1))
    start = timezone.now()
    ids = _team_events(3)
    end = timezone.now()
    _seal_until(_team_events(1) + ids)
    first, last = audit_chain.segment_bounds(start=start, end=end)
    inside = AuditChainLink.objects.filter(seq__range=(first, last)).values_list("event_id", flat=True)
    assert set(inside) == set(ids)
    assert audit_chain.link_before(first) == AuditChainLink.objects.get(seq=first - 1).chain_hash
    assert audit_chain.link_before(1) == GENESIS
    assert (
        audit_chain.segment_bounds(start=before - timedelta(days=2), end=before - timedelta(days=1)) is None
    )


@DB
def test_it_refuses_to_edit_links_and_anchors():
    _seal_until(_team_events(1))
    AuditAnchor.objects.create(seq=1, chain_hash=GENESIS, at=timezone.now(), sink="file")
    for statement in (
        "UPDATE governance_auditchainlink SET chain_hash = 'x'",
        "DELETE FROM governance_auditchainlink",
        "UPDATE governance_auditanchor SET chain_hash = 'x'",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)


@DB
def test_it_seals_a_late_commit_in_a_later_batch():
    early_team, late_team = TeamFactory(), TeamFactory()
    with _raw_connection() as older, _raw_connection() as slower:
        older.execute("SELECT txid_current()")  # starts first, commits first
        slower.execute("UPDATE governance_team SET name = 'late' WHERE id = %s", [late_team.pk])
        older.execute("UPDATE governance_team SET name = 'early' WHERE id = %s", [early_team.pk])
        older.commit()
        events = ChangeEvent.objects.filter(table_name="governance_team", operation="UPDATE")
        early_event = events.get(object_pk=str(early_team.pk)).pk
        _seal_until([early_event])
        slower.commit()
    late_event = events.get(object_pk=str(late_team.pk)).pk
    assert late_event < early_event
    _seal_until([late_event])
    early, late = (AuditChainLink.objects.get(event_id=i) for i in (early_event, late_event))
    assert late.batch > early.batch and late.seq > early.seq
    assert audit_chain.verify().ok


@DB
def test_it_warns_about_final_events_left_unsealed():
    ids = _team_events(1)
    deadline = time.monotonic() + 15
    while not (result := audit_chain.verify(now=timezone.now() + timedelta(minutes=2))).warnings:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert result.ok and "not sealed" in result.warnings[0]
    _seal_until(ids)


@DB
def test_it_publishes_the_head_and_compares_with_the_file_anchor(settings, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    settings.VERITY_AUDIT_ANCHOR_FILE = str(anchors)
    settings.VERITY_AUDIT_ANCHOR_EMAILS = "auditor@example.com, second@example.com"
    settings.VERITY_AUDIT_ANCHOR_WEBHOOK = "http://127.0.0.1:9/anchors"  # nothing listens there
    ids = _team_events(3)
    _seal_until(ids)
    seq, digest, _ = audit_chain.head()
    published = audit_chain.publish_head()
    assert {a.sink for a in published} == {"file", "email", "webhook"}
    assert next(a for a in published if a.sink == "webhook").detail.startswith("failed")
    line = json.loads(anchors.read_text().splitlines()[-1])
    assert (line["seq"], line["chain_hash"]) == (seq, digest)
    assert digest in mail.outbox[0].body and mail.outbox[0].to == [
        "auditor@example.com",
        "second@example.com",
    ]
    assert anchors.read_text().splitlines()[-1] in mail.outbox[0].body  # usable with --anchor-file
    assert "OK:" in _command("--anchor-file", str(anchors))
    # A rewrite that keeps the chain consistent on its own: drop the last link.
    _as_superuser("DELETE FROM governance_auditchainlink WHERE seq = %s", [seq])
    assert audit_chain.verify().ok
    assert "anchor mismatch" in _command_fails("--anchor-file", str(anchors))


def test_it_keeps_the_canonical_form_whatever_the_key_order():
    event = {
        "id": 7,
        "occurred_at": "2026-01-02T03:04:05.000006+01:00",
        "table_name": "governance_team",
        "object_pk": "3",
        "root_table": "governance_team",
        "root_pk": "3",
        "operation": "UPDATE",
        "before": {"name": "Ä", "slug": "a", "nested": {"z": 1, "a": [1, {"y": 2, "b": 3}]}},
        "after": {"slug": "a", "name": "B", "nested": {"a": [1, {"b": 3, "y": 2}], "z": 1}},
        "changes": {"name": ["Ä", "B"]},
        "actor_id": None,
        "actor": "",
        "source": "database",
        "correlation_id": "",
        "reason": "",
        "db_user": "postgres",
        "transaction_id": 123,
    }
    shuffled = {key: event[key] for key in reversed(list(event))}
    shuffled["before"] = {"nested": {"a": [1, {"b": 3, "y": 2}], "z": 1}, "slug": "a", "name": "Ä"}
    assert canonical_event(event) == canonical_event(shuffled)
    text = canonical_event(event).decode("utf-8")
    assert '"occurred_at":"2026-01-02T02:04:05.000006Z"' in text and "Ä" in text and ", " not in text
    assert event_hash(event) == event_hash(shuffled)
    assert canonical_event({**event, "extra": 1}) == canonical_event(event)
