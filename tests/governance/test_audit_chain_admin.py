"""The audit chain in the admin (Django test client): the links and anchors lists, read-only for
everyone, and the "Verify the audit chain" button on a sealed chain and after a tamper.

Sealing only takes committed events older than every running transaction, so the tests that seal
commit for real (``transaction=True``), like tests/governance/test_audit_chain.py.
"""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.models import AuditAnchor, AuditChainLink
from governance.services import audit_chain
from tests.factories import UserFactory
from tests.governance.test_audit_chain import _as_superuser, _seal_until, _team_events

LINKS = "/admin/governance/auditchainlink/"
ANCHORS = "/admin/governance/auditanchor/"
VERIFY = f"{LINKS}verify/"

DB = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chain(transactional_db):
    """Three team events, sealed: their change-event ids in chain order."""
    ids = _team_events(3)
    _seal_until(ids)
    return ids


@pytest.fixture(params=["officer", "auditor"])
def reader(request, transactional_db):
    return request.getfixturevalue(request.param)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- The links ------------------------------------------------------------------------------------


@DB
def test_it_lists_the_links_newest_first_without_counting_the_table(client, reader, chain):
    client.force_login(reader)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LINKS)
    assert response.status_code == 200
    links = list(response.context["cl"].result_list)
    assert [link.seq for link in links] == sorted((link.seq for link in links), reverse=True)
    assert response.context["cl"].result_count == audit_chain.head()[0]
    page = response.content.decode()
    link = AuditChainLink.objects.get(event_id=chain[1])
    assert f'href="/admin/governance/changeevent/{chain[1]}/change/"' in page
    assert "governance_team" in page
    assert f"{link.chain_hash[:12]}…" in page and link.chain_hash not in page
    assert 'id="verify-audit-chain"' in page and "csrfmiddlewaretoken" in page
    assert f'href="{LINKS}add/"' not in page and 'name="action"' not in page
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert not [sql for sql in counts if "governance_auditchainlink" in sql]


@DB
def test_it_marks_a_link_whose_event_is_missing(client, officer, chain):
    _as_superuser("DELETE FROM governance_changeevent WHERE id = %s", [chain[0]])
    client.force_login(officer)
    page = client.get(LINKS).content.decode()
    assert f"{chain[0]} <em>(missing)</em>" in page
    assert f"/admin/governance/changeevent/{chain[0]}/change/" not in page


@DB
def test_it_searches_by_event_id_seq_and_hash_prefix(client, auditor, chain):
    client.force_login(auditor)
    link = AuditChainLink.objects.get(event_id=chain[2])

    def found(term):
        response = client.get(LINKS, {"q": term})
        assert response.status_code == 200
        return [row.seq for row in response.context["cl"].result_list]

    assert found(str(chain[2])) == [link.seq]
    assert found(f"#{link.seq}") == [link.seq]
    assert link.seq in found(link.event_hash[:10])
    assert link.seq in found(link.chain_hash[:10].upper())
    assert found("not a hash") == []


@DB
def test_it_shows_a_link_read_only_to_everyone(client, reader, chain):
    link = AuditChainLink.objects.get(event_id=chain[0])
    superuser = UserFactory(is_superuser=True)
    for user in (reader, superuser):
        client.force_login(user)
        page = client.get(f"{LINKS}{link.seq}/change/")
        assert page.status_code == 200
        text = page.content.decode()
        assert link.chain_hash in text and "governance_team" in text
        assert 'name="_save"' not in text and "deletelink" not in text
        assert client.get(f"{LINKS}add/").status_code == 403
        assert client.post(f"{LINKS}{link.seq}/delete/", {"post": "yes"}).status_code == 403
        assert client.post(f"{LINKS}{link.seq}/change/", {"batch": 9}).status_code == 403
    assert AuditChainLink.objects.get(seq=link.seq).batch == link.batch


# --- The anchors ----------------------------------------------------------------------------------


@DB
def test_it_lists_anchors_and_whether_the_chain_still_agrees(client, reader, chain):
    seq, digest, _ = audit_chain.head()
    now = timezone.now()
    AuditAnchor.objects.create(seq=seq, chain_hash=digest, at=now, sink="file", detail="/var/anchors")
    AuditAnchor.objects.create(seq=seq, chain_hash="0" * 64, at=now, sink="email", detail="a@example.com")
    AuditAnchor.objects.create(seq=seq + 50, chain_hash=digest, at=now, sink="webhook", detail="failed: 500")
    client.force_login(reader)
    response = client.get(ANCHORS)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="anchor-agrees"') == 1
    assert page.count('class="anchor-disagrees"') == 2
    assert f"link {seq} has hash {digest}" in page
    assert f"the chain ends before the anchor published at {now.isoformat()} (seq {seq + 50})" in page
    assert "failed: 500" in page and ">failed<" in page and ">sent<" in page
    assert f'href="{ANCHORS}add/"' not in page and 'name="action"' not in page
    anchor = AuditAnchor.objects.get(sink="file")
    assert client.get(f"{ANCHORS}{anchor.pk}/change/").status_code == 200
    assert client.get(f"{ANCHORS}add/").status_code == 403
    assert client.post(f"{ANCHORS}{anchor.pk}/delete/", {"post": "yes"}).status_code == 403


# --- Verify the audit chain -----------------------------------------------------------------------


@DB
def test_it_verifies_a_sealed_chain(client, reader, chain):
    seq, digest, _ = audit_chain.head()
    client.force_login(reader)
    response = client.post(VERIFY)
    assert response.status_code == 302 and response["Location"] == LINKS
    assert f"The audit chain verifies: {seq} events, head seq {seq} hash {digest}." in _messages(response)


@DB
def test_it_names_the_event_a_superuser_changed_behind_the_triggers(client, auditor, chain):
    _as_superuser("UPDATE governance_changeevent SET reason = 'tidied up' WHERE id = %s", [chain[1]])
    link = AuditChainLink.objects.get(event_id=chain[1])
    client.force_login(auditor)
    response = client.post(VERIFY, follow=True)
    [message] = _messages(response)
    assert f"The audit chain does not verify: link seq {link.seq}, " in message
    assert f'<a href="/admin/governance/changeevent/{chain[1]}/change/">event {chain[1]}</a>' in message
    assert "(governance_team #" in message and "does not match its sealed hash" in message
    assert f"The {link.seq - 1} links before it verify." in message
    assert message in response.content.decode()


@DB
def test_it_names_a_deleted_event_without_a_link(client, officer, chain):
    _as_superuser("DELETE FROM governance_changeevent WHERE id = %s", [chain[0]])
    client.force_login(officer)
    [message] = _messages(client.post(VERIFY))
    assert f"event {chain[0]}: the event is missing (deleted)" in message
    assert "<a " not in message


def test_it_verifies_only_on_a_post_with_the_csrf_token(client, auditor):
    client.force_login(auditor)
    assert client.get(VERIFY).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(auditor)
    assert strict.post(VERIFY).status_code == 403


@pytest.mark.parametrize("persona", ["engineer", "nobody"])
def test_it_refuses_users_without_the_view_permission(client, request, persona, db):
    user = request.getfixturevalue("engineer") if persona == "engineer" else UserFactory()
    client.force_login(user)
    for url in (LINKS, ANCHORS, f"{LINKS}1/change/"):
        assert client.get(url).status_code == 403, url
    assert client.post(VERIFY).status_code == 403
    index = client.get("/admin/").content.decode()
    assert "auditchainlink" not in index and "auditanchor" not in index


@DB
def test_it_finds_a_hash_prefix_made_only_of_digits(client, auditor, chain):
    client.force_login(auditor)
    link = AuditChainLink.objects.get(event_id=chain[0])
    digits = "1234567890"
    _as_superuser(  # links are append-only: rewritten behind the triggers
        "UPDATE governance_auditchainlink SET event_hash = %s WHERE seq = %s",
        [digits + link.event_hash[len(digits) :], link.seq],
    )
    response = client.get(LINKS, {"q": digits})
    assert [row.seq for row in response.context["cl"].result_list] == [link.seq]
