import factory
from django.contrib.auth.models import Group, Permission

from governance import choices
from governance.models import AIModel, AISystem, SystemModel, Team, TeamMembership, User
from governance.roles import apply_role_permissions


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            # Transactional tests flush the tables, taking the migration-made groups with them.
            group = Group.objects.filter(name=extracted).first()
            self.groups.add(group or apply_role_permissions(Group, Permission)[extracted])

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        for team in extracted or []:
            TeamMembership.objects.create(team=team, user=self)


class AIModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIModel

    provider = "Acme AI"
    name = factory.Sequence(lambda n: f"acme-model-{n}")
    version = "1.0"
    modality = choices.ModelModality.TEXT
    model_type = choices.ModelType.FOUNDATION
    weights = choices.WeightsAvailability.CLOSED
    hosting = choices.Hosting.VENDOR_API


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem

    slug = factory.Sequence(lambda n: f"system-{n}")
    name = factory.Sequence(lambda n: f"System {n}")
    purpose = "Helps people do things."
    owning_team = factory.SubFactory(TeamFactory)
    lifecycle_stage = choices.LifecycleStage.DEVELOPMENT
    eu_ai_act_class = choices.EUAIActClass.MINIMAL
    operator_role = choices.OperatorRole.DEPLOYER
    risk_tier = choices.RiskTier.LOW
    autonomy_level = choices.AutonomyLevel.ASSISTIVE
    human_oversight = choices.HumanOversight.IN_THE_LOOP
    jurisdictions = factory.LazyFunction(lambda: ["EU", "DE"])
    tags = factory.LazyFunction(lambda: ["genai"])


class SystemModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SystemModel

    system = factory.SubFactory(AISystemFactory)
    model = factory.SubFactory(AIModelFactory)
    role = choices.ModelRole.PRIMARY


def system_payload(**overrides) -> dict:
    """A minimal valid API body for creating a system of team-a."""
    return {
        "slug": "new-system",
        "name": "New system",
        "purpose": "Summarises tickets.",
        "owning_team": "team-a",
        "operator_role": "deployer",
        "risk_tier": "low",
        "autonomy_level": "assistive",
        "human_oversight": "in_the_loop",
        **overrides,
    }


class FrameworkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.Framework"
        django_get_or_create = ("code", "version")

    code = factory.Sequence(lambda n: f"framework-{n}")
    version = "2023"
    name = factory.LazyAttribute(lambda f: f"Framework {f.code} {f.version}")
    short_name = factory.LazyAttribute(lambda f: f.code)
    publisher = "Test publisher"
    licence = "Identifiers and titles only"
    loaded_from = "tests"


class RequirementFactory(factory.django.DjangoModelFactory):
    """An assessable Annex A-style control unless told otherwise."""

    class Meta:
        model = "governance.Requirement"

    framework = factory.SubFactory(FrameworkFactory)
    ref_id = factory.Sequence(lambda n: f"R.{n}")
    kind = choices.RequirementKind.CONTROL
    title = factory.Sequence(lambda n: f"Requirement {n}")
    order = factory.Sequence(lambda n: n)
    assessable = True


class ControlFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.Control"
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"ctl-{n}")
    title = factory.Sequence(lambda n: f"Control {n}")
    control_type = choices.ControlType.PROCESS
    frequency = choices.ControlFrequency.QUARTERLY

    @factory.post_generation
    def requirements(self, create, extracted, **kwargs):
        if extracted:
            self.requirements.set(extracted)


class ControlImplementationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.ControlImplementation"

    control = factory.SubFactory(ControlFactory)
    system = factory.SubFactory(AISystemFactory)
    status = choices.ImplementationStatus.IN_PROGRESS


class RiskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.Risk"
        skip_postgeneration_save = True

    system = factory.SubFactory(AISystemFactory)
    title = factory.Sequence(lambda n: f"Risk {n}")
    characteristic = choices.TrustworthinessCharacteristic.VALID_RELIABLE
    likelihood = 3
    impact = 4
    treatment = choices.RiskTreatment.MITIGATE

    @factory.post_generation
    def controls(self, create, extracted, **kwargs):
        if extracted:
            self.controls.set(extracted)


# --- Incidents ----------------------------------------------------------------------------------


def _hours_ago(hours: float):
    import datetime

    from django.utils import timezone

    return timezone.now() - datetime.timedelta(hours=hours)


def _sla(severity: str):
    from django.utils import timezone

    from incidents.services.incidents import sla_deadlines

    return sla_deadlines(severity, timezone.now())


class IncidentFactory(factory.django.DjangoModelFactory):
    """A reported incident written directly (not through the service).

    References use the year 2000, so they never clash with those the service hands out.
    """

    class Meta:
        model = "incidents.Incident"

    reference = factory.Sequence(lambda n: f"INC-2000-{n + 1}")
    system = factory.SubFactory(AISystemFactory)
    team = factory.LazyAttribute(lambda o: o.system.owning_team)
    title = factory.Sequence(lambda n: f"Incident {n}")
    description = "The assistant gave a wrong answer."
    occurred_at = factory.LazyFunction(lambda: _hours_ago(2))
    detected_at = factory.LazyAttribute(lambda o: o.occurred_at)
    became_aware_at = factory.LazyAttribute(lambda o: o.detected_at)
    source = "api"
    severity = "SEV3"
    status = "reported"
    respond_by = factory.LazyAttribute(lambda o: _sla(o.severity)[0])
    resolve_by = factory.LazyAttribute(lambda o: _sla(o.severity)[1])


class CorrectiveActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "incidents.CorrectiveAction"

    incident = factory.SubFactory(IncidentFactory)
    description = factory.Sequence(lambda n: f"Corrective action {n}")
    status = "open"


def incident_payload(**overrides) -> dict:
    """A minimal valid API body for reporting an incident of the system ``target``."""
    return {
        "system": "target",
        "title": "Assistant invented a refund policy",
        "description": "A customer was told they could get a refund after 90 days.",
        "occurred_at": "2025-03-01T09:00:00Z",
        "detected_at": "2025-03-01T10:00:00Z",
        "severity": "SEV3",
        **overrides,
    }


# --- Reviews and notifications --------------------------------------------------------------------


class ReviewPolicyFactory(factory.django.DjangoModelFactory):
    """The policy of a tier (and class), replacing the one a migration may have made."""

    class Meta:
        model = "governance.ReviewPolicy"

    risk_tier = choices.RiskTier.LOW
    eu_ai_act_class = ""
    cadence_days = 365
    checklist = factory.LazyFunction(
        lambda: [
            {"key": "purpose", "question": "Is the documented purpose still accurate?"},
            {"key": "incidents", "question": "Were incidents since the last review handled?"},
        ]
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        lookup = {name: kwargs.pop(name) for name in ("risk_tier", "eu_ai_act_class")}
        policy, _ = model_class.objects.update_or_create(**lookup, defaults=kwargs)
        return policy


class ReviewFactory(factory.django.DjangoModelFactory):
    """An open review due in 10 days, with a two-question checklist."""

    class Meta:
        model = "governance.Review"

    system = factory.SubFactory(AISystemFactory)
    due_at = factory.LazyFunction(lambda: _now() + _days(10))
    status = choices.ReviewStatus.SCHEDULED
    checklist = factory.LazyFunction(
        lambda: [
            {"key": "purpose", "question": "Is the documented purpose still accurate?"},
            {"key": "incidents", "question": "Were incidents since the last review handled?"},
        ]
    )


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.WebhookEndpoint"

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Endpoint {n}")
    url = factory.Sequence(lambda n: f"https://hooks.example.com/verity/{n}")
    secret = factory.Sequence(lambda n: f"whsec_test_{n:032d}")


class NotificationFactory(factory.django.DjangoModelFactory):
    """An in-app notification already delivered (unread) to ``recipient``."""

    class Meta:
        model = "governance.Notification"

    recipient = factory.SubFactory(UserFactory)
    channel = choices.NotificationChannel.IN_APP
    kind = choices.NotificationKind.REVIEW_DUE
    subject_type = "governance.review"
    subject_id = factory.Sequence(lambda n: str(n))
    subject_label = factory.Sequence(lambda n: f"Review of System {n}")
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
    status = choices.NotificationStatus.SENT
    next_attempt_at = factory.LazyFunction(lambda: _now())
    sent_at = factory.LazyFunction(lambda: _now())


def _now():
    from django.utils import timezone

    return timezone.now()


def _days(n: int):
    import datetime

    return datetime.timedelta(days=n)


def _interval(o, end: int):
    from incidents.services.stats import interval

    return (
        interval(o.rate_numerator, o.rate_denominator, o.interval_method)[end] if o.rate_denominator else None
    )


class EvaluationRunFactory(factory.django.DjangoModelFactory):
    """A run written directly (not through ``record_run``): rate on attempted samples, Wilson interval."""

    class Meta:
        model = "incidents.EvaluationRun"

    system = factory.SubFactory(AISystemFactory)
    team = factory.LazyAttribute(lambda o: o.system.owning_team)
    model_provider = "Example AI"
    model_name = "example-chat"
    model_version = "2026-01"
    benchmark_name = "SimpleQA"
    task_kind = "short_qa"
    judge_kind = "rule"
    samples = 200
    attempted = 200
    correct = factory.LazyAttribute(lambda o: o.attempted - o.hallucinated)
    hallucinated = 20
    rate_basis = "attempted"
    interval_method = "wilson"
    rate_numerator = factory.LazyAttribute(lambda o: o.hallucinated)
    rate_denominator = factory.LazyAttribute(lambda o: o.attempted)
    hallucination_rate = factory.LazyAttribute(
        lambda o: o.rate_numerator / o.rate_denominator if o.rate_denominator else None
    )
    interval_low = factory.LazyAttribute(lambda o: _interval(o, 0))
    interval_high = factory.LazyAttribute(lambda o: _interval(o, 1))


class HallucinationFindingFactory(factory.django.DjangoModelFactory):
    """A new finding written directly (not through the service)."""

    class Meta:
        model = "incidents.HallucinationFinding"

    system = factory.SubFactory(AISystemFactory)
    team = factory.LazyAttribute(lambda o: o.system.owning_team)
    model_name = "example-chat"
    model_version = "2026-01"
    benchmark_name = "SimpleQA"
    sample_id = factory.Sequence(lambda n: f"q-{n}")
    claim = factory.Sequence(lambda n: f"The Eiffel Tower was completed in {1800 + n}.")
    reference = "It was completed in 1889."
    kind = "extrinsic"
    subtype = "wrong_fact"
    grade = "incorrect"
    severity = "SEV3"
    status = "new"
    dedupe_hash = factory.Sequence(lambda n: f"{n:064x}")


class HallucinationLimitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "incidents.HallucinationLimit"

    system = factory.SubFactory(AISystemFactory)
    benchmark_name = ""
    max_rate = 0.1
    judged_on = "rate"


class IndicatorSetFactory(factory.django.DjangoModelFactory):
    """A deployment (AI system) set unless ``subject_kind="model"``."""

    class Meta:
        model = "governance.IndicatorSet"

    key = factory.Sequence(lambda n: f"set-{n}")
    name = factory.Sequence(lambda n: f"Indicator set {n}")
    version = "1.0"
    publisher = "Verity"
    licence = "CC BY 4.0"
    subject_kind = choices.TransparencySubject.SYSTEM
    scoring_rule = "Weighted satisfied over applicable."


class IndicatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.Indicator"

    indicator_set = factory.SubFactory(IndicatorSetFactory)
    key = factory.Sequence(lambda n: f"indicator-{n}")
    domain = "Upstream"
    subdomain = "Data"
    name = factory.Sequence(lambda n: f"Indicator {n}")
    definition = "Is it disclosed?"
    weight = 1
    order = factory.Sequence(lambda n: n + 1)


class TransparencyAssessmentFactory(factory.django.DjangoModelFactory):
    """A draft assessment of a system written directly, without answer rows (the service
    ``start_assessment`` creates those)."""

    class Meta:
        model = "governance.TransparencyAssessment"

    indicator_set = factory.SubFactory(IndicatorSetFactory)
    system = factory.SubFactory(AISystemFactory)
    model = None
    assessed_on = factory.LazyFunction(lambda: _now().date())
    status = choices.AssessmentStatus.DRAFT
