"""The demo organisation's governance programme, on top of its teams and systems.

Controls mapped to the ISO/IEC 42001 clauses and Annex A controls (and EU AI Act articles) they
satisfy; where each is implemented, organisation-wide or per high-risk system; evidence; the
organisation's applicability decisions for a few Annex A controls; and the risk register of the
high-risk systems, across the seven trustworthiness characteristics of the NIST AI RMF.

The framework catalogs must be loaded first (``manage.py load_catalogs``); without them
``seed_programme`` raises ``CatalogsMissing``. Dates are fixed rather than relative to today, so
a run on a later day still writes nothing. Like ``seed_demo``, a second run writes nothing.
"""

from __future__ import annotations

from datetime import date

from governance.choices import EvidenceKind
from governance.models import (
    AISystem,
    Applicability,
    Control,
    ControlImplementation,
    Evidence,
    Framework,
    Requirement,
    Risk,
    Team,
    User,
)
from governance.services.records import upsert

ISO = ("iso-iec-42001", "2023")
EU_AI_ACT = ("eu-ai-act", "2024-1689")


class CatalogsMissing(RuntimeError):
    """The demo programme refers to framework requirements that are not loaded."""


# code, title, type, frequency, owner, what it satisfies (ISO/IEC 42001 refs, and EU AI Act
# articles as "Art. n"), description
CONTROLS = [
    (
        "ctl-ai-policy",
        "Publish and maintain the AI policy, roles and responsibilities",
        "policy",
        "annual",
        "olivia",
        ["4.3", "5.2", "5.3", "A.2.2", "A.2.3", "A.2.4", "A.3.2"],
        "The board approves the AI policy and its RACI for approvals and oversight; the officer aligns "
        "it with the data protection, security and procurement policies and reviews it every year.",
    ),
    (
        "ctl-risk-management",
        "Assess and treat AI risks",
        "process",
        "semiannual",
        "olivia",
        ["6.1.1", "6.1.2", "6.1.3", "8.2", "8.3", "Art. 9"],
        "Risks of each system are scored for likelihood and impact before and after treatment, "
        "linked to the controls treating them and reviewed every six months.",
    ),
    (
        "ctl-ai-literacy",
        "AI literacy and role-based training",
        "process",
        "annual",
        "olivia",
        ["7.2", "7.3", "A.4.6"],
        "Everyone who builds, operates or oversees an AI system completes the annual AI literacy "
        "course; reviewers of high-risk outputs also complete the oversight module.",
    ),
    (
        "ctl-incident-response",
        "Report, handle and learn from AI incidents",
        "process",
        "ad_hoc",
        "olivia",
        ["10.2", "A.3.3", "A.8.4", "Art. 20", "Art. 73"],
        "Anyone can raise a concern or incident; the runbook sets triage, corrective actions, the "
        "regulatory reporting clocks and a yearly tabletop exercise.",
    ),
    (
        "ctl-internal-audit",
        "Internal audit of the AI management system",
        "process",
        "annual",
        "aditya",
        ["9.2.1", "9.2.2"],
        "A risk-based audit programme covering every clause and the applicable Annex A controls "
        "over three years, run by internal audit independently of the system owners.",
    ),
    (
        "ctl-management-review",
        "Management review of the AI programme",
        "process",
        "semiannual",
        "olivia",
        ["5.1", "6.2", "9.3.1", "9.3.2", "9.3.3", "10.1"],
        "Twice a year the executive committee reviews the AI objectives, risks, incidents and audit "
        "results, and records its decisions on improvements.",
    ),
    (
        "ctl-impact-assessment",
        "AI system impact assessment (fundamental rights)",
        "process",
        "annual",
        "olivia",
        ["6.1.4", "8.4", "A.5.2", "A.5.3", "A.5.4", "A.5.5", "Art. 9", "Art. 27"],
        "Before deployment and after significant changes, the owning team assesses the impact on "
        "affected people and groups with the standard template; the officer signs it off.",
    ),
    (
        "ctl-model-release-review",
        "Model release review and sign-off",
        "process",
        "per_release",
        "pavel",
        ["8.1", "A.6.1.3", "A.6.2.4", "A.6.2.5", "Art. 15"],
        "No model version reaches production without passing its accuracy, robustness and "
        "security checks and a recorded sign-off by the technical and business owners.",
    ),
    (
        "ctl-technical-documentation",
        "Technical documentation and model card",
        "process",
        "per_release",
        "pavel",
        ["7.5.2", "7.5.3", "A.6.2.3", "A.6.2.7", "Art. 11", "Art. 18"],
        "Design decisions, training setup, evaluation results and known limitations are kept in a "
        "versioned model card, updated with every release and kept for ten years.",
    ),
    (
        "ctl-human-oversight-runbook",
        "Human oversight runbook and override",
        "process",
        "quarterly",
        "hana",
        ["A.9.2", "A.9.4", "Art. 14", "Art. 26"],
        "Reviewers know when to override or stop the system, how to escalate, and must not rely "
        "on it outside its intended use; overrides are sampled every quarter.",
    ),
    (
        "ctl-data-provenance",
        "Data provenance and quality records",
        "technical",
        "per_release",
        "pavel",
        ["A.7.2", "A.7.3", "A.7.4", "A.7.5", "A.7.6", "Art. 10"],
        "Every training and evaluation data set has a datasheet: source, legal basis, collection "
        "period, preparation steps and known quality issues.",
    ),
    (
        "ctl-bias-evaluation",
        "Bias and fairness evaluation",
        "technical",
        "per_release",
        "hana",
        ["A.6.2.4", "A.7.4", "Art. 10"],
        "Each release is evaluated for outcome disparities across protected groups and their "
        "proxies, against thresholds agreed in the impact assessment.",
    ),
    (
        "ctl-logging-retention",
        "Event logging and log retention",
        "technical",
        "continuous",
        "pavel",
        ["A.6.2.8", "Art. 12", "Art. 19"],
        "Inputs, outputs, model version and reviewer decisions are logged automatically and kept "
        "for at least six months, tamper-evident, for tracing and investigation.",
    ),
    (
        "ctl-transparency-notice",
        "Transparency notice for affected people",
        "policy",
        "annual",
        "olivia",
        ["A.8.2", "A.8.5", "Art. 13", "Art. 50"],
        "People affected by a system are told that AI is used, for what, and how to ask for a "
        "human review; deployers receive instructions for use.",
    ),
    (
        "ctl-supplier-review",
        "AI supplier due diligence",
        "process",
        "annual",
        "olivia",
        ["A.10.2", "A.10.3", "Art. 25"],
        "Model and data suppliers are assessed before use and every year: documentation, data use "
        "terms, incident notification and the split of responsibilities.",
    ),
    (
        "ctl-post-market-monitoring",
        "Production monitoring and drift alerts",
        "technical",
        "continuous",
        "pavel",
        ["9.1", "A.6.2.6", "Art. 72"],
        "Performance, drift and complaint signals are monitored in production, with alert "
        "thresholds and a monthly review by the owning team.",
    ),
]

PARTIAL = "partially_effective"

# Organisation-wide implementations: code, status, last tested, next test due, effectiveness.
ORG_WIDE = [
    ("ctl-ai-policy", "implemented", date(2026, 3, 2), date(2027, 3, 1), "effective"),
    ("ctl-risk-management", "implemented", date(2026, 7, 14), date(2027, 1, 14), PARTIAL),
    ("ctl-ai-literacy", "implemented", date(2025, 4, 30), date(2026, 4, 30), "effective"),
    ("ctl-incident-response", "implemented", date(2026, 5, 14), date(2027, 5, 14), "effective"),
    ("ctl-internal-audit", "in_progress", None, date(2027, 2, 15), "not_assessed"),
    ("ctl-management-review", "implemented", date(2026, 10, 8), date(2027, 4, 8), "effective"),
]

NO_SUPPLIER = (
    "Built in-house on our own loan book and hosted in our own cloud account: no third-party model, "
    "data or hosting supplier is involved. Revisit if a bureau score or vendor model is added."
)

# Per-system implementations: code, status, last tested, next test due, effectiveness[, justification]
SYSTEM_IMPLEMENTATIONS = {
    "credit-scoring": [
        ("ctl-impact-assessment", "implemented", date(2026, 4, 20), date(2027, 4, 20), "effective"),
        ("ctl-model-release-review", "implemented", date(2026, 10, 6), date(2027, 1, 6), "effective"),
        ("ctl-technical-documentation", "implemented", date(2026, 6, 1), date(2027, 6, 1), PARTIAL),
        ("ctl-human-oversight-runbook", "implemented", date(2026, 8, 11), date(2026, 11, 11), "effective"),
        ("ctl-data-provenance", "implemented", date(2026, 6, 1), date(2027, 6, 1), "effective"),
        ("ctl-bias-evaluation", "implemented", date(2026, 9, 15), date(2027, 3, 15), PARTIAL),
        ("ctl-logging-retention", "implemented", date(2026, 9, 1), date(2027, 3, 1), "effective"),
        ("ctl-transparency-notice", "implemented", date(2026, 2, 9), date(2027, 2, 9), "effective"),
        ("ctl-post-market-monitoring", "implemented", date(2026, 11, 2), date(2026, 12, 2), "effective"),
        ("ctl-supplier-review", "not_applicable", None, None, "not_assessed", NO_SUPPLIER),
    ],
    "cv-screening": [
        ("ctl-impact-assessment", "implemented", date(2025, 12, 3), date(2026, 12, 3), "effective"),
        ("ctl-model-release-review", "implemented", date(2026, 7, 22), date(2027, 1, 22), "effective"),
        ("ctl-technical-documentation", "in_progress", None, date(2027, 1, 31), "not_assessed"),
        ("ctl-human-oversight-runbook", "implemented", date(2026, 9, 30), date(2026, 12, 31), PARTIAL),
        ("ctl-data-provenance", "in_progress", None, date(2027, 1, 31), "not_assessed"),
        ("ctl-bias-evaluation", "in_progress", date(2026, 1, 20), date(2026, 12, 15), PARTIAL),
        ("ctl-logging-retention", "implemented", date(2026, 6, 18), date(2027, 6, 18), "effective"),
        ("ctl-transparency-notice", "implemented", date(2026, 1, 13), date(2027, 1, 13), "effective"),
        ("ctl-supplier-review", "implemented", date(2026, 3, 10), date(2027, 3, 10), "effective"),
    ],
    "life-insurance-pricing": [
        ("ctl-impact-assessment", "in_progress", None, date(2027, 1, 15), "not_assessed"),
        ("ctl-model-release-review", "in_progress", None, date(2027, 2, 1), "not_assessed"),
        ("ctl-technical-documentation", "in_progress", None, date(2027, 2, 1), "not_assessed"),
        ("ctl-human-oversight-runbook", "not_started", None, None, "not_assessed"),
        ("ctl-data-provenance", "implemented", date(2026, 10, 1), date(2027, 4, 1), "effective"),
        ("ctl-bias-evaluation", "in_progress", None, date(2027, 1, 15), "not_assessed"),
        ("ctl-logging-retention", "implemented", date(2026, 10, 1), date(2027, 4, 1), "effective"),
        ("ctl-transparency-notice", "not_started", None, None, "not_assessed"),
        ("ctl-supplier-review", "implemented", date(2026, 8, 5), date(2027, 8, 5), "effective"),
    ],
    "workforce-scheduling": [
        ("ctl-impact-assessment", "in_progress", None, date(2027, 3, 1), "not_assessed"),
        ("ctl-model-release-review", "not_started", None, None, "not_assessed"),
        ("ctl-human-oversight-runbook", "not_started", None, None, "not_assessed"),
        ("ctl-data-provenance", "in_progress", None, date(2027, 3, 1), "not_assessed"),
        ("ctl-bias-evaluation", "not_started", None, None, "not_assessed"),
        ("ctl-logging-retention", "not_started", None, None, "not_assessed"),
    ],
}

# Link evidence: title, team (None: organisation-wide), owner, collected (and valid from), valid until,
# the implementations it backs as (control code, system slug or None), url, description.
EVIDENCE = [
    (
        "AI policy v3.1 with the board's approval",
        None,
        "olivia",
        date(2026, 3, 2),
        date(2027, 3, 31),
        [("ctl-ai-policy", None)],
        "https://intranet.example.com/policies/ai-policy-v3.1",
        "The policy as approved on 2 March 2026, with the board minutes and the RACI annex.",
    ),
    (
        "AI literacy training completion report 2025",
        None,
        "olivia",
        date(2025, 4, 30),
        date(2026, 4, 30),
        [("ctl-ai-literacy", None)],
        "https://learning.example.com/reports/ai-literacy-2025",
        "Completion per team for the 2025 course; the 2026 report is still outstanding.",
    ),
    (
        "Incident response tabletop exercise, May 2026",
        None,
        "olivia",
        date(2026, 5, 14),
        date(2027, 5, 31),
        [("ctl-incident-response", None)],
        "https://intranet.example.com/ai/incident-tabletop-2026-05",
        "Scenario: discriminatory credit declines reported by a consumer group; findings and actions.",
    ),
    (
        "Consumer credit scoring impact assessment v2",
        "payments-risk",
        "pavel",
        date(2026, 4, 20),
        date(2027, 4, 30),
        [("ctl-impact-assessment", "credit-scoring")],
        "https://wiki.example.com/ai/credit-scoring/impact-assessment-v2",
        "Fundamental rights impact assessment for model 3.2, signed off by the officer.",
    ),
    (
        "Credit risk GBM 3.2.0 release sign-off",
        "payments-risk",
        "pavel",
        date(2026, 10, 6),
        None,
        [("ctl-model-release-review", "credit-scoring"), ("ctl-bias-evaluation", "credit-scoring")],
        "https://jira.example.com/browse/PAYRISK-2231",
        "Release checklist with the accuracy, robustness and fairness results attached.",
    ),
    (
        "CV screening impact assessment",
        "people-ops",
        "hana",
        date(2025, 12, 3),
        date(2027, 6, 30),
        [("ctl-impact-assessment", "cv-screening")],
        "https://wiki.example.com/ai/cv-screening/impact-assessment",
        "Assessment of the ranking's impact on applicants, with the works council's comments.",
    ),
]

APPLICABILITY = [
    (
        "A.5.5",
        True,
        "Credit, insurance and hiring decisions shape access to essential services and to work, "
        "so societal impacts are assessed alongside individual ones.",
    ),
    ("A.6.2.8", True, "Our high-risk systems must keep automatic logs (EU AI Act Art. 12 and 19)."),
    (
        "A.10.4",
        False,
        "We do not supply AI systems or components to other organisations: our systems serve our own "
        "customers and staff, who are covered by A.8 and A.9. Revisit if the credit model is licensed.",
    ),
]

# Risks per system: title, characteristic, (likelihood, impact[, residual likelihood, residual impact]),
# (treatment, status), review on, controls treating it, description.
RISKS = {
    "credit-scoring": [
        (
            "Proxy discrimination through postcode and employment features",
            "fair",
            (4, 5, 2, 4),
            ("mitigate", "treating"),
            date(2027, 3, 15),
            ["ctl-bias-evaluation", "ctl-impact-assessment", "ctl-data-provenance"],
            "Postcode and employment history correlate with ethnicity and disability; the model "
            "could decline protected groups more often without using those attributes.",
        ),
        (
            "Scores drift after interest-rate and unemployment changes",
            "valid_reliable",
            (3, 4, 2, 3),
            ("mitigate", "treating"),
            date(2027, 1, 6),
            ["ctl-post-market-monitoring", "ctl-model-release-review"],
            "The training window predates the 2025 rate rises; calibration may no longer hold.",
        ),
        (
            "Declined applicants cannot tell why or how to contest",
            "explainable_interpretable",
            (3, 4, 2, 2),
            ("mitigate", "accepted"),
            date(2027, 2, 9),
            ["ctl-transparency-notice", "ctl-human-oversight-runbook"],
            "Decline letters now list the main reasons and how to ask for a human review.",
        ),
    ],
    "cv-screening": [
        (
            "Ranking penalises career gaps and non-native phrasing",
            "fair",
            (4, 4, 3, 3),
            ("mitigate", "treating"),
            date(2026, 12, 15),
            ["ctl-bias-evaluation", "ctl-human-oversight-runbook"],
            "Parental leave, illness and language background could push qualified applicants down.",
        ),
        (
            "Recruiters rubber-stamp the ranking",
            "accountable_transparent",
            (3, 4, 2, 4),
            ("mitigate", "treating"),
            date(2026, 12, 31),
            ["ctl-human-oversight-runbook", "ctl-ai-literacy"],
            "Automation bias: reviewers rarely open applications ranked below the cut-off.",
        ),
        (
            "Applicant CVs kept beyond the recruitment purpose",
            "privacy_enhanced",
            (3, 3, 1, 3),
            ("mitigate", "closed"),
            date(2027, 6, 18),
            ["ctl-logging-retention", "ctl-data-provenance"],
            "CVs and ranking logs are now deleted six months after the role closes.",
        ),
    ],
    "life-insurance-pricing": [
        (
            "Health data used beyond the applicant's consent",
            "privacy_enhanced",
            (3, 5, 2, 4),
            ("mitigate", "treating"),
            date(2027, 1, 15),
            ["ctl-data-provenance", "ctl-impact-assessment"],
            "Special-category data from the medical questionnaire must not reach other models.",
        ),
        (
            "Quote API lets competitors reverse-engineer the pricing model",
            "secure_resilient",
            (2, 4, 1, 4),
            ("mitigate", "treating"),
            date(2027, 2, 1),
            ["ctl-logging-retention", "ctl-model-release-review"],
            "Repeated quotes with small changes could extract the model; rate limits and logging help.",
        ),
        (
            "Fallback model misstates medical history in underwriting summaries",
            "valid_reliable",
            (3, 4),
            ("mitigate", "identified"),
            date(2027, 1, 15),
            ["ctl-model-release-review", "ctl-human-oversight-runbook"],
            "The Llama fallback summarises questionnaires for underwriters; errors have not been measured.",
        ),
    ],
    "workforce-scheduling": [
        (
            "Schedules push staff beyond safe working hours",
            "safe",
            (3, 5, 1, 5),
            ("mitigate", "treating"),
            date(2027, 3, 1),
            ["ctl-human-oversight-runbook", "ctl-model-release-review"],
            "Hard limits on hours and rest periods are enforced outside the model, before publishing.",
        ),
        (
            "Peak-season forecast errors leave shifts understaffed",
            "valid_reliable",
            (3, 2, 3, 2),
            ("accept", "accepted"),
            date(2027, 9, 1),
            [],
            "Shift leads fill gaps from the standby pool; accepted by the operations director.",
        ),
    ],
}


def seed_programme() -> dict[str, int]:
    """Create or correct the demo programme; returns how many rows were written per kind.

    The caller holds the transaction (``seed_demo``). Raises ``CatalogsMissing`` when the
    ISO/IEC 42001 or EU AI Act catalogs are not loaded.
    """
    requirements = _requirements()
    users = {user.username: user for user in User.objects.all()}
    systems = {s.slug: s for s in AISystem.objects.filter(slug__in=[*SYSTEM_IMPLEMENTATIONS, *RISKS])}
    teams = {team.slug: team for team in Team.objects.all()}
    written = {"controls": 0, "implementations": 0, "evidence": 0, "applicability": 0, "risks": 0}

    controls = {}
    for code, title, kind, frequency, owner, refs, description in CONTROLS:
        control, changed = upsert(
            Control,
            {"code": code},
            {
                "title": title,
                "description": description,
                "control_type": kind,
                "frequency": frequency,
                "owner": users[owner],
            },
        )
        changed |= _set_links(control.requirements, [requirements[_framework_of(ref), ref] for ref in refs])
        controls[code] = control
        written["controls"] += changed

    implementations = {}
    rows = [(None, row) for row in ORG_WIDE]
    rows += [(slug, row) for slug, impls in SYSTEM_IMPLEMENTATIONS.items() for row in impls]
    for slug, (code, status, tested, due, effectiveness, *justification) in rows:
        system = systems[slug] if slug else None
        implementation, changed = upsert(
            ControlImplementation,
            {"control": controls[code], "system": system},
            {
                "status": status,
                "justification": justification[0] if justification else "",
                "owner": system.technical_owner if system else users["olivia"],
                "last_tested_on": tested,
                "next_test_due": due,
                "effectiveness": effectiveness,
            },
        )
        implementations[code, slug] = implementation
        written["implementations"] += changed

    for title, team, owner, collected, valid_until, backs, url, description in EVIDENCE:
        evidence, changed = upsert(
            Evidence,
            {"title": title},
            {
                "kind": EvidenceKind.LINK,
                "url": url,
                "description": description,
                "team": teams[team] if team else None,
                "owner": users[owner],
                "uploaded_by": users[owner],
                "collected_on": collected,
                "valid_from": collected if valid_until else None,
                "valid_until": valid_until,
            },
        )
        changed |= _set_links(evidence.implementations, [implementations[key].pk for key in backs])
        written["evidence"] += changed

    for ref_id, applicable, justification in APPLICABILITY:
        _, changed = upsert(
            Applicability,
            {"requirement_id": requirements[ISO, ref_id], "system": None},
            {"applicable": applicable, "justification": justification},
        )
        written["applicability"] += changed

    for slug, risks in RISKS.items():
        system = systems[slug]
        for title, characteristic, scores, (treatment, status), review_on, codes, text in risks:
            residual = scores[2:] or (None, None)
            risk, changed = upsert(
                Risk,
                {"system": system, "title": title},
                {
                    "description": text,
                    "characteristic": characteristic,
                    "likelihood": scores[0],
                    "impact": scores[1],
                    "residual_likelihood": residual[0],
                    "residual_impact": residual[1],
                    "treatment": treatment,
                    "status": status,
                    "owner": system.technical_owner,
                    "review_on": review_on,
                },
            )
            changed |= _set_links(risk.controls, [controls[code].pk for code in codes])
            written["risks"] += changed
    return written


def _requirements() -> dict[tuple[tuple[str, str], str], int]:
    """Primary keys of every requirement the programme refers to, by (framework, ref_id)."""
    wanted: dict[tuple[str, str], set[str]] = {ISO: set(), EU_AI_ACT: set()}
    for *_, refs, _ in CONTROLS:
        for ref in refs:
            wanted[_framework_of(ref)].add(ref)
    wanted[ISO].update(ref for ref, *_ in APPLICABILITY)
    found: dict[tuple[tuple[str, str], str], int] = {}
    for key, refs in wanted.items():
        framework = Framework.objects.filter(code=key[0], version=key[1]).first()
        if framework is None:
            raise CatalogsMissing(
                f"The {key[0]} {key[1]} catalog is not loaded; run `manage.py load_catalogs` first."
            )
        rows = Requirement.objects.filter(framework=framework, ref_id__in=refs).values_list("ref_id", "pk")
        found.update({(key, ref_id): pk for ref_id, pk in rows})
        missing = sorted(ref for ref in refs if (key, ref) not in found)
        if missing:
            raise CatalogsMissing(
                f"The {key[0]} {key[1]} catalog lacks {', '.join(missing)}; "
                "run `manage.py load_catalogs` with the shipped catalogs."
            )
    return found


def _framework_of(ref_id: str) -> tuple[str, str]:
    return EU_AI_ACT if ref_id.startswith("Art. ") else ISO


def _set_links(manager, ids: list[int]) -> bool:
    """Make a many-to-many relation exactly ``ids``; writes (and returns True) only on a difference."""
    if set(manager.values_list("pk", flat=True)) == set(ids):
        return False
    manager.set(ids)
    return True
