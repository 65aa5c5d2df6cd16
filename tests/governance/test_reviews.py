"""Reviews: policies, scheduling, completing and waiving, and material changes of a system."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance import choices
from governance.exceptions import Conflict, NotAllowed
from governance.models import Review, ReviewPolicy
from governance.services import inventory, reviews
from tests.factories import (
    AIModelFactory,
    AISystemFactory,
    ReviewFactory,
    ReviewPolicyFactory,
    SystemModelFactory,
)

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
SHA_A = "a" * 64
SHA_B = "b" * 64


def _deployed(**fields):
    return AISystemFactory(
        lifecycle_stage=choices.LifecycleStage.DEPLOYED, deployed_on=datetime.date(2025, 1, 6), **fields
    )


ANSWERS = {"purpose": "Still summarises tickets.", "incidents": "Two minor, both closed."}


# --- Policies ----------------------------------------------------------------------------------


def test_it_ships_a_default_policy_per_tier():
    policies = {p.risk_tier: p for p in ReviewPolicy.objects.filter(eu_ai_act_class="")}
    assert {tier: p.cadence_days for tier, p in policies.items()} == {
        "critical": 90,
        "high": 180,
        "medium": 365,
        "low": 730,
    }
    for policy in policies.values():
        assert policy.reminder_lead_days == [30, 7, 1]
        assert policy.escalate_after_days == 7
        assert [q["key"] for q in policy.checklist] == [
            "purpose",
            "risk_assessment",
            "incidents",
            "oversight",
        ]
        policy.full_clean()


def test_it_picks_the_class_policy_over_the_tier_policy():
    tier = ReviewPolicy.objects.get(risk_tier="high", eu_ai_act_class="")
    for_high_risk = ReviewPolicyFactory(risk_tier="high", eu_ai_act_class="high_risk", cadence_days=60)
    assert reviews.policy_for(AISystemFactory(risk_tier="high", eu_ai_act_class="minimal")) == tier
    high_risk = AISystemFactory(risk_tier="high", eu_ai_act_class="high_risk", annex_iii_area="employment")
    assert reviews.policy_for(high_risk) == for_high_risk


def test_it_falls_back_to_unsaved_defaults_without_a_policy():
    ReviewPolicy.objects.all().delete()
    policy = reviews.policy_for(AISystemFactory(risk_tier="critical"))
    assert policy.pk is None
    assert (policy.cadence_days, policy.reminder_lead_days, policy.escalate_after_days) == (90, [30, 7, 1], 7)
    assert len(policy.checklist) == 4


# --- Scheduling --------------------------------------------------------------------------------


def test_it_schedules_the_next_review_from_the_policy():
    system = AISystemFactory(risk_tier="medium")
    after = timezone.now()
    review = reviews.schedule_next(system=system, after=after)
    assert review.due_at == after + 365 * DAY
    assert (review.status, review.trigger) == ("scheduled", "cadence")
    assert [q["key"] for q in review.checklist] == ["purpose", "risk_assessment", "incidents", "oversight"]


def test_it_keeps_the_open_review_when_scheduling_again():
    review = ReviewFactory()
    assert reviews.schedule_next(system=review.system, after=timezone.now()) == review
    assert Review.objects.count() == 1


def test_it_brings_the_open_review_forward_on_a_material_change():
    review = ReviewFactory(due_at=timezone.now() + 40 * DAY)
    now = timezone.now()
    changed = reviews.require_review_now(system=review.system, reason="Model version changed.", now=now)
    assert changed.pk == review.pk
    assert (changed.due_at, changed.trigger, changed.reason) == (
        now,
        "material_change",
        "Model version changed.",
    )
    again = reviews.require_review_now(system=review.system, reason="Prompt changed.", now=now + DAY)
    assert again.due_at == now  # the earlier due date stays
    assert again.reason == "Model version changed.; Prompt changed."


def test_it_creates_a_review_due_now_when_none_is_open():
    system = AISystemFactory()
    now = timezone.now()
    review = reviews.require_review_now(system=system, reason="SEV1 incident INC-2026-4.", now=now)
    assert (review.due_at, review.trigger, review.status) == (now, "material_change", "scheduled")
    assert review.checklist


# --- Working a review --------------------------------------------------------------------------


def test_it_lets_an_officer_start_a_review(officer):
    review = reviews.start_review(actor=officer, review=ReviewFactory())
    assert (review.status, review.reviewer) == ("in_progress", officer)


def test_it_keeps_an_overdue_review_overdue_when_started(officer):
    review = ReviewFactory(status="overdue", due_at=timezone.now() - DAY)
    review = reviews.start_review(actor=officer, review=review)
    assert (review.status, review.reviewer) == ("overdue", officer)


@pytest.mark.parametrize("persona", ["engineer", "auditor"])
def test_it_refuses_review_work_to_non_officers(personas, persona):
    review = ReviewFactory()
    with pytest.raises(NotAllowed):
        reviews.start_review(actor=personas[persona], review=review)
    with pytest.raises(NotAllowed):
        reviews.complete_review(actor=personas[persona], review=review, outcome="approved", answers=ANSWERS)
    with pytest.raises(NotAllowed):
        reviews.waive_review(actor=personas[persona], review=review, reason="Retiring soon.")


def test_it_completes_a_review_and_schedules_the_next(officer):
    review = ReviewFactory(system__risk_tier="critical")
    now = timezone.now()
    done = reviews.complete_review(
        actor=officer, review=review, outcome="approved", answers={**ANSWERS, "purpose": "  Yes.  "}, now=now
    )
    assert (done.status, done.outcome, done.signed_off_by, done.signed_off_at) == (
        "completed",
        "approved",
        officer,
        now,
    )
    assert done.answers == {**ANSWERS, "purpose": "Yes."}
    assert done.reviewer == officer
    following = Review.objects.open().get(system=review.system)
    assert following.due_at == now + 90 * DAY


def test_it_requires_every_answer_and_a_known_outcome(officer):
    review = ReviewFactory()
    with pytest.raises(ValidationError) as error:
        reviews.complete_review(
            actor=officer, review=review, outcome="maybe", answers={"purpose": "Yes.", "extra": "?"}
        )
    assert set(error.value.message_dict) == {"outcome", "answers"}
    with pytest.raises(ValidationError) as error:
        reviews.complete_review(actor=officer, review=review, outcome="approved", answers={"purpose": "Yes."})
    assert "incidents" in error.value.message_dict["answers"][0]
    review.refresh_from_db()
    assert review.status == "scheduled"


def test_it_requires_conditions_only_for_a_conditional_approval(officer):
    review = ReviewFactory()
    with pytest.raises(ValidationError) as error:
        reviews.complete_review(
            actor=officer, review=review, outcome="approved_with_conditions", answers=ANSWERS
        )
    assert "conditions" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        reviews.complete_review(
            actor=officer, review=review, outcome="approved", answers=ANSWERS, conditions="Monthly audit."
        )
    assert "conditions" in error.value.message_dict
    done = reviews.complete_review(
        actor=officer,
        review=review,
        outcome="approved_with_conditions",
        answers=ANSWERS,
        conditions="Monthly audit.",
    )
    assert (done.outcome, done.conditions) == ("approved_with_conditions", "Monthly audit.")


def test_it_refuses_to_complete_a_review_that_is_not_open(officer):
    review = ReviewFactory()
    reviews.waive_review(actor=officer, review=review, reason="Superseded by the audit.")
    with pytest.raises(Conflict):
        reviews.complete_review(actor=officer, review=review, outcome="approved", answers=ANSWERS)
    with pytest.raises(Conflict):
        reviews.waive_review(actor=officer, review=review, reason="Again.")
    with pytest.raises(Conflict):
        reviews.start_review(actor=officer, review=review)


def test_it_waives_with_a_reason_and_schedules_the_next(officer):
    review = ReviewFactory(system__risk_tier="high")
    with pytest.raises(ValidationError) as error:
        reviews.waive_review(actor=officer, review=review, reason="  ")
    assert "reason" in error.value.message_dict
    now = timezone.now()
    waived = reviews.waive_review(
        actor=officer, review=review, reason="Covered by the annual audit.", now=now
    )
    assert (waived.status, waived.waived_reason) == ("waived", "Covered by the annual audit.")
    assert Review.objects.open().get(system=review.system).due_at == now + 180 * DAY


# --- Material changes through the inventory ----------------------------------------------------


def test_it_schedules_the_first_review_when_a_deployed_system_is_created(officer, team_a):
    system = inventory.create_system(
        actor=officer,
        data={
            "slug": "fresh",
            "name": "Fresh",
            "purpose": "Answers questions.",
            "owning_team": team_a,
            "lifecycle_stage": "deployed",
            "deployed_on": datetime.date(2025, 5, 1),
            "operator_role": "deployer",
            "risk_tier": "high",
            "autonomy_level": "assistive",
            "human_oversight": "in_the_loop",
        },
    )
    review = Review.objects.get(system=system)
    assert review.trigger == "cadence"
    assert review.due_at - timezone.now() > 179 * DAY


def test_it_schedules_nothing_for_a_system_in_development(engineer, team_a):
    inventory.create_system(
        actor=engineer,
        data={
            "slug": "draft",
            "name": "Draft",
            "purpose": "Not yet.",
            "owning_team": team_a,
            "operator_role": "deployer",
            "risk_tier": "low",
            "autonomy_level": "assistive",
            "human_oversight": "in_the_loop",
        },
    )
    assert not Review.objects.exists()


def test_it_schedules_the_first_review_when_a_system_is_deployed(engineer, team_a):
    system = AISystemFactory(owning_team=team_a, risk_tier="low")
    inventory.update_system(
        actor=engineer,
        system=system,
        changes={"lifecycle_stage": "deployed", "deployed_on": datetime.date(2025, 5, 1)},
    )
    assert Review.objects.get(system=system).trigger == "cadence"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"system_prompt_sha256": SHA_B}, "System prompt changed."),
        ({"eu_ai_act_class": "limited"}, "EU AI Act class changed."),
        ({"eu_ai_act_class": "limited", "system_prompt_sha256": SHA_B}, "System prompt changed; EU AI Act"),
    ],
)
def test_it_makes_a_review_due_now_on_a_material_change(engineer, team_a, changes, reason):
    system = _deployed(owning_team=team_a, system_prompt_ref="prompts/a.md", system_prompt_sha256=SHA_A)
    cadence = ReviewFactory(system=system, due_at=timezone.now() + 100 * DAY)
    before = timezone.now()
    inventory.update_system(actor=engineer, system=system, changes=changes)
    review = Review.objects.open().get(system=system)
    assert review.pk == cadence.pk
    assert review.trigger == "material_change"
    assert review.reason.startswith(reason)
    assert before <= review.due_at <= timezone.now()


def test_it_ignores_changes_that_are_not_material(engineer, team_a):
    system = _deployed(owning_team=team_a, system_prompt_ref="prompts/a.md", system_prompt_sha256=SHA_A)
    inventory.update_system(
        actor=engineer, system=system, changes={"purpose": "Now also drafts replies.", "tags": ["x"]}
    )
    assert not Review.objects.exists()


def test_it_treats_a_new_primary_model_as_a_material_change(engineer, team_a):
    system = _deployed(owning_team=team_a)
    old, new, guard = AIModelFactory(version="1.0"), AIModelFactory(version="2.0"), AIModelFactory()
    SystemModelFactory(system=system, model=old, role="primary")
    inventory.update_system(
        actor=engineer,
        system=system,
        changes={},
        model_links=[{"model": old, "role": "primary"}, {"model": guard, "role": "guard"}],
    )
    assert not Review.objects.exists()  # a guard model added: not the primary model
    inventory.update_system(
        actor=engineer,
        system=system,
        changes={},
        model_links=[{"model": new, "role": "primary"}, {"model": guard, "role": "guard"}],
    )
    review = Review.objects.get(system=system)
    assert (review.trigger, review.reason) == ("material_change", "Primary model changed.")


def test_it_ignores_material_changes_before_deployment(engineer, team_a):
    system = AISystemFactory(owning_team=team_a, system_prompt_ref="p.md", system_prompt_sha256=SHA_A)
    inventory.update_system(actor=engineer, system=system, changes={"system_prompt_sha256": SHA_B})
    assert not Review.objects.exists()


def test_it_applies_material_changes_saved_in_the_admin(officer, team_a):
    system = _deployed(owning_team=team_a, eu_ai_act_class="minimal")
    system.eu_ai_act_class = "limited"
    inventory.save_system(actor=officer, system=system, original_team_id=team_a.pk)
    review = Review.objects.get(system=system)
    assert (review.trigger, review.reason) == ("material_change", "EU AI Act class changed.")


def test_it_gives_deployed_demo_systems_a_first_review_once():
    from governance.services import demo

    slugs = [spec["slug"] for spec in demo.SYSTEMS[:3]]
    for slug in slugs[:2]:
        _deployed(slug=slug)
    AISystemFactory(slug=slugs[2])  # in development
    assert demo._schedule_first_reviews() == 2
    assert demo._schedule_first_reviews() == 0
    assert set(Review.objects.values_list("system__slug", flat=True)) == set(slugs[:2])
