"""A believable demo organisation: three teams, a dozen AI systems, models from several providers.

``seed_demo()`` is idempotent: a second run finds every row as it should be and writes nothing.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import Group
from django.db import transaction

from governance.choices import Role
from governance.models import AIModel, AISystem, SystemModel, Team, TeamMembership, User
from governance.services.upsert import upsert

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

# slug, name, team, purpose, stage, deployed, retired, class, annex, operator, tier, autonomy,
# oversight, personal data, groups, jurisdictions, tags, [(model index, role)]
SYSTEMS = [
    (
        "support-assistant",
        "Customer support assistant",
        "customer-experience",
        "Answers customer questions in the help centre chat and hands over to agents.",
        "deployed",
        date(2025, 3, 3),
        None,
        "limited",
        "",
        "deployer",
        "medium",
        "conditional",
        "on_the_loop",
        ["identifiers", "communications"],
        ["customers"],
        ["EU", "DE", "FR", "GB"],
        ["chatbot", "genai", "rag"],
        [(0, "primary"), (1, "fallback"), (3, "guard"), (6, "embedding")],
    ),
    (
        "email-triage",
        "Support e-mail triage",
        "customer-experience",
        "Routes inbound support e-mails to the right queue and drafts replies for agents.",
        "deployed",
        date(2024, 11, 18),
        None,
        "minimal",
        "",
        "deployer",
        "low",
        "assistive",
        "in_the_loop",
        ["identifiers", "communications"],
        ["customers"],
        ["EU", "GB"],
        ["genai", "routing"],
        [(4, "primary")],
    ),
    (
        "agent-emotion-monitor",
        "Call-centre emotion monitor",
        "customer-experience",
        "Inferred agents' emotions from call audio; withdrawn as a prohibited workplace practice.",
        "retired",
        date(2024, 6, 1),
        date(2025, 1, 31),
        "prohibited",
        "",
        "deployer",
        "critical",
        "full",
        "none",
        ["biometric", "employment"],
        ["employees"],
        ["EU", "ES"],
        ["emotion-recognition", "withdrawn"],
        [(5, "primary")],
    ),
    (
        "product-recommender",
        "Product recommendations",
        "customer-experience",
        "Suggests add-on products in the customer portal.",
        "deployed",
        date(2023, 9, 12),
        None,
        "minimal",
        "",
        "provider",
        "low",
        "full",
        "on_the_loop",
        ["behavioural"],
        ["customers"],
        ["EU", "GB", "US"],
        ["recommender"],
        [(6, "embedding")],
    ),
    (
        "credit-scoring",
        "Consumer credit scoring",
        "payments-risk",
        "Scores creditworthiness of natural persons applying for instalment credit.",
        "deployed",
        date(2024, 2, 5),
        None,
        "high_risk",
        "essential_services",
        "provider",
        "critical",
        "supervised",
        "in_the_loop",
        ["identifiers", "financial"],
        ["customers"],
        ["EU", "DE", "NL"],
        ["credit", "annex-iii-5b"],
        [(7, "primary")],
    ),
    (
        "fraud-detection",
        "Card fraud detection",
        "payments-risk",
        "Flags card transactions likely to be fraudulent for analyst review.",
        "deployed",
        date(2023, 5, 22),
        None,
        "minimal",
        "",
        "provider",
        "high",
        "conditional",
        "on_the_loop",
        ["identifiers", "financial", "location"],
        ["customers", "businesses"],
        ["EU", "GB", "US"],
        ["fraud"],
        [(8, "primary")],
    ),
    (
        "life-insurance-pricing",
        "Life insurance risk pricing",
        "payments-risk",
        "Assesses risk and proposes premiums for life and health insurance applicants.",
        "validation",
        None,
        None,
        "high_risk",
        "essential_services",
        "provider",
        "high",
        "supervised",
        "in_the_loop",
        ["identifiers", "health", "financial"],
        ["customers"],
        ["EU", "IE"],
        ["insurance", "annex-iii-5c"],
        [(7, "primary"), (2, "fallback")],
    ),
    (
        "kyc-document-check",
        "KYC document check",
        "payments-risk",
        "Extracts and checks identity document fields during onboarding.",
        "deployed",
        date(2025, 6, 30),
        None,
        "minimal",
        "",
        "deployer",
        "medium",
        "supervised",
        "in_the_loop",
        ["identifiers", "biometric"],
        ["customers"],
        ["EU", "GB"],
        ["onboarding", "vision"],
        [(5, "primary")],
    ),
    (
        "cv-screening",
        "CV screening assistant",
        "people-ops",
        "Ranks applications for open roles and summarises candidates for recruiters.",
        "deployed",
        date(2025, 1, 13),
        None,
        "high_risk",
        "employment",
        "deployer",
        "high",
        "supervised",
        "in_the_loop",
        ["identifiers", "employment"],
        ["job_applicants"],
        ["EU", "DE", "PL"],
        ["recruiting", "annex-iii-4a"],
        [(9, "primary"), (1, "guard")],
    ),
    (
        "hr-policy-assistant",
        "HR policy assistant",
        "people-ops",
        "Answers employees' questions about leave, benefits and policies from the HR handbook.",
        "deployed",
        date(2025, 4, 7),
        None,
        "limited",
        "",
        "deployer",
        "low",
        "assistive",
        "on_the_loop",
        ["identifiers"],
        ["employees"],
        ["EU", "GB"],
        ["chatbot", "genai", "rag"],
        [(2, "primary"), (3, "guard")],
    ),
    (
        "workforce-scheduling",
        "Warehouse shift allocation",
        "people-ops",
        "Allocates shifts and tasks to warehouse staff from demand forecasts.",
        "development",
        None,
        None,
        "high_risk",
        "employment",
        "provider",
        "high",
        "supervised",
        "in_the_loop",
        ["employment", "behavioural"],
        ["employees"],
        ["EU", "CZ"],
        ["scheduling", "annex-iii-4b"],
        [],
    ),
    (
        "meeting-summariser",
        "Meeting summariser",
        "people-ops",
        "Summarises internal meetings into notes and action items.",
        "idea",
        None,
        None,
        "unclassified",
        "",
        "deployer",
        "low",
        "assistive",
        "in_the_loop",
        ["communications"],
        ["employees"],
        ["GB"],
        ["genai"],
        [(1, "primary")],
    ),
]


@transaction.atomic
def seed_demo() -> dict[str, int]:
    """Create or correct the demo organisation; returns how many rows were written per kind."""
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
        if not user.groups.filter(pk=groups[role].pk).exists():
            user.groups.add(groups[role])
        for slug in team_slugs:
            TeamMembership.objects.get_or_create(team=teams[slug], user=user)
    for username, team_slug in SERVICE_ACCOUNTS:
        user, created = _person(username, "", "", is_service=True)
        written["users"] += created
        if not user.groups.filter(pk=groups[Role.ENGINEER].pk).exists():
            user.groups.add(groups[Role.ENGINEER])
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

    engineer_of = {slugs[0]: people[u] for u, _, _, role, slugs in PEOPLE if role == Role.ENGINEER and slugs}
    for (
        slug,
        name,
        team,
        purpose,
        stage,
        deployed,
        retired,
        eu_class,
        annex,
        operator,
        tier,
        autonomy,
        oversight,
        data,
        groups_affected,
        jurisdictions,
        tags,
        links,
    ) in SYSTEMS:
        genai = "genai" in tags
        system, changed = upsert(
            AISystem,
            {"slug": slug},
            {
                "name": name,
                "purpose": purpose,
                "owning_team": teams[team],
                "business_owner": people["olivia"],
                "technical_owner": engineer_of.get(team),
                "lifecycle_stage": stage,
                "deployed_on": deployed,
                "retired_on": retired,
                "eu_ai_act_class": eu_class,
                "annex_iii_area": annex,
                "operator_role": operator,
                "risk_tier": tier,
                "autonomy_level": autonomy,
                "human_oversight": oversight,
                "personal_data_categories": data,
                "affected_groups": groups_affected,
                "jurisdictions": jurisdictions,
                "tags": tags,
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
    return written


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
