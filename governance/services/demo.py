"""A believable demo organisation: three teams, a dozen AI systems, models from several providers,
and its governance programme (controls, implementations, evidence, applicability and risks, in
``demo_controls``), which needs the framework catalogs loaded first.

``seed_demo()`` is idempotent: a second run finds every row as it should be and writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from governance.choices import Role
from governance.models import AIModel, AISystem, SystemModel, Team, TeamMembership, User
from governance.services import reviews
from governance.services.demo_controls import seed_programme
from governance.services.demo_transparency import seed_transparency
from governance.services.records import upsert

DEMO_PASSWORD = "verity-demo"

TEAMS = [
    (
        "customer-experience",
        "Customer Experience",
        "Support, chat and e-mail automation.",
        "cx-ai@example.com",
    ),
    ("payments-risk", "Payments & Risk", "Credit, fraud and onboarding models.", "payments-ai@example.com"),
    ("people-ops", "People Operations", "Recruiting and workforce tools.", "people-ai@example.com"),
]

# username, first, last, role, teams
PEOPLE = [
    ("olivia", "Olivia", "Okafor", Role.OFFICER, []),
    ("aditya", "Aditya", "Rao", Role.AUDITOR, []),
    ("erin", "Erin", "Castillo", Role.ENGINEER, ["customer-experience"]),
    ("pavel", "Pavel", "Novak", Role.ENGINEER, ["payments-risk"]),
    ("hana", "Hana", "Sato", Role.ENGINEER, ["people-ops"]),
    ("marta", "Marta", "Lindqvist", Role.ENGINEER, ["customer-experience", "people-ops"]),
]
SERVICE_ACCOUNTS = [("svc-payments-ci", "payments-risk")]

# provider, name, version, modality, type, weights, licence, hosting, card
MODELS = [
    (
        "OpenAI",
        "GPT-4o",
        "2024-08-06",
        "multimodal",
        "foundation",
        "closed",
        "Proprietary",
        "vendor_api",
        "https://openai.com/index/gpt-4o-system-card/",
    ),
    (
        "Anthropic",
        "Claude 3.5 Sonnet",
        "20241022",
        "multimodal",
        "foundation",
        "closed",
        "Proprietary",
        "vendor_api",
        "https://www.anthropic.com/claude-3-5-sonnet-model-card-addendum",
    ),
    (
        "Meta",
        "Llama 3.1 70B Instruct",
        "3.1",
        "text",
        "foundation",
        "open",
        "Llama 3.1 Community License",
        "self_hosted",
        "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md",
    ),
    (
        "Meta",
        "Llama Guard 3 8B",
        "3",
        "text",
        "classifier",
        "open",
        "Llama 3.1 Community License",
        "self_hosted",
        "https://huggingface.co/meta-llama/Llama-Guard-3-8B",
    ),
    (
        "Mistral AI",
        "Mistral Large",
        "2407",
        "text",
        "foundation",
        "closed",
        "Mistral Research License",
        "cloud_managed",
        "",
    ),
    (
        "Google",
        "Gemini 1.5 Pro",
        "002",
        "multimodal",
        "foundation",
        "closed",
        "Proprietary",
        "cloud_managed",
        "",
    ),
    (
        "OpenAI",
        "text-embedding-3-large",
        "1",
        "embedding",
        "retrieval",
        "closed",
        "Proprietary",
        "vendor_api",
        "",
    ),
    (
        "In-house",
        "Credit risk GBM",
        "3.2.0",
        "tabular",
        "classifier",
        "closed",
        "Internal",
        "self_hosted",
        "",
    ),
    (
        "In-house",
        "Fraud anomaly detector",
        "2025.11",
        "tabular",
        "classifier",
        "closed",
        "Internal",
        "self_hosted",
        "",
    ),
    ("In-house", "CV ranking model", "1.4.1", "text", "fine_tuned", "closed", "Internal", "self_hosted", ""),
]

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

SYSTEMS = [
    {
        "slug": "support-assistant",
        "name": "Customer support assistant",
        "team": "customer-experience",
        "purpose": "Answers customer questions in the help centre chat and hands over to agents.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2025, 3, 3),
        "eu_ai_act_class": "limited",
        "operator_role": "deployer",
        "risk_tier": "medium",
        "autonomy_level": "conditional",
        "human_oversight": "on_the_loop",
        "personal_data_categories": ["identifiers", "communications"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "DE", "FR", "GB"],
        "tags": ["chatbot", "genai", "rag"],
        "models": [(0, "primary"), (1, "fallback"), (3, "guard"), (6, "embedding")],
    },
    {
        "slug": "email-triage",
        "name": "Support e-mail triage",
        "team": "customer-experience",
        "purpose": "Routes inbound support e-mails to the right queue and drafts replies for agents.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2024, 11, 18),
        "eu_ai_act_class": "minimal",
        "operator_role": "deployer",
        "risk_tier": "low",
        "autonomy_level": "assistive",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["identifiers", "communications"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "GB"],
        "tags": ["genai", "routing"],
        "models": [(4, "primary")],
    },
    {
        "slug": "agent-emotion-monitor",
        "name": "Call-centre emotion monitor",
        "team": "customer-experience",
        "purpose": "Inferred agents' emotions from call audio; withdrawn as a prohibited workplace practice.",
        "lifecycle_stage": "retired",
        "deployed_on": date(2024, 6, 1),
        "retired_on": date(2025, 1, 31),
        "eu_ai_act_class": "prohibited",
        "operator_role": "deployer",
        "risk_tier": "critical",
        "autonomy_level": "full",
        "human_oversight": "none",
        "personal_data_categories": ["biometric", "employment"],
        "affected_groups": ["employees"],
        "jurisdictions": ["EU", "ES"],
        "tags": ["emotion-recognition", "withdrawn"],
        "models": [(5, "primary")],
    },
    {
        "slug": "product-recommender",
        "name": "Product recommendations",
        "team": "customer-experience",
        "purpose": "Suggests add-on products in the customer portal.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2023, 9, 12),
        "eu_ai_act_class": "minimal",
        "operator_role": "provider",
        "risk_tier": "low",
        "autonomy_level": "full",
        "human_oversight": "on_the_loop",
        "personal_data_categories": ["behavioural"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "GB", "US"],
        "tags": ["recommender"],
        "models": [(6, "embedding")],
    },
    {
        "slug": "credit-scoring",
        "name": "Consumer credit scoring",
        "team": "payments-risk",
        "purpose": "Scores creditworthiness of natural persons applying for instalment credit.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2024, 2, 5),
        "eu_ai_act_class": "high_risk",
        "annex_iii_area": "essential_services",
        "operator_role": "provider",
        "risk_tier": "critical",
        "autonomy_level": "supervised",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["identifiers", "financial"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "DE", "NL"],
        "tags": ["credit", "annex-iii-5b"],
        "models": [(7, "primary")],
    },
    {
        "slug": "fraud-detection",
        "name": "Card fraud detection",
        "team": "payments-risk",
        "purpose": "Flags card transactions likely to be fraudulent for analyst review.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2023, 5, 22),
        "eu_ai_act_class": "minimal",
        "operator_role": "provider",
        "risk_tier": "high",
        "autonomy_level": "conditional",
        "human_oversight": "on_the_loop",
        "personal_data_categories": ["identifiers", "financial", "location"],
        "affected_groups": ["customers", "businesses"],
        "jurisdictions": ["EU", "GB", "US"],
        "tags": ["fraud"],
        "models": [(8, "primary")],
    },
    {
        "slug": "life-insurance-pricing",
        "name": "Life insurance risk pricing",
        "team": "payments-risk",
        "purpose": "Assesses risk and proposes premiums for life and health insurance applicants.",
        "lifecycle_stage": "validation",
        "eu_ai_act_class": "high_risk",
        "annex_iii_area": "essential_services",
        "operator_role": "provider",
        "risk_tier": "high",
        "autonomy_level": "supervised",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["identifiers", "health", "financial"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "IE"],
        "tags": ["insurance", "annex-iii-5c"],
        "models": [(7, "primary"), (2, "fallback")],
    },
    {
        "slug": "kyc-document-check",
        "name": "KYC document check",
        "team": "payments-risk",
        "purpose": "Extracts and checks identity document fields during onboarding.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2025, 6, 30),
        "eu_ai_act_class": "minimal",
        "operator_role": "deployer",
        "risk_tier": "medium",
        "autonomy_level": "supervised",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["identifiers", "biometric"],
        "affected_groups": ["customers"],
        "jurisdictions": ["EU", "GB"],
        "tags": ["onboarding", "vision"],
        "models": [(5, "primary")],
    },
    {
        "slug": "cv-screening",
        "name": "CV screening assistant",
        "team": "people-ops",
        "purpose": "Ranks applications for open roles and summarises candidates for recruiters.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2025, 1, 13),
        "eu_ai_act_class": "high_risk",
        "annex_iii_area": "employment",
        "operator_role": "deployer",
        "risk_tier": "high",
        "autonomy_level": "supervised",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["identifiers", "employment"],
        "affected_groups": ["job_applicants"],
        "jurisdictions": ["EU", "DE", "PL"],
        "tags": ["recruiting", "annex-iii-4a"],
        "models": [(9, "primary"), (1, "guard")],
    },
    {
        "slug": "hr-policy-assistant",
        "name": "HR policy assistant",
        "team": "people-ops",
        "purpose": "Answers employees' questions about leave, benefits and policies from the HR handbook.",
        "lifecycle_stage": "deployed",
        "deployed_on": date(2025, 4, 7),
        "eu_ai_act_class": "limited",
        "operator_role": "deployer",
        "risk_tier": "low",
        "autonomy_level": "assistive",
        "human_oversight": "on_the_loop",
        "personal_data_categories": ["identifiers"],
        "affected_groups": ["employees"],
        "jurisdictions": ["EU", "GB"],
        "tags": ["chatbot", "genai", "rag"],
        "models": [(2, "primary"), (3, "guard")],
    },
    {
        "slug": "workforce-scheduling",
        "name": "Warehouse shift allocation",
        "team": "people-ops",
        "purpose": "Allocates shifts and tasks to warehouse staff from demand forecasts.",
        "lifecycle_stage": "development",
        "eu_ai_act_class": "high_risk",
        "annex_iii_area": "employment",
        "operator_role": "provider",
        "risk_tier": "high",
        "autonomy_level": "supervised",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["employment", "behavioural"],
        "affected_groups": ["employees"],
        "jurisdictions": ["EU", "CZ"],
        "tags": ["scheduling", "annex-iii-4b"],
        "models": [],
    },
    {
        "slug": "meeting-summariser",
        "name": "Meeting summariser",
        "team": "people-ops",
        "purpose": "Summarises internal meetings into notes and action items.",
        "lifecycle_stage": "idea",
        "eu_ai_act_class": "unclassified",
        "operator_role": "deployer",
        "risk_tier": "low",
        "autonomy_level": "assistive",
        "human_oversight": "in_the_loop",
        "personal_data_categories": ["communications"],
        "affected_groups": ["employees"],
        "jurisdictions": ["GB"],
        "tags": ["genai"],
        "models": [(1, "primary")],
    },
]


@transaction.atomic
def seed_demo() -> dict[str, int]:
    """Create or correct the demo organisation; returns how many rows were written per kind.

    Raises ``CatalogsMissing`` (nothing written) when the framework catalogs are not loaded.
    """
    written = {"teams": 0, "users": 0, "models": 0, "systems": 0, "links": 0}
    teams = {}
    for slug, name, description, email in TEAMS:
        teams[slug], changed = upsert(
            Team, {"slug": slug}, {"name": name, "description": description, "contact_email": email}
        )
        written["teams"] += changed
    groups = {role: Group.objects.get(name=role) for role in Role.values}

    people = {}
    for username, first, last, role, team_slugs in PEOPLE:
        user, created = _person(username, first, last, is_service=False)
        written["users"] += created
        people[username] = user
        _grant(user, groups[role])
        for slug in team_slugs:
            TeamMembership.objects.get_or_create(team=teams[slug], user=user)
    for username, team_slug in SERVICE_ACCOUNTS:
        user, created = _person(username, "", "", is_service=True)
        written["users"] += created
        _grant(user, groups[Role.ENGINEER])
        TeamMembership.objects.get_or_create(team=teams[team_slug], user=user)

    models = []
    for provider, name, version, modality, kind, weights, licence, hosting, card in MODELS:
        model, changed = upsert(
            AIModel,
            {"provider": provider, "name": name, "version": version},
            {
                "modality": modality,
                "model_type": kind,
                "weights": weights,
                "licence": licence,
                "hosting": hosting,
                "model_card_url": card,
            },
        )
        models.append(model)
        written["models"] += changed

    engineer_of: dict[str, User] = {}  # each team's first engineer is its systems' technical owner
    for username, _, _, role, team_slugs in PEOPLE:
        for slug in team_slugs if role == Role.ENGINEER else []:
            engineer_of.setdefault(slug, people[username])
    for spec in SYSTEMS:
        spec = dict(spec)
        slug, team, links = spec.pop("slug"), teams[spec.pop("team")], spec.pop("models")
        genai = "genai" in spec["tags"]
        system, changed = upsert(
            AISystem,
            {"slug": slug},
            {
                "owning_team": team,
                "business_owner": people["olivia"],
                "technical_owner": engineer_of.get(team.slug),
                "deployed_on": None,
                "retired_on": None,
                "annex_iii_area": "",
                **spec,
                "system_prompt_ref": f"git@example.com:prompts/{slug}.md" if genai else "",
                "system_prompt_version": "v7" if genai else "",
                "system_prompt_sha256": SHA if genai else "",
                "guardrail_config_ref": f"git@example.com:guardrails/{slug}.yaml" if genai else "",
                "model_card_url": f"https://wiki.example.com/ai/{slug}/model-card",
            },
        )
        written["systems"] += changed
        for index, role in links:
            _, changed = upsert(SystemModel, {"system": system, "model": models[index]}, {"role": role})
            written["links"] += changed
    written.update(seed_programme())
    written["reviews"] = _schedule_first_reviews()
    written["transparency_assessments"] = seed_transparency(
        officer=people["olivia"], system_slugs=[spec["slug"] for spec in SYSTEMS]
    )
    return written


# Days from now until each deployed demo system's first review falls due, in slug order: one
# already late, some inside the reminder windows, the rest later.
REVIEW_DUE_IN_DAYS = (-3, 5, 12, 25, 60, 120, 200)


def _schedule_first_reviews() -> int:
    """A first review for each deployed demo system that has never had one."""
    now = timezone.now()
    systems = (
        AISystem.objects.filter(slug__in=[spec["slug"] for spec in SYSTEMS], lifecycle_stage="deployed")
        .exclude(reviews__isnull=False)
        .order_by("slug")
    )
    for index, system in enumerate(systems):
        cadence = timedelta(days=reviews.policy_for(system).cadence_days)
        due_in = timedelta(days=REVIEW_DUE_IN_DAYS[index % len(REVIEW_DUE_IN_DAYS)])
        reviews.schedule_next(system=system, after=now - cadence + due_in)
    return len(systems)


def _grant(user: User, group: Group) -> None:
    if not user.groups.filter(pk=group.pk).exists():
        user.groups.add(group)


def _person(username: str, first: str, last: str, *, is_service: bool) -> tuple[User, bool]:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = User(
        username=username,
        first_name=first,
        last_name=last,
        is_service_account=is_service,
        email=f"{username}@example.com",
        is_staff=not is_service,
    )
    if is_service:
        user.set_unusable_password()
    else:
        user.set_password(DEMO_PASSWORD)
    user.save()
    return user, True
