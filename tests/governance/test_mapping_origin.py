"""Where a requirement mapping comes from, and why load_catalogs leaves officers' mappings alone.

Shipped crosswalk rows are ``origin`` catalog and follow the files; a mapping an officer records is
``origin`` local, and a shipped one an officer changes is ``modified_locally``. Neither of those is
ever changed by a load; file rows that differ from them are reported as kept.
"""

import pytest
from django.core.management import call_command
from django.urls import reverse

from governance.models import ChangeEvent, Requirement, RequirementMapping
from governance.services import mappings
from governance.services.catalogs import load_catalogs

MAPPINGS_API = "/api/v1/requirement-mappings/"
HEADER = (
    "source_framework,source_version,source_ref,target_framework,target_version,target_ref,"
    "relationship,provenance,rationale\n"
)
REQUIREMENTS = [
    "A,,clause,Alpha,,,1,false,{}",
    "B,A,control,Beta,,,2,true,{}",
    "C,A,control,Gamma,,,3,true,{}",
    "D,A,control,Delta,,,4,true,{}",
]


def _write(root, mapping_rows):
    folder = root / "demo" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "framework.json").write_text(
        '{"code": "demo", "version": "1", "name": "Demo", "short_name": "Demo", '
        '"publisher": "Us", "licence": "CC0-1.0"}',
        encoding="utf-8",
    )
    (folder / "requirements.csv").write_text(
        "ref_id,parent_ref_id,kind,title,text,description,order,assessable,attributes\n"
        + "".join(f"{row}\n" for row in REQUIREMENTS),
        encoding="utf-8",
    )
    (root / "mappings").mkdir(exist_ok=True)
    (root / "mappings" / "demo.csv").write_text(
        HEADER + "".join(f"{row}\n" for row in mapping_rows), encoding="utf-8"
    )


def _ref(ref_id):
    return Requirement.objects.get(framework__code="demo", ref_id=ref_id)


def _pair(source, target):
    return RequirementMapping.objects.get(source=_ref(source), target=_ref(target))


def _state():
    return list(RequirementMapping.objects.order_by("pk").values()), ChangeEvent.objects.count()


@pytest.fixture
def shipped(db, tmp_path):
    """A catalog root with two shipped mappings, loaded once."""
    _write(
        tmp_path,
        ["demo,1,B,demo,1,C,subset,Demo crosswalk,As shipped", "demo,1,B,demo,1,D,related,Demo crosswalk,"],
    )
    load_catalogs(tmp_path)
    return tmp_path


def test_it_marks_loaded_mappings_as_shipped(shipped):
    assert set(RequirementMapping.objects.values_list("origin", "modified_locally")) == {("catalog", False)}


def test_it_keeps_an_officers_edit_of_a_shipped_pair(shipped, officer):
    edited = mappings.update_mapping(
        actor=officer, mapping=_pair("B", "C"), changes={"relationship": "equal", "rationale": "Ours"}
    )
    assert (edited.origin, edited.modified_locally) == ("catalog", True)
    event = ChangeEvent.objects.filter(table_name="governance_requirementmapping").latest("pk")
    assert event.object_pk == str(edited.pk)
    assert event.changes["modified_locally"] == [False, True]
    assert event.after["origin"] == "catalog"
    before = _state()

    result = load_catalogs(shipped)

    assert result["mappings"]["demo.csv"] == {
        "rows": 2,
        "kept": 1,
        "created": 0,
        "updated": 0,
        "unchanged": 1,
    }
    mapping = _pair("B", "C")
    assert (mapping.relationship, mapping.rationale) == ("equal", "Ours")
    assert _state() == before, "a load that keeps an officer's edit writes nothing"


def test_it_keeps_an_officers_edit_when_the_file_changes_too(shipped, officer):
    mappings.update_mapping(actor=officer, mapping=_pair("B", "C"), changes={"rationale": "Ours"})
    _write(
        shipped,
        ["demo,1,B,demo,1,C,intersect,Demo crosswalk 2,Revised", "demo,1,B,demo,1,D,related,Demo crosswalk,"],
    )

    result = load_catalogs(shipped)

    assert result["mappings"]["demo.csv"]["kept"] == 1
    mapping = _pair("B", "C")
    assert (mapping.relationship, mapping.provenance, mapping.rationale) == (
        "subset",
        "Demo crosswalk",
        "Ours",
    )


def test_it_updates_an_untouched_shipped_row_when_the_file_changes(shipped, officer):
    mappings.update_mapping(actor=officer, mapping=_pair("B", "C"), changes={"rationale": "Ours"})
    _write(
        shipped,
        [
            "demo,1,B,demo,1,C,subset,Demo crosswalk,As shipped",
            "demo,1,B,demo,1,D,equal,Demo crosswalk,Revised",
        ],
    )
    events = ChangeEvent.objects.count()

    result = load_catalogs(shipped)

    assert result["mappings"]["demo.csv"] == {
        "rows": 2,
        "kept": 1,
        "created": 0,
        "updated": 1,
        "unchanged": 0,
    }
    untouched = _pair("B", "D")
    assert (untouched.relationship, untouched.rationale) == ("equal", "Revised")
    assert (untouched.origin, untouched.modified_locally) == ("catalog", False)
    assert ChangeEvent.objects.count() == events + 1

    before = _state()
    again = load_catalogs(shipped)
    assert _state() == before, "a second load writes nothing"
    assert again["mappings"]["demo.csv"]["updated"] == again["mappings"]["demo.csv"]["created"] == 0


def test_it_keeps_a_mapping_an_officer_recorded_that_a_later_file_ships(shipped, officer):
    local = mappings.create_mapping(
        actor=officer,
        data={
            "source": _ref("C"),
            "target": _ref("D"),
            "relationship": "related",
            "provenance": "Review 2026",
        },
    )
    reverse = mappings.create_mapping(
        actor=officer,
        data={
            "source": _ref("D"),
            "target": _ref("A"),
            "relationship": "superset",
            "provenance": "Review 2026",
        },
    )
    assert (local.origin, local.modified_locally) == ("local", False)
    _write(
        shipped,
        [
            "demo,1,B,demo,1,C,subset,Demo crosswalk,As shipped",
            "demo,1,B,demo,1,D,related,Demo crosswalk,",
            "demo,1,C,demo,1,D,equal,Demo crosswalk,Shipped later",
            "demo,1,A,demo,1,D,subset,Demo crosswalk,Shipped the other way round",
        ],
    )
    before = _state()

    result = load_catalogs(shipped)

    assert result["mappings"]["demo.csv"]["kept"] == 2
    assert result["mappings"]["demo.csv"]["created"] == 0
    assert _state() == before
    local.refresh_from_db()
    assert (local.relationship, local.provenance, local.origin) == ("related", "Review 2026", "local")
    assert not RequirementMapping.objects.filter(source=_ref("A"), target=_ref("D")).exists()
    assert RequirementMapping.objects.filter(pk=reverse.pk).exists()


def test_it_counts_an_officers_mapping_that_matches_the_file_as_unchanged(shipped, officer):
    mappings.update_mapping(actor=officer, mapping=_pair("B", "D"), changes={"rationale": "Ours"})
    mappings.update_mapping(actor=officer, mapping=_pair("B", "D"), changes={"rationale": ""})

    result = load_catalogs(shipped)

    assert result["mappings"]["demo.csv"]["kept"] == 0
    assert result["mappings"]["demo.csv"]["unchanged"] == 2
    assert _pair("B", "D").modified_locally, "still the officer's: a later file change is not applied"


def test_it_does_not_mark_a_shipped_mapping_saved_without_a_change(shipped, officer):
    mapping = _pair("B", "C")
    values = {name: getattr(mapping, name) for name in ("source", "target", "relationship", "rationale")}
    saved = mappings.update_mapping(actor=officer, mapping=mapping, changes=values)
    assert not saved.modified_locally


def test_it_ignores_origin_in_an_officers_data(shipped, officer):
    mapping = mappings.create_mapping(
        actor=officer,
        data={
            "source": _ref("C"),
            "target": _ref("D"),
            "relationship": "related",
            "provenance": "Review",
            "origin": "catalog",
        },
    )
    assert mapping.origin == "local"
    changed = mappings.update_mapping(
        actor=officer, mapping=_pair("B", "C"), changes={"modified_locally": False, "rationale": "Ours"}
    )
    assert changed.modified_locally


def test_it_reports_kept_mappings_from_the_command(shipped, officer, capsys):
    mappings.update_mapping(actor=officer, mapping=_pair("B", "C"), changes={"rationale": "Ours"})
    call_command("load_catalogs", root=shipped)
    out = capsys.readouterr().out
    assert "mappings/demo.csv: 2 mappings; created 0, updated 0, unchanged 1, kept 1" in out
    assert "1 mappings kept as officers recorded or changed them" in out


def test_it_marks_admin_writes(shipped, officer, client):
    client.force_login(officer)
    mapping = _pair("B", "C")
    url = reverse("admin:governance_requirementmapping_change", args=[mapping.pk])
    form = {
        "source": mapping.source_id,
        "target": mapping.target_id,
        "relationship": "equal",
        "provenance": mapping.provenance,
        "rationale": "Reviewed by the officer",
    }
    assert client.post(url, form).status_code == 302
    mapping.refresh_from_db()
    assert (mapping.origin, mapping.modified_locally, mapping.relationship) == ("catalog", True, "equal")

    added = {**form, "source": _ref("C").pk, "target": _ref("D").pk}
    assert client.post(reverse("admin:governance_requirementmapping_add"), added).status_code == 302
    assert _pair("C", "D").origin == "local"

    changelist = reverse("admin:governance_requirementmapping_changelist")
    shipped_only = client.get(changelist, {"origin__exact": "catalog"})
    assert shipped_only.status_code == 200
    assert {row.pk for row in shipped_only.context["cl"].result_list} == {mapping.pk, _pair("B", "D").pk}
    assert "Made in Verity" in client.get(changelist).content.decode()


def test_it_marks_api_writes(shipped, officer, api_as):
    api = api_as(officer)
    mapping = _pair("B", "D")
    response = api.patch(
        f"{MAPPINGS_API}{mapping.pk}/", {"rationale": "Ours", "modified_locally": False}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["origin"], response.json()["modified_locally"]) == ("catalog", True)

    created = api.post(
        MAPPINGS_API,
        {
            "source": _ref("C").pk,
            "target": _ref("D").pk,
            "relationship": "related",
            "provenance": "Review",
            "origin": "catalog",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["origin"] == "local"

    listed = api.get(MAPPINGS_API, {"origin": "local"})
    assert [row["id"] for row in listed.json()["results"]] == [created.json()["id"]]
    modified = api.get(MAPPINGS_API, {"modified_locally": "true"})
    assert [row["id"] for row in modified.json()["results"]] == [mapping.pk]
