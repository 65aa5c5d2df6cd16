"""Material changes saved on the AI system's admin page (Django test client): the main form and the
"Models this system uses" inline make a review due exactly as the API and the services do."""

import datetime

import pytest
from django import forms
from django.utils import timezone

from governance import choices
from governance.models import Review
from tests.factories import AIModelFactory, AISystemFactory, ReviewFactory, SystemModelFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
INLINE = "model_links"


def _url(system):
    return f"/admin/governance/aisystem/{system.pk}/change/"


def _field_value(bound_field):
    value = bound_field.value()
    if isinstance(bound_field.field.widget, forms.SelectMultiple | forms.CheckboxSelectMultiple):
        return list(value or [])
    value = bound_field.field.prepare_value(value)
    return "" if value is None else value


def _change_form(client, system):
    """The change page's form as the browser would post it unchanged: main form, inline rows and
    the inline's management form."""
    response = client.get(_url(system))
    assert response.status_code == 200
    data = {bf.html_name: _field_value(bf) for bf in response.context["adminform"].form}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({bf.html_name: _field_value(bf) for bf in management})
        for form in formset.forms:
            data.update({bf.html_name: _field_value(bf) for bf in form})
    return {name: value for name, value in data.items() if value is not False}


def _rows(data):
    """Inline row index by linked model id."""
    count = int(data[f"{INLINE}-TOTAL_FORMS"])
    return {int(data[f"{INLINE}-{i}-model"]): i for i in range(count)}


def _post(client, system, data):
    response = client.post(_url(system), data)
    assert response.status_code == 302, response.context and [
        response.context["adminform"].form.errors,
        [inline.formset.errors for inline in response.context["inline_admin_formsets"]],
    ]


@pytest.fixture
def deployed(team_a):
    """A deployed system with a primary and a fallback model and a cadence review months away."""
    system = AISystemFactory(
        owning_team=team_a,
        lifecycle_stage=choices.LifecycleStage.DEPLOYED,
        deployed_on=datetime.date(2025, 1, 6),
        eu_ai_act_class="minimal",
    )
    primary, fallback = AIModelFactory(version="1.0"), AIModelFactory(version="2.0")
    SystemModelFactory(system=system, model=primary, role="primary")
    SystemModelFactory(system=system, model=fallback, role="fallback")
    review = ReviewFactory(system=system, due_at=timezone.now() + 100 * DAY)
    return system, primary, fallback, review


def _assert_due_now(review, before, reason):
    review.refresh_from_db()
    assert (review.trigger, review.reason) == ("material_change", reason)
    assert before <= review.due_at <= timezone.now()


def test_it_makes_a_review_due_when_another_model_is_made_primary(client, officer, deployed):
    system, primary, fallback, review = deployed
    client.force_login(officer)
    data = _change_form(client, system)
    rows = _rows(data)
    data[f"{INLINE}-{rows[primary.pk]}-role"] = "fallback"
    data[f"{INLINE}-{rows[fallback.pk]}-role"] = "primary"
    before = timezone.now()
    _post(client, system, data)

    assert dict(system.model_links.values_list("model_id", "role")) == {
        primary.pk: "fallback",
        fallback.pk: "primary",
    }
    assert Review.objects.open().get(system=system).pk == review.pk
    _assert_due_now(review, before, "Primary model changed.")


def test_it_makes_a_review_due_when_the_primary_model_is_replaced(client, officer, deployed):
    system, primary, _fallback, review = deployed
    newer = AIModelFactory(version="3.0")
    client.force_login(officer)
    data = _change_form(client, system)
    data[f"{INLINE}-{_rows(data)[primary.pk]}-model"] = newer.pk
    before = timezone.now()
    _post(client, system, data)

    assert system.model_links.get(role="primary").model_id == newer.pk
    _assert_due_now(review, before, "Primary model changed.")


def test_it_leaves_the_review_alone_on_changes_that_are_not_material(client, officer, deployed):
    system, primary, fallback, review = deployed
    guard = AIModelFactory(version="4.0")
    client.force_login(officer)
    data = _change_form(client, system)
    data["purpose"] = "Now also drafts replies."
    data[f"{INLINE}-{_rows(data)[fallback.pk]}-notes"] = "Used when the primary is down."
    total = int(data[f"{INLINE}-TOTAL_FORMS"])
    data.update({f"{INLINE}-{total}-model": guard.pk, f"{INLINE}-{total}-role": "guard"})
    data[f"{INLINE}-TOTAL_FORMS"] = total + 1
    unchanged = (review.trigger, review.reason, review.due_at)
    _post(client, system, data)

    system.refresh_from_db()
    assert system.purpose == "Now also drafts replies."
    assert system.model_links.count() == 3
    review.refresh_from_db()
    assert (review.trigger, review.reason, review.due_at) == unchanged
    assert review.trigger != "material_change"
    assert Review.objects.filter(system=system).count() == 1


def test_it_makes_a_review_due_when_the_eu_ai_act_class_changes(client, officer, deployed):
    system, _primary, _fallback, review = deployed
    client.force_login(officer)
    data = _change_form(client, system)
    data["eu_ai_act_class"] = "limited"
    before = timezone.now()
    _post(client, system, data)

    _assert_due_now(review, before, "EU AI Act class changed.")


def test_it_makes_a_review_due_when_the_system_prompt_changes(client, officer, deployed):
    system, _primary, _fallback, review = deployed
    system.system_prompt_ref, system.system_prompt_sha256 = "prompts/a.md", "a" * 64
    system.save()
    client.force_login(officer)
    data = _change_form(client, system)
    data["system_prompt_sha256"] = "b" * 64
    before = timezone.now()
    _post(client, system, data)

    _assert_due_now(review, before, "System prompt changed.")


def test_it_makes_one_review_due_for_changes_to_the_form_and_the_inline_at_once(client, officer, deployed):
    system, primary, fallback, review = deployed
    client.force_login(officer)
    data = _change_form(client, system)
    rows = _rows(data)
    data["eu_ai_act_class"] = "limited"
    data[f"{INLINE}-{rows[primary.pk]}-DELETE"] = "on"
    data[f"{INLINE}-{rows[fallback.pk]}-role"] = "primary"
    before = timezone.now()
    _post(client, system, data)

    assert list(system.model_links.values_list("model_id", "role")) == [(fallback.pk, "primary")]
    assert Review.objects.open().filter(system=system).count() == 1
    _assert_due_now(review, before, "EU AI Act class changed; primary model changed.")


def test_it_creates_one_due_review_when_none_is_open(client, officer, deployed):
    system, primary, fallback, review = deployed
    review.delete()
    client.force_login(officer)
    data = _change_form(client, system)
    rows = _rows(data)
    data["eu_ai_act_class"] = "limited"
    data[f"{INLINE}-{rows[primary.pk]}-role"] = "fallback"
    data[f"{INLINE}-{rows[fallback.pk]}-role"] = "primary"
    before = timezone.now()
    _post(client, system, data)

    created = Review.objects.get(system=system)
    _assert_due_now(created, before, "EU AI Act class changed; primary model changed.")


def test_it_adds_a_deployed_system_with_its_models_and_first_review(client, officer, deployed):
    template, primary, fallback, _review = deployed
    client.force_login(officer)
    data = _change_form(client, template)
    data = {name: value for name, value in data.items() if not name.endswith(("-id", "-system"))}
    data.update({"name": "Added system", "slug": "added-system", f"{INLINE}-INITIAL_FORMS": 0})
    response = client.post("/admin/governance/aisystem/add/", data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    system = type(template).objects.get(slug="added-system")
    assert dict(system.model_links.values_list("model_id", "role")) == {
        primary.pk: "primary",
        fallback.pk: "fallback",
    }
    assert Review.objects.get(system=system).trigger == "cadence"


def test_it_swaps_the_models_of_two_links_in_one_save(client, officer, deployed):
    system, primary, fallback, _review = deployed
    client.force_login(officer)
    data = _change_form(client, system)
    rows = _rows(data)
    data[f"{INLINE}-{rows[primary.pk]}-model"] = fallback.pk
    data[f"{INLINE}-{rows[fallback.pk]}-model"] = primary.pk
    _post(client, system, data)
    roles = dict(system.model_links.values_list("model_id", "role"))
    assert roles == {fallback.pk: "primary", primary.pk: "fallback"}


def test_it_refuses_one_model_linked_twice_with_a_message(client, officer, deployed):
    system, primary, fallback, _review = deployed
    client.force_login(officer)
    data = _change_form(client, system)
    rows = _rows(data)
    data[f"{INLINE}-{rows[fallback.pk]}-model"] = primary.pk
    response = client.post(_url(system), data)
    assert response.status_code == 200
    errors = [inline.formset.non_form_errors() for inline in response.context["inline_admin_formsets"]]
    assert any("duplicate" in str(e).lower() or "already" in str(e).lower() for e in errors), errors
    assert set(system.model_links.values_list("model_id", flat=True)) == {primary.pk, fallback.pk}
