"""Evidence in the admin: the same checks, scopes and service as the API."""

import datetime
import hashlib

import pytest

from governance.models import Evidence
from governance.services import evidence as evidence_service
from tests.governance.evidence_helpers import (
    HTML,
    STORED_NAME,
    URL,
    make_office,
    make_pdf,
    stored_files,
    upload,
    with_zeros,
)

pytestmark = pytest.mark.usefixtures("evidence_dir", "team_a")  # the payloads below name team-a


# --- Admin ----------------------------------------------------------------------------------

ADMIN_ADD = "/admin/governance/evidence/add/"


def admin_form(**fields):
    return {
        "kind": "file",
        "title": "Model card review",
        "description": "",
        "team": "",
        "owner": "",
        "collected_on": "2025-03-31",
        "valid_from": "",
        "valid_until": "",
        "url": "",
        "_save": "Save",
        **fields,
    }


def test_it_adds_a_file_in_the_admin_through_the_same_checks(client, officer, team_a, evidence_dir):
    client.force_login(officer)
    content = make_pdf()

    refused = client.post(ADMIN_ADD, admin_form(upload=upload("report.pdf", HTML)))
    added = client.post(ADMIN_ADD, admin_form(team=team_a.pk, upload=upload("review.pdf", content)))

    assert refused.status_code == 200
    assert "HTML" in refused.content.decode()
    assert added.status_code == 302, added.content.decode()[:3000]
    evidence = Evidence.objects.get()
    assert evidence.sha256 == hashlib.sha256(content).hexdigest()
    assert evidence.content_type == "application/pdf"
    assert evidence.uploaded_by == officer
    assert STORED_NAME.match(evidence.file.name)
    assert len(stored_files(evidence_dir)) == 1

    page = client.get(f"/admin/governance/evidence/{evidence.pk}/change/").content.decode()
    download_url = f"{URL}{evidence.pk}/download/"
    assert download_url in page
    assert evidence.sha256 in page
    response = client.get(download_url)
    assert b"".join(response.streaming_content) == content


def test_it_refuses_an_oversized_file_on_the_admin_form(client, officer, settings, evidence_dir):
    settings.VERITY_EVIDENCE_MAX_BYTES = 1_000
    client.force_login(officer)

    response = client.post(ADMIN_ADD, admin_form(upload=upload("big.pdf", make_pdf() + b"%" + b"x" * 2_000)))

    assert response.status_code == 200
    assert "larger than the limit" in response.content.decode()
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_refuses_an_archive_bomb_on_the_admin_form(client, officer, team_a, evidence_dir):
    client.force_login(officer)
    bomb = with_zeros(make_office("xlsx"), "xl/media/blob.bin", 1024)

    response = client.post(ADMIN_ADD, admin_form(team=team_a.pk, upload=upload("register.xlsx", bomb)))

    assert response.status_code == 200
    assert "The document unpacks to 1024 MB" in response.content.decode()
    assert not Evidence.objects.exists()
    assert stored_files(evidence_dir) == []


def test_it_keeps_engineers_to_their_teams_in_the_admin(
    client, engineer, other_engineer, team_a, team_b, evidence_dir
):
    evidence_service.add_file_evidence(
        actor=other_engineer,
        upload=upload("b.pdf", make_pdf()),
        title="Team B only",
        collected_on=datetime.date(2025, 1, 1),
        team=team_b,
    )
    client.force_login(engineer)

    listing = client.get("/admin/governance/evidence/").content.decode()
    foreign = client.post(ADMIN_ADD, admin_form(team=team_b.pk, upload=upload("a.pdf", make_pdf())))
    org_wide = client.post(ADMIN_ADD, admin_form(upload=upload("a.pdf", make_pdf())))
    own = client.post(ADMIN_ADD, admin_form(team=team_a.pk, upload=upload("a.pdf", make_pdf())))

    assert "Team B only" not in listing
    assert foreign.status_code == 200 and org_wide.status_code == 200
    assert own.status_code == 302
    assert Evidence.objects.filter(team=team_a).count() == 1
    assert len(stored_files(evidence_dir)) == 2


def test_it_shows_evidence_pages_in_the_admin_to_every_role(client, officer, auditor, engineer, team_a):
    link = evidence_service.add_link_evidence(
        actor=officer,
        url="https://wiki.example.com/fairness",
        title="Fairness wiki page",
        collected_on=datetime.date(2025, 1, 1),
        valid_until=datetime.date(2025, 6, 30),
    )
    stored = evidence_service.add_file_evidence(
        actor=officer,
        upload=upload("report.pdf", make_pdf()),
        title="Signed report",
        collected_on=datetime.date(2025, 1, 1),
        team=team_a,
    )
    base = "/admin/governance/evidence/"

    for persona in (officer, auditor, engineer):
        client.force_login(persona)
        for query in (
            "",
            "?expired=yes",
            "?expired=no",
            "?kind=link",
            f"?team__id__exact={team_a.pk}",
            "?q=report",
        ):
            assert client.get(f"{base}{query}").status_code == 200, (persona, query)
        for evidence in (link, stored):
            assert client.get(f"{base}{evidence.pk}/change/").status_code == 200, (persona, evidence)
            assert client.get(f"{base}{evidence.pk}/history/").status_code == 200, (persona, evidence)

    client.force_login(auditor)
    page = client.get(f"{base}{stored.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert f"{URL}{stored.pk}/download/" in page
    assert client.get(f"{base}?expired=yes").content.decode().count("Fairness wiki page") == 1
    client.force_login(engineer)
    assert 'name="_save"' not in client.get(f"{base}{link.pk}/change/").content.decode()


def test_it_edits_details_in_the_admin_through_the_service(client, engineer, team_a, team_b, evidence_dir):
    evidence = evidence_service.add_file_evidence(
        actor=engineer,
        upload=upload("report.pdf", make_pdf()),
        title="Draft report",
        collected_on=datetime.date(2025, 1, 1),
        team=team_a,
    )
    client.force_login(engineer)
    url = f"/admin/governance/evidence/{evidence.pk}/change/"
    form = {
        "title": "Signed report",
        "description": "",
        "team": team_a.pk,
        "owner": "",
        "collected_on": "2025-01-01",
        "valid_from": "",
        "valid_until": "2025-12-31",
        "_save": "Save",
    }

    moved = client.post(url, {**form, "team": team_b.pk})
    saved = client.post(url, form)

    assert moved.status_code == 200
    assert saved.status_code == 302, saved.content.decode()[:2000]
    evidence.refresh_from_db()
    assert (evidence.title, evidence.team, evidence.valid_until) == (
        "Signed report",
        team_a,
        datetime.date(2025, 12, 31),
    )
    assert len(stored_files(evidence_dir)) == 1
