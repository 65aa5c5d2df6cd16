"""Public reference incidents: the AI Incident Database import (checked against the export it reads),
similar-incident search, the read-only API and the admin."""

import csv
import itertools
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone

from config.urls import urlpatterns as site_urlpatterns
from governance.models import ChangeEvent
from incidents.models import Incident, ReferenceIncident
from incidents.models.reference import AIID_ATTRIBUTION
from incidents.services.references import AIID_DIR, ReferenceImportError, import_aiid, similar_incidents
from tests.factories import AISystemFactory
from tests.queries import steady_state_queries

AIID = AIID_DIR  # the snapshot shipped in incidents/data/aiid
pytestmark = pytest.mark.urls(__name__)

# The reference API's routes, until the site's URLconf includes them (then the first match wins).
urlpatterns = [*site_urlpatterns, path("api/v1/", include("incidents.api.references"))]

LIST = "/api/v1/reference-incidents/"
PERSONAS = ["officer", "engineer", "other_engineer", "auditor"]
ENTITY_COLUMNS = {
    "deployers": "Alleged deployer of AI system",
    "developers": "Alleged developer of AI system",
    "harmed_parties": "Alleged harmed or nearly harmed parties",
}


def _rows(name):
    with (AIID / name).open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _by_id(name):
    return {int(row["incident_id" if name == "incidents.csv" else "Incident ID"]): row for row in _rows(name)}


@pytest.fixture
def imported(db):
    return import_aiid(AIID)


@pytest.fixture
def export_copy(tmp_path):
    """A writable copy of the export, for tests that change or break it."""
    folder = tmp_path / "aiid"
    shutil.copytree(AIID, folder)
    for file in folder.iterdir():
        file.chmod(0o644)
    return folder


def _rewrite(path: Path, change):
    text = path.read_text(encoding="utf-8")
    path.write_text(change(text), encoding="utf-8")


# --- Import ---------------------------------------------------------------------------------------


def test_it_imports_every_incident_of_the_export(imported):
    rows = _rows("incidents.csv")
    assert len(rows) == 1367  # the snapshot incidents/data/aiid/README.md describes

    assert imported["rows"] == len(rows)
    assert imported["created"] == len(rows)
    assert (imported["updated"], imported["unchanged"], imported["not_in_file"]) == (0, 0, 0)
    assert ReferenceIncident.objects.count() == len(rows)
    assert set(ReferenceIncident.objects.values_list("aiid_id", flat=True)) == {
        int(row["incident_id"]) for row in rows
    }
    assert set(ReferenceIncident.objects.values_list("attribution", flat=True)) == {AIID_ATTRIBUTION}


def test_it_keeps_each_incident_as_the_export_states_it(imported):
    expected = _by_id("incidents.csv")
    checked = 0
    for incident in ReferenceIncident.objects.all():
        row = expected[incident.aiid_id]
        assert incident.title == row["title"].strip()
        assert incident.description == row["description"].strip()
        assert incident.date == date.fromisoformat(row["date"])
        assert incident.report_ids == json.loads(row["reports"])
        for field, column in ENTITY_COLUMNS.items():
            assert getattr(incident, field) == json.loads(row[column]), (incident.aiid_id, field)
        checked += 1
    assert checked == len(expected)


def test_it_spot_checks_known_incidents(imported):
    uber = ReferenceIncident.objects.get(aiid_id=4)
    assert uber.title == "Uber AV Killed Pedestrian in Arizona"
    assert uber.date == date(2018, 3, 18)
    assert uber.deployers == ["uber"]
    assert uber.harmed_parties == ["elaine-herzberg", "pedestrians"]
    assert uber.url == "https://incidentdatabase.ai/cite/4/"

    shuttle = ReferenceIncident.objects.get(aiid_id=23)
    assert shuttle.deployers == ["navya", "keolis-north-america"]
    assert len(shuttle.report_ids) == 24


def test_it_joins_the_mit_risk_domain_where_classified(imported):
    mit = _by_id("classifications_MIT.csv")
    incidents = {
        r.aiid_id: r for r in ReferenceIncident.objects.only("aiid_id", "mit_domain", "mit_subdomain")
    }

    classified = {aiid_id for aiid_id, incident in incidents.items() if incident.mit_domain}
    assert imported["with_mit"] == len(classified) == len(set(mit) & set(incidents)) > 1000
    for aiid_id, row in mit.items():
        assert incidents[aiid_id].mit_domain == row["Risk Domain"]
        assert incidents[aiid_id].mit_subdomain == row["Risk Subdomain"]
    assert incidents[1].mit_domain == "1. Discrimination and Toxicity"
    assert incidents[1].mit_subdomain == "1.2. Exposure to toxic content"
    unclassified = next(aiid_id for aiid_id in incidents if aiid_id not in mit)
    assert incidents[unclassified].mit_domain == incidents[unclassified].mit_subdomain == ""


def test_it_joins_a_compact_cset_classification_where_published(imported):
    cset = {aiid_id: row for aiid_id, row in _by_id("classifications_CSETv1.csv").items()}
    incidents = {r.aiid_id: r.cset for r in ReferenceIncident.objects.only("aiid_id", "cset")}

    harm_levels = {aiid_id: row["AI Harm Level"] for aiid_id, row in cset.items() if row["AI Harm Level"]}
    assert len(harm_levels) > 150
    for aiid_id, level in harm_levels.items():
        assert incidents[aiid_id]["ai_harm_level"] == level
    with_harm = next(a for a, row in cset.items() if row["AI Harm Level"] == "AI tangible harm event")
    row = cset[with_harm]
    assert incidents[with_harm]["tangible_harm"] == row["Tangible Harm"]
    assert incidents[with_harm]["lives_lost"] == int(row["Lives Lost"])
    assert incidents[with_harm]["sector_of_deployment"] == row["Sector of Deployment"]
    # Empty values are left out; annotators' notes are not copied.
    assert all(value not in ("", "--") for values in incidents.values() for value in values.values())
    assert not any(key.startswith("notes") for values in incidents.values() for key in values)
    # Unpublished (draft) classifications are not joined.
    drafts = [aiid_id for aiid_id, row in cset.items() if row["Published"] == "False"]
    assert drafts and all(incidents[aiid_id] == {} for aiid_id in drafts)
    assert imported["with_cset"] == sum(1 for values in incidents.values() if values)


def test_a_second_import_writes_nothing(imported):
    before = (ReferenceIncident.objects.count(), ChangeEvent.objects.count())
    assert before[1] >= before[0]  # the first import is in the change history, one event per row

    with CaptureQueriesContext(connection) as ctx:
        again = import_aiid(AIID)

    assert again["created"] == again["updated"] == 0
    assert again["unchanged"] == before[0]
    assert (ReferenceIncident.objects.count(), ChangeEvent.objects.count()) == before
    writes = [
        q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert writes == []


def test_it_updates_only_the_rows_that_changed(db, export_copy):
    import_aiid(export_copy)
    events = ChangeEvent.objects.count()
    _rewrite(
        export_copy / "incidents.csv",
        lambda text: text.replace(
            "Uber AV Killed Pedestrian in Arizona", "Uber Autonomous Vehicle Killed Pedestrian in Arizona"
        ),
    )

    result = import_aiid(export_copy)

    assert (result["created"], result["updated"]) == (0, 1)
    assert (
        ReferenceIncident.objects.get(aiid_id=4).title
        == "Uber Autonomous Vehicle Killed Pedestrian in Arizona"
    )
    assert ChangeEvent.objects.count() == events + 1
    assert set(ChangeEvent.objects.order_by("-id").first().changes) == {"title"}


def test_it_reports_rows_no_longer_in_the_export_and_keeps_them(db, export_copy):
    import_aiid(export_copy)
    lines = (export_copy / "incidents.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    removed = next(line for line in lines if ",4,2018-03-18," in line)
    (export_copy / "incidents.csv").write_text("".join(line for line in lines if line != removed))

    result = import_aiid(export_copy)

    assert result["not_in_file"] == 1
    assert ReferenceIncident.objects.filter(aiid_id=4).exists()


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("file", "needle", "replacement", "message"),
    [
        ("incidents.csv", '"[""uber""]","[""uber""]"', '"[""uber""","[""uber""]"', "is not valid JSON"),
        ("incidents.csv", ",4,2018-03-18,", ",4,2018-13-18,", "date is not a date"),
        ("incidents.csv", ",4,2018-03-18,", ",four,2018-03-18,", "incident_id must be a whole number"),
        ("incidents.csv", ",4,2018-03-18,", ",1,2018-03-18,", "duplicate incident_id 1"),
        ("incidents.csv", ",4,2018-03-18,", ",4,2018-03-18,extra,", "expected 9 cells, found 10"),
        ("incidents.csv", '"[629,630,', '"[""629"",630,', "reports must be a JSON array of whole numbers"),
        ("classifications_MIT.csv", "MIT,4,", "MIT,x4,", "Incident ID must be a whole number"),
    ],
)
def test_a_malformed_file_fails_naming_file_and_line_and_writes_nothing(
    db, export_copy, file, needle, replacement, message
):
    path = export_copy / file
    line = _line_of(path, needle)
    _rewrite(path, lambda text: text.replace(needle, replacement, 1))

    with pytest.raises(ReferenceImportError) as caught:
        import_aiid(export_copy)

    assert f"{file}:{line}: " in str(caught.value)
    assert message in str(caught.value)
    assert caught.value.line == line
    assert ReferenceIncident.objects.count() == 0


def test_a_bad_cset_count_or_header_fails_clearly(db, export_copy):
    cset = export_copy / "classifications_CSETv1.csv"
    _rewrite(cset, lambda text: text.replace("Lives Lost", "Deaths", 1))
    with pytest.raises(ReferenceImportError, match=r"classifications_CSETv1.csv:1: .*missing: Lives Lost"):
        import_aiid(export_copy)

    (export_copy / "incidents.csv").unlink()
    with pytest.raises(ReferenceImportError, match=r"incidents.csv: missing file"):
        import_aiid(export_copy)
    with pytest.raises(ReferenceImportError, match="AIID export folder not found"):
        import_aiid(export_copy / "nowhere")


def test_it_loads_the_shipped_snapshot_when_the_command_names_no_folder(db):
    call_command("import_aiid", stdout=(out := _Output()))
    assert "1367 AIID incidents" in out.text and "created 1367" in out.text
    assert ReferenceIncident.objects.count() == 1367
    assert ChangeEvent.objects.filter(reason="import_aiid from incidents/data/aiid").exists()


def test_an_unterminated_quote_is_reported_where_the_record_starts(db, export_copy):
    path = export_copy / "incidents.csv"
    line = _line_of(path, ",4,2018-03-18,")
    _rewrite(path, lambda text: text.replace("Uber AV Killed Pedestrian in Arizona", '"Uber AV', 1))

    with pytest.raises(ReferenceImportError) as caught:
        import_aiid(export_copy)

    assert f"incidents.csv:{line}: " in str(caught.value)


def test_the_command_imports_and_reports_counts(db, export_copy):
    call_command("import_aiid", str(export_copy), stdout=(out := _Output()))
    assert "1367 AIID incidents" in out.text
    assert "created 1367, updated 0, unchanged 0" in out.text

    call_command("import_aiid", str(export_copy), stdout=(out := _Output()))
    assert "created 0, updated 0, unchanged 1367" in out.text

    _rewrite(export_copy / "incidents.csv", lambda text: text.replace(",4,2018-03-18,", ",4,yesterday,", 1))
    with pytest.raises(CommandError, match=r"incidents.csv:\d+: date is not a date"):
        call_command("import_aiid", str(export_copy))


class _Output:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


# --- Similar incidents ----------------------------------------------------------------------------


_numbers = itertools.count(1)


def _incident(system, title, description="", severity="SEV2"):
    now = timezone.now()
    return Incident.objects.create(
        reference=f"INC-2099-{next(_numbers)}",
        system=system,
        team=system.owning_team,
        title=title,
        description=description,
        occurred_at=now,
        detected_at=now,
        became_aware_at=now,
        source="api",
        severity=severity,
        respond_by=now + timedelta(hours=4),
        resolve_by=now + timedelta(days=3),
    )


@pytest.fixture
def internal(imported, system_a, team_b):
    system_b = AISystemFactory(slug="system-b", owning_team=team_b)
    return {
        "av": _incident(
            system_a,
            "Test vehicle in autonomous mode struck a pedestrian",
            "Our self-driving test car did not brake for a pedestrian crossing at night.",
            severity="SEV1",
        ),
        "chatbot": _incident(system_a, "Support chatbot invented a refund policy", "Hallucinated policy."),
        "other_team_av": _incident(system_b, "Autonomous car hit a pedestrian", "Pedestrian injured."),
    }


def test_similar_incidents_ranks_the_matching_public_incident_first(internal):
    text = (
        "Uber self-driving car killed a pedestrian in Arizona\n"
        "An autonomous vehicle in autonomous mode struck and killed a woman crossing the road in Tempe."
    )
    result = similar_incidents(text=text, internal_queryset=Incident.objects.all())

    public = [row["aiid_id"] for row in result["public"]]
    assert public[0] == 4
    assert len(public) == 10
    top = result["public"][0]
    assert top["title"] == "Uber AV Killed Pedestrian in Arizona"
    assert top["url"] == "https://incidentdatabase.ai/cite/4/"
    assert top["date"] == date(2018, 3, 18)
    scores = [row["score"] for row in result["public"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0

    references = [row["reference"] for row in result["internal"]]
    assert set(references) == {internal["av"].reference, internal["other_team_av"].reference}
    first = next(row for row in result["internal"] if row["reference"] == internal["av"].reference)
    assert first == {
        "reference": internal["av"].reference,
        "title": internal["av"].title,
        "system": "system-a",
        "severity": "SEV1",
        "status": "reported",
        "score": first["score"],
    }


@pytest.mark.parametrize(
    ("aiid_id", "title", "description"),
    [
        (
            6,
            "Chatbot posted racist and sexist tweets",
            "Our Twitter bot produced offensive content within a day.",
        ),
        (
            1,
            "Kids video app recommends disturbing videos",
            "Recommendations exposed children to inappropriate content.",
        ),
        (23, "Self-driving shuttle bus collided with a truck", "First day of service in Las Vegas."),
    ],
)
def test_similar_incidents_finds_known_public_incidents(imported, aiid_id, title, description):
    result = similar_incidents(
        text=f"{title}\n{description}", internal_queryset=Incident.objects.none(), limit=3
    )
    assert aiid_id in [row["aiid_id"] for row in result["public"]]
    assert result["internal"] == []


def test_similar_incidents_respects_the_callers_scope_and_excludes_the_incident_itself(
    internal, engineer, other_engineer
):
    av = internal["av"]
    text = f"{av.title}\n{av.description}"

    mine = similar_incidents(
        text=text, internal_queryset=Incident.objects.visible_to(engineer), exclude_incident_id=av.pk
    )
    theirs = similar_incidents(text=text, internal_queryset=Incident.objects.visible_to(other_engineer))

    assert av.reference not in [row["reference"] for row in mine["internal"]]
    assert internal["other_team_av"].reference not in [row["reference"] for row in mine["internal"]]
    assert [row["reference"] for row in theirs["internal"]] == [internal["other_team_av"].reference]
    assert mine["public"] == theirs["public"] != []


def test_similar_incidents_costs_two_queries_and_none_for_empty_text(internal):
    with CaptureQueriesContext(connection) as ctx:
        similar_incidents(text="Autonomous car struck a pedestrian", internal_queryset=Incident.objects.all())
    assert len(ctx.captured_queries) == 2

    with CaptureQueriesContext(connection) as ctx:
        empty = similar_incidents(text="  \n ", internal_queryset=Incident.objects.all())
    assert empty == {"internal": [], "public": []}
    assert len(ctx.captured_queries) == 0


# --- API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_role_reads_and_searches_reference_incidents(imported, personas, api_as, persona):
    client = api_as(personas[persona])

    listed = client.get(LIST)
    detail = client.get(f"{LIST}4/")
    searched = client.get(LIST, {"q": "Uber pedestrian Arizona"})

    newest = sorted((int(row["incident_id"]) for row in _rows("incidents.csv")), reverse=True)
    assert listed.status_code == 200, listed.content
    assert [row["aiid_id"] for row in listed.json()["results"]] == newest[:50]
    assert detail.status_code == 200
    assert detail.json()["title"] == "Uber AV Killed Pedestrian in Arizona"
    assert searched.status_code == 200
    assert searched.json()["results"][0]["aiid_id"] == 4


def test_reference_incidents_need_credentials(imported, client):
    for url in (LIST, f"{LIST}4/", f"{LIST}?q=uber"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["status"] == 401


def test_the_detail_has_everything_with_attribution_and_link(imported, api_as, auditor):
    cset = _by_id("classifications_CSETv1.csv")
    aiid_id = next(a for a, row in cset.items() if row["AI Harm Level"] == "AI tangible harm event")

    body = api_as(auditor).get(f"{LIST}{aiid_id}/").json()
    missing = api_as(auditor).get(f"{LIST}999999/")

    incident = ReferenceIncident.objects.get(aiid_id=aiid_id)
    assert body["attribution"] == AIID_ATTRIBUTION
    assert body["url"] == f"https://incidentdatabase.ai/cite/{aiid_id}/"
    assert body["cset"]["ai_harm_level"] == "AI tangible harm event"
    assert body["report_ids"] == incident.report_ids
    assert body["harmed_parties"] == incident.harmed_parties
    assert body["mit_domain"] == incident.mit_domain
    assert body["date"] == incident.date.isoformat()
    assert missing.status_code == 404
    assert missing.json()["status"] == 404


def test_the_list_filters_by_mit_domain_and_year(imported, api_as, officer):
    client = api_as(officer)
    domain = "4. Malicious Actors & Misuse"
    expected = ReferenceIncident.objects.filter(mit_domain=domain, date__year=2024).count()

    by_number = client.get(LIST, {"mit_domain": "4", "year": 2024, "page_size": 200}).json()["results"]
    by_name = client.get(LIST, {"mit_domain": domain, "year": 2024, "page_size": 200}).json()["results"]
    by_subdomain = client.get(LIST, {"mit_subdomain": "4.3", "page_size": 5}).json()["results"]
    by_deployer = client.get(LIST, {"deployer": "uber"}).json()["results"]

    assert 0 < expected <= 200
    assert len(by_number) == len(by_name) == expected
    assert all(row["mit_domain"] == domain and row["date"].startswith("2024") for row in by_number)
    assert all(row["mit_subdomain"].startswith("4.3. ") for row in by_subdomain) and by_subdomain
    assert 4 in [row["aiid_id"] for row in by_deployer]
    assert all("uber" in row["deployers"] for row in by_deployer)
    for year in ("2024.5", "99999999999", "soon"):
        refused = client.get(LIST, {"year": year})
        assert refused.status_code == 400
        assert list(refused.json()["errors"]) == ["year"]


def test_a_search_is_ranked_and_pages_with_a_cursor_without_repeats(imported, api_as, officer):
    client = api_as(officer)
    url = f"{LIST}?q=chatbot&page_size=7"
    seen, scores = [], []
    while url:
        body = client.get(url).json()
        seen += [row["aiid_id"] for row in body["results"]]
        scores += [row["score"] for row in body["results"]]
        url = body["next"]

    assert len(seen) == len(set(seen)) > 14
    assert scores == sorted(scores, reverse=True)
    assert client.get(LIST).json()["results"][0]["score"] is None


def test_the_list_costs_the_same_queries_whatever_the_page_size(imported, api_as, officer):
    client = api_as(officer)
    small, _ = steady_state_queries(client, f"{LIST}?page_size=2")
    large, body = steady_state_queries(client, f"{LIST}?page_size=200")
    searched, _ = steady_state_queries(client, f"{LIST}?page_size=200&q=facial+recognition")
    detail, _ = steady_state_queries(client, f"{LIST}4/")

    assert len(body["results"]) == 200
    assert small == large == searched
    assert detail <= small


# --- Admin ----------------------------------------------------------------------------------------


def test_the_admin_lists_searches_filters_and_shows_attribution(imported, client, officer, auditor):
    client.force_login(auditor)
    changelist = "/admin/incidents/referenceincident/"

    searched = client.get(changelist, {"q": "Uber AV"})
    filtered = client.get(changelist, {"mit_domain": "4. Malicious Actors & Misuse", "year": "2024"})
    unclassified = client.get(changelist, {"mit_domain": "-"})
    uber = ReferenceIncident.objects.get(aiid_id=4)
    detail = client.get(f"{changelist}{uber.pk}/change/")

    assert searched.status_code == 200
    assert "Uber AV Killed Pedestrian in Arizona" in searched.content.decode()
    assert filtered.status_code == unclassified.status_code == 200
    page = detail.content.decode()
    assert detail.status_code == 200
    assert "https://incidentdatabase.ai/cite/4/" in page
    assert "CC BY-SA 4.0" in page
    assert "elaine-herzberg" in page
    assert client.get(f"{changelist}add/").status_code == 403
