"""Enumerations of the incident register. Values are stable API identifiers."""

from django.db import models


class Severity(models.TextChoices):
    SEV1 = "SEV1", "SEV1: critical harm, or imminent risk to people, rights or safety"
    SEV2 = "SEV2", "SEV2: major harm or a major failure of a control"
    SEV3 = "SEV3", "SEV3: moderate, contained harm"
    SEV4 = "SEV4", "SEV4: minor issue, no harm to people"


class IncidentStatus(models.TextChoices):
    REPORTED = "reported", "Reported"
    TRIAGED = "triaged", "Triaged"
    INVESTIGATING = "investigating", "Investigating"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    DUPLICATE = "duplicate", "Duplicate"


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


class SeriousIncidentGround(models.TextChoices):
    """Art. 3(49) of the EU AI Act: what makes an incident serious."""

    DEATH = "death", "Death of a person (Art. 3(49)(a))"
    HEALTH = "health", "Serious harm to a person's health (Art. 3(49)(a))"
    CRITICAL_INFRASTRUCTURE = (
        "critical_infrastructure",
        "Serious, irreversible disruption of critical infrastructure (Art. 3(49)(b))",
    )
    FUNDAMENTAL_RIGHTS = (
        "fundamental_rights",
        "Infringement of fundamental-rights obligations (Art. 3(49)(c))",
    )
    PROPERTY_ENVIRONMENT = (
        "property_environment",
        "Serious harm to property or the environment (Art. 3(49)(d))",
    )


class TimelineKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    STATUS_CHANGE = "status_change", "Status change"
    SEVERITY_CHANGE = "severity_change", "Severity change"
    MITIGATION = "mitigation", "Mitigation"
    NOTIFICATION_SENT = "notification_sent", "Notification sent"
    AUTHORITY_REPORT = "authority_report", "Report to an authority"


class CorrectiveActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done, awaiting verification"
    VERIFIED = "verified", "Verified"
    CANCELLED = "cancelled", "Cancelled"
