"""Enumerations of the incident register. Values are stable API identifiers.

Severity and the Art. 3(49) grounds are plain ``StrEnum``s with labels (and, for severity, a
description of when to use it), because the pure clock functions in ``incidents.services.clocks``
use them too; model fields take their ``choices()``.
"""

from enum import Enum, StrEnum
from typing import Self

from django.db import models


class IncidentStatus(models.TextChoices):
    REPORTED = "reported", "Reported"
    TRIAGED = "triaged", "Triaged"
    INVESTIGATING = "investigating", "Investigating"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    DUPLICATE = "duplicate", "Duplicate"


class SlaStepState(models.TextChoices):
    """Where one SLA step (respond or resolve) of an incident stands; see ``incidents.clock_rules``."""

    ON_TRACK = "on_track", "on track"
    OVERDUE = "overdue", "overdue"
    ON_TIME = "on_time", "on time"
    LATE = "late", "late"
    NOT_APPLICABLE = "not_applicable", "not applicable"


class ReportState(models.TextChoices):
    """Where the Art. 73 initial report of an incident stands; see ``incidents.clock_rules``."""

    NOT_SERIOUS = "not_serious", "not a serious incident"
    NO_DEADLINE = "no_deadline", "no deadline"
    ON_TRACK = "on_track", "on track"
    DUE_SOON = "due_soon", "due soon"
    OVERDUE = "overdue", "overdue"
    REPORTED_ON_TIME = "reported_on_time", "reported on time"
    REPORTED_LATE = "reported_late", "reported late"


class IncidentSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    EVALUATION = "evaluation", "Evaluation run"
    IMPORT = "import", "Import"


class HarmType(models.TextChoices):
    """Harm categories of the CSET AI Harm Taxonomy (v1) as used by the AI Incident Database."""

    PHYSICAL_HEALTH_SAFETY = "physical_health_safety", "Physical health or safety"
    FINANCIAL_LOSS = "financial_loss", "Financial loss"
    PHYSICAL_PROPERTY = "physical_property", "Physical property"
    CRITICAL_SERVICES = "critical_services", "Impact on critical services or infrastructure"
    NATURAL_ENVIRONMENT = "natural_environment", "Natural environment"
    RIGHTS_VIOLATION = "rights_violation", "Violation of human or civil rights"
    DIFFERENTIAL_TREATMENT = "differential_treatment", "Differential treatment (protected characteristic)"
    DETRIMENTAL_CONTENT = "detrimental_content", "Detrimental content"
    PSYCHOLOGICAL = "psychological", "Psychological harm"
    REPUTATIONAL = "reputational", "Reputational harm"
    PRIVACY = "privacy", "Privacy"


class HarmLevel(models.TextChoices):
    """The CSET v1 "AI Harm Level"."""

    HARM_OCCURRED = "harm_occurred", "Harm occurred"
    NEAR_MISS = "near_miss", "Near miss"
    ISSUE = "issue", "Issue"
    NONE = "none", "None"
    UNCLEAR = "unclear", "Unclear"


class TimelineKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    STATUS_CHANGE = "status_change", "Status change"
    SEVERITY_CHANGE = "severity_change", "Severity change"
    MITIGATION = "mitigation", "Mitigation"
    NOTIFICATION_SENT = "notification_sent", "Notification sent"
    # Art. 73: an incident flagged serious, its grounds (or widespread scope) changed or the flag
    # withdrawn, and a report recorded as sent to the market surveillance authority.
    FLAGGED_SERIOUS = "flagged_serious", "Flagged serious"
    SERIOUS_GROUNDS = "serious_grounds", "Serious grounds changed"
    AUTHORITY_REPORT = "authority_report", "Report sent"
    EVALUATION = "evaluation", "Evaluation run"


class CorrectiveActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done, awaiting verification"
    VERIFIED = "verified", "Verified"
    CANCELLED = "cancelled", "Cancelled"


class _LabelledEnum(StrEnum):
    """A ``StrEnum`` whose members carry a human label (and optionally a description)."""

    label: str
    description: str

    def __new__(cls, value: str, label: str, description: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.description = description
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """``(value, label)`` pairs, in declaration order, e.g. for a model field's ``choices``."""
        return [(member.value, member.label) for member in cls]

    @classmethod
    def parse(cls, value: object) -> Self:
        """The member for ``value`` (a member, its string value or another str enum's member).

        Raises ``ValueError`` naming the allowed values when ``value`` is not one of them.
        """
        raw = value.value if isinstance(value, Enum) else value
        if isinstance(raw, str):
            try:
                return cls(raw)
            except ValueError:
                pass
        allowed = ", ".join(member.value for member in cls)
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; expected one of: {allowed}")


class SeriousIncidentGround(_LabelledEnum):
    """What makes an incident "serious" under Art. 3(49) of the EU AI Act.

    Art. 3(49): "'serious incident' means an incident or malfunctioning of an AI system that
    directly or indirectly leads to any of the following: (a) the death of a person, or serious
    harm to a person's health; (b) a serious and irreversible disruption of the management or
    operation of critical infrastructure; (c) the infringement of obligations under Union law
    intended to protect fundamental rights; (d) serious harm to property or the environment".
    Point (a) is split in two because death has its own deadline (Art. 73(4)).
    """

    DEATH = "death", "Death of a person (Art. 3(49)(a))"
    HEALTH = "health", "Serious harm to a person's health (Art. 3(49)(a))"
    CRITICAL_INFRASTRUCTURE = (
        "critical_infrastructure",
        "Serious and irreversible disruption of the management or operation of critical infrastructure"
        " (Art. 3(49)(b))",
    )
    FUNDAMENTAL_RIGHTS = (
        "fundamental_rights",
        "Infringement of obligations under Union law intended to protect fundamental rights (Art. 3(49)(c))",
    )
    PROPERTY_ENVIRONMENT = (
        "property_environment",
        "Serious harm to property or the environment (Art. 3(49)(d))",
    )


class Severity(_LabelledEnum):
    """Incident severity; it sets the response and resolution SLAs (see :data:`DEFAULT_SLAS`).

    ``label`` is short, ``description`` says when to use the level.
    """

    SEV1 = (
        "SEV1",
        "SEV1: critical",
        "Critical harm or imminent risk: a safety or legal exposure affecting people now, e.g. unsafe"
        " advice acted on, unlawful discrimination in live decisions, a likely serious incident under"
        " Art. 73.",
    )
    SEV2 = (
        "SEV2",
        "SEV2: major",
        "Major harm or exposure that is contained or not yet affecting people broadly, e.g. a key"
        " control failing on a high-risk system, a systematic bias found before wide impact.",
    )
    SEV3 = (
        "SEV3",
        "SEV3: moderate",
        "Moderate, limited harm with a workaround, e.g. degraded output quality or isolated"
        " hallucinations caught by review.",
    )
    SEV4 = (
        "SEV4",
        "SEV4: minor",
        "Minor issue with no harm to people, e.g. a documentation gap, a cosmetic defect or a near miss"
        " with no effect.",
    )


# --- Evaluations and hallucination findings ---------------------------------------------------------


class TaskKind(models.TextChoices):
    SHORT_QA = "short_qa", "Short-form question answering"
    LONG_FORM = "long_form", "Long-form generation"
    SUMMARISATION = "summarisation", "Summarisation"
    RETRIEVAL_GROUNDED = "retrieval_grounded", "Retrieval-grounded answering"
    REFUSAL = "refusal", "Refusal (should abstain)"
    EPISTEMIC = "epistemic", "Epistemic (knows what it does not know)"


class JudgeKind(models.TextChoices):
    HUMAN = "human", "Human"
    LLM_JUDGE = "llm_judge", "LLM judge"
    NLI_MODEL = "nli_model", "NLI model"
    RULE = "rule", "Rule"


class RateBasis(models.TextChoices):
    """What the hallucination rate is a share of."""

    ALL_SAMPLES = "all_samples", "All samples"
    ATTEMPTED = "attempted", "Attempted samples only (abstentions left out)"
    NON_CORRECT = "non_correct", "Samples not answered correctly"
    CLAIMS = "claims", "Claims"


class IntervalMethod(models.TextChoices):
    WILSON = "wilson", "Wilson score (95 %)"
    CLOPPER_PEARSON = "clopper_pearson", "Clopper–Pearson exact (95 %)"


class SampleGrade(models.TextChoices):
    CORRECT = "correct", "Correct"
    INCORRECT = "incorrect", "Incorrect (hallucinated)"
    NOT_ATTEMPTED = "not_attempted", "Not attempted (abstained)"
    UNVERIFIABLE = "unverifiable", "Unverifiable"


class HallucinationKind(models.TextChoices):
    EXTRINSIC = "extrinsic", "Extrinsic (not supported by the source or the world)"
    INTRINSIC = "intrinsic", "Intrinsic (contradicts the given context)"


class HallucinationSubtype(models.TextChoices):
    FABRICATED_ENTITY = "fabricated_entity", "Fabricated entity"
    WRONG_FACT = "wrong_fact", "Wrong fact"
    UNSUPPORTED_CLAIM = "unsupported_claim", "Unsupported claim"
    CONTEXT_CONTRADICTION = "context_contradiction", "Contradicts the context"
    FABRICATED_CITATION = "fabricated_citation", "Fabricated citation"
    FALSE_PREMISE_ACCEPTED = "false_premise_accepted", "False premise accepted"
    BELIEF_AS_KNOWLEDGE = "belief_as_knowledge", "Belief stated as knowledge"


class FindingStatus(models.TextChoices):
    NEW = "new", "New"
    CONFIRMED = "confirmed", "Confirmed"
    FALSE_POSITIVE = "false_positive", "False positive"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"
    FIXED = "fixed", "Fixed"
    DUPLICATE = "duplicate", "Duplicate"


class LimitJudgedOn(models.TextChoices):
    RATE = "rate", "The measured rate"
    LOWER_BOUND = "lower_bound", "The interval's lower bound (exceeded beyond doubt)"
