"""Hallucination findings: dedupe (also concurrent), sensitive prompts, bulk posts and triage."""

import hashlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from governance.choices import Role
from governance.exceptions import NotAllowed, TooLarge
from governance.models import AISystem, User
from incidents.models import HallucinationFinding
from incidents.services import evaluations as services
from tests.factories import (
    AISystemFactory,
    EvaluationRunFactory,
    TeamFactory,
    UserFactory,
)


def _finding(system, **overrides) -> dict:
    return {
        "system": system,
        "model_name": "example-chat",
        "model_version": "2026-01",
        "benchmark_name": "SimpleQA",
        "sample_id": "q-17",
        "claim": "The Eiffel Tower was completed in 1899.",
        "reference": "It was completed in 1889.",
        "kind": "extrinsic",
        "subtype": "wrong_fact",
        "severity": "SEV3",
        **overrides,
    }


# --- Findings -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_finding_posted_twice_is_one_row(engineer, system_a):
    finding, created = services.record_finding(actor=engineer, data=_finding(system_a))
    again, created_again = services.record_finding(
        actor=engineer,
        data=_finding(
            system_a,
            model_name="Example-Chat",
            benchmark_name=" simpleqa",
            claim="the eiffel  tower was\ncompleted in 1899. ",
            severity="SEV2",
        ),
    )
    assert (created, created_again) == (True, False)
    assert again.pk == finding.pk and HallucinationFinding.objects.count() == 1
    assert finding.reporter == engineer and finding.status == "new" and finding.grade == "incorrect"


@pytest.mark.django_db
def test_findings_differing_in_sample_claim_or_system_are_distinct(engineer, system_a, team_a):
    other_system = AISystemFactory(owning_team=team_a)
    services.record_finding(actor=engineer, data=_finding(system_a))
    assert services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-18"))[1]
    assert services.record_finding(actor=engineer, data=_finding(system_a, claim="It is in Lyon."))[1]
    assert services.record_finding(actor=engineer, data=_finding(other_system))[1]


@pytest.mark.django_db
def test_a_sensitive_prompt_is_kept_only_as_its_hash(engineer, system_a):
    prompt = "Patient 4711 asks about their dosage."
    sensitive, _ = services.record_finding(
        actor=engineer, data=_finding(system_a, prompt=prompt, prompt_sensitive=True)
    )
    assert sensitive.prompt == "" and sensitive.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    plain, _ = services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-2", prompt="Hi"))
    assert plain.prompt == "Hi"
    with pytest.raises(ValidationError):
        services.record_finding(
            actor=engineer, data=_finding(system_a, sample_id="q-3", prompt="Hi", prompt_sha256="0" * 64)
        )


@pytest.mark.django_db
def test_a_finding_of_a_run_takes_its_model_and_benchmark(engineer, system_a, team_b):
    run = EvaluationRunFactory(system=system_a, model_version="2026-03", benchmark_name="HaluEval")
    data = {
        key: value
        for key, value in _finding(system_a).items()
        if key not in {"system", "model_version", "benchmark_name"}
    }
    finding, _ = services.record_finding(actor=engineer, data={**data, "run": run})
    assert (finding.system, finding.model_version, finding.benchmark_name) == (
        system_a,
        "2026-03",
        "HaluEval",
    )
    with pytest.raises(ValidationError) as error:
        services.record_finding(
            actor=engineer,
            data={**data, "run": run, "system": AISystemFactory(owning_team=system_a.owning_team)},
        )
    assert "run" in error.value.message_dict


@pytest.mark.django_db
def test_other_teams_cannot_post_findings(other_engineer, auditor, system_a):
    with pytest.raises(ValidationError):
        services.record_finding(actor=other_engineer, data=_finding(system_a))
    with pytest.raises(NotAllowed):
        services.record_finding(actor=auditor, data=_finding(system_a))


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_finding_make_one_row():
    team = TeamFactory()
    engineer = UserFactory(role=Role.ENGINEER, teams=[team])
    system = AISystemFactory(owning_team=team)
    threads_count = 6
    start = threading.Barrier(threads_count)
    outcomes: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def post():
        try:
            actor = User.objects.get(pk=engineer.pk)
            target = AISystem.objects.select_related("owning_team").get(pk=system.pk)
            start.wait(timeout=30)
            finding, created = services.record_finding(actor=actor, data=_finding(target))
            outcomes.append((finding.pk, created))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert HallucinationFinding.objects.count() == 1
    assert {pk for pk, _ in outcomes} == {HallucinationFinding.objects.get().pk}
    assert sorted(created for _, created in outcomes) == [False] * (threads_count - 1) + [True]


@pytest.mark.django_db
def test_a_bulk_post_is_all_or_nothing_with_errors_per_item(engineer, system_a):
    items = [
        _finding(system_a, sample_id="q-1"),
        _finding(system_a, sample_id="q-2", kind="made_up"),
        _finding(system_a, sample_id="q-3"),
        _finding(system_a, sample_id="q-4", claim="  "),
        "not an object",
    ]
    with pytest.raises(services.BulkInvalid) as error:
        services.record_findings(actor=engineer, items=items)

    assert set(error.value.errors) == {1, 3, 4}
    assert "kind" in error.value.errors[1] and "claim" in error.value.errors[3]
    assert "__all__" in error.value.errors[4]
    assert not HallucinationFinding.objects.exists()


@pytest.mark.django_db
def test_a_bulk_post_returns_existing_and_repeated_findings(engineer, system_a):
    stored, _ = services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-1"))
    items = [
        _finding(system_a, sample_id="q-1"),
        _finding(system_a, sample_id="q-2"),
        _finding(system_a, sample_id="Q-2 "),
        _finding(system_a, sample_id="q-3"),
    ]
    results = services.record_findings(actor=engineer, items=items)

    assert [created for _, created in results] == [False, True, False, True]
    assert results[0][0].pk == stored.pk and results[1][0].pk == results[2][0].pk
    assert HallucinationFinding.objects.count() == 3
    assert [created for _, created in services.record_findings(actor=engineer, items=items)] == [False] * 4


@pytest.mark.django_db
def test_a_bulk_post_is_limited(engineer, system_a):
    items = [_finding(system_a, sample_id=f"q-{n}") for n in range(services.MAX_BULK_FINDINGS + 1)]
    with pytest.raises(TooLarge):
        services.record_findings(actor=engineer, items=items)


@pytest.mark.django_db
def test_triage_of_findings(officer, engineer, other_engineer, system_a):
    first, _ = services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-1"))
    second, _ = services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-2"))
    third, _ = services.record_finding(actor=engineer, data=_finding(system_a, sample_id="q-3"))

    assert (
        services.update_finding_status(actor=engineer, finding=first, status="confirmed").status
        == "confirmed"
    )
    with pytest.raises(ValidationError):
        services.update_finding_status(actor=engineer, finding=second, status="duplicate")
    with pytest.raises(ValidationError):
        services.update_finding_status(actor=engineer, finding=second, status="fixed", duplicate_of=first)
    with pytest.raises(ValidationError):
        services.update_finding_status(actor=engineer, finding=first, status="duplicate", duplicate_of=first)
    services.update_finding_status(actor=engineer, finding=third, status="duplicate", duplicate_of=second)
    services.update_finding_status(actor=engineer, finding=second, status="duplicate", duplicate_of=first)
    third.refresh_from_db()
    assert third.duplicate_of == first, "a duplicate follows its original to the original's original"

    with pytest.raises(NotAllowed):
        services.update_finding_status(actor=engineer, finding=first, status="risk_accepted")
    with pytest.raises(NotAllowed):
        services.update_finding_status(actor=other_engineer, finding=first, status="fixed")
    accepted = services.update_finding_status(actor=officer, finding=first, status="risk_accepted")
    assert accepted.status == "risk_accepted" and accepted.duplicate_of is None
