"""CSV sections written by PostgreSQL: the same neutralisation as rows built in Python."""

import csv
import io

import pytest

from governance.models import AISystem, Risk
from governance.packs.tables import QueryRows
from governance.services.exports import FORMULA_TRIGGERS, neutralise_cell
from tests.factories import AISystemFactory, RiskFactory, UserFactory


def _csv(rows: QueryRows) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(rows.chunks()).decode("utf-8"))))


@pytest.mark.django_db
def test_it_neutralises_every_leading_trigger_like_python_does():
    triggers = [c for c in FORMULA_TRIGGERS if c != "\0"]  # PostgreSQL text cannot hold NUL
    for n, trigger in enumerate(triggers):
        AISystemFactory(slug=f"t-{n}", name=f"{trigger}cmd", purpose=f"plain {trigger}")
    rows = QueryRows(AISystem.objects.order_by("id"), ["id", "name", "purpose", "owning_team__slug"])
    parsed = _csv(rows)
    assert parsed[0] == ["id", "name", "purpose", "owning_team__slug"]
    assert [row[1] for row in parsed[1:]] == [neutralise_cell(f"{t}cmd") for t in triggers]
    assert [row[2] for row in parsed[1:]] == [f"plain {t}" for t in triggers]
    assert rows.count == len(triggers)


@pytest.mark.django_db
def test_it_leaves_numbers_dates_and_booleans_alone_and_writes_null_as_empty():
    risk = RiskFactory(title="-2+3", likelihood=2, impact=5, owner=UserFactory())
    rows = QueryRows(
        Risk.objects.filter(pk=risk.pk),
        ["id", "title", "inherent_score", "residual_score", "review_on", "owner__is_active"],
    )
    (_header, row) = _csv(rows)
    assert row[:5] == [str(risk.pk), "'-2+3", "10", "", ""]
    assert row[5] == "true"
    assert _csv(QueryRows(Risk.objects.filter(pk=risk.pk), ["created_at"]))[1][0].endswith("+00")


@pytest.mark.django_db
def test_it_binds_the_querysets_parameters_and_keeps_its_order():
    for n in range(5):
        AISystemFactory(slug=f"p-{n}", name=f"System {n}")
    queryset = AISystem.objects.filter(slug__in=["p-3", "p-1", "p-4"]).order_by("-slug")
    parsed = _csv(QueryRows(queryset, ["slug", "name"], header=["system", "name"]))
    assert parsed == [["system", "name"], ["p-4", "System 4"], ["p-3", "System 3"], ["p-1", "System 1"]]


@pytest.mark.django_db
def test_it_quotes_newlines_and_quotes_inside_cells():
    AISystemFactory(slug="q", name='two\nlines, "quoted"\r\n=end')
    parsed = _csv(QueryRows(AISystem.objects.filter(slug="q"), ["name"]))
    assert parsed[1] == ['two\nlines, "quoted"\r\n=end']
