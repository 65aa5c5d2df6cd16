"""Enumerations of the inventory. Values are stable API identifiers; labels are for people."""

from django.db import models


class LifecycleStage(models.TextChoices):
    IDEA = "idea", "Idea"
    DEVELOPMENT = "development", "Development"
    VALIDATION = "validation", "Validation"
    DEPLOYED = "deployed", "Deployed"
    RETIRED = "retired", "Retired"


class EUAIActClass(models.TextChoices):
    """Risk classes of Regulation (EU) 2024/1689."""

    PROHIBITED = "prohibited", "Prohibited practice (Art. 5)"
    HIGH_RISK = "high_risk", "High-risk (Art. 6, Annex III)"
    LIMITED = "limited", "Limited risk: transparency obligations (Art. 50)"
    MINIMAL = "minimal", "Minimal risk"
    UNCLASSIFIED = "unclassified", "Not yet classified"


class AnnexIIIArea(models.TextChoices):
    """The eight high-risk areas of Annex III of the EU AI Act."""

    BIOMETRICS = "biometrics", "1. Biometrics"
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure", "2. Critical infrastructure"
    EDUCATION = "education", "3. Education and vocational training"
    EMPLOYMENT = "employment", "4. Employment, workers' management and access to self-employment"
    ESSENTIAL_SERVICES = "essential_services", "5. Access to essential private and public services"
    LAW_ENFORCEMENT = "law_enforcement", "6. Law enforcement"
    MIGRATION = "migration", "7. Migration, asylum and border control management"
    JUSTICE_DEMOCRACY = "justice_democracy", "8. Administration of justice and democratic processes"


class OperatorRole(models.TextChoices):
    """The organisation's role for this system under the EU AI Act (Art. 3)."""

    PROVIDER = "provider", "Provider"
    DEPLOYER = "deployer", "Deployer"
    DISTRIBUTOR = "distributor", "Distributor"
    IMPORTER = "importer", "Importer"


class RiskTier(models.TextChoices):
    """Internal risk tier; it drives review cadence."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class AutonomyLevel(models.TextChoices):
    ASSISTIVE = "assistive", "Assistive: suggests, a person decides"
    SUPERVISED = "supervised", "Supervised: acts after a person approves"
    CONDITIONAL = "conditional", "Conditional: acts alone, a person handles exceptions"
    FULL = "full", "Full: acts alone without routine human review"


class HumanOversight(models.TextChoices):
    IN_THE_LOOP = "in_the_loop", "Human in the loop"
    ON_THE_LOOP = "on_the_loop", "Human on the loop"
    IN_COMMAND = "in_command", "Human in command"
    NONE = "none", "No human oversight"


class PersonalDataCategory(models.TextChoices):
    NONE = "none", "No personal data"
    IDENTIFIERS = "identifiers", "Identifiers (name, e-mail, account ids)"
    CONTACT = "contact", "Contact details"
    FINANCIAL = "financial", "Financial data"
    LOCATION = "location", "Location data"
    BEHAVIOURAL = "behavioural", "Behavioural and usage data"
    COMMUNICATIONS = "communications", "Content of communications"
    EMPLOYMENT = "employment", "Employment and HR data"
    HEALTH = "health", "Health data (special category)"
    BIOMETRIC = "biometric", "Biometric data (special category)"
    SPECIAL_OTHER = "special_other", "Other special-category data (Art. 9 GDPR)"
    CHILDREN = "children", "Children's data"
    CRIMINAL = "criminal", "Criminal convictions and offences"


class AffectedGroup(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    EMPLOYEES = "employees", "Employees"
    JOB_APPLICANTS = "job_applicants", "Job applicants"
    PATIENTS = "patients", "Patients"
    STUDENTS = "students", "Students"
    CHILDREN = "children", "Children"
    GENERAL_PUBLIC = "general_public", "General public"
    VULNERABLE = "vulnerable", "Vulnerable people"
    BUSINESSES = "businesses", "Business customers"
    CITIZENS = "citizens", "Citizens using public services"


class ModelModality(models.TextChoices):
    TEXT = "text", "Text"
    CODE = "code", "Code"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio and speech"
    VIDEO = "video", "Video"
    MULTIMODAL = "multimodal", "Multimodal"
    TABULAR = "tabular", "Tabular"
    EMBEDDING = "embedding", "Embeddings"


class ModelType(models.TextChoices):
    FOUNDATION = "foundation", "Foundation / general-purpose model"
    FINE_TUNED = "fine_tuned", "Fine-tuned model"
    CLASSIFIER = "classifier", "Classifier"
    REGRESSION = "regression", "Regression / scoring model"
    RECOMMENDER = "recommender", "Recommender"
    RETRIEVAL = "retrieval", "Retrieval / embedding model"
    OTHER = "other", "Other"


class WeightsAvailability(models.TextChoices):
    OPEN = "open", "Open weights"
    CLOSED = "closed", "Closed weights"


class Hosting(models.TextChoices):
    VENDOR_API = "vendor_api", "Vendor API"
    CLOUD_MANAGED = "cloud_managed", "Managed cloud service"
    SELF_HOSTED = "self_hosted", "Self-hosted (our cloud)"
    ON_PREMISES = "on_premises", "On premises"
    ON_DEVICE = "on_device", "On device"


class ModelRole(models.TextChoices):
    """How a system uses a model."""

    PRIMARY = "primary", "Primary"
    FALLBACK = "fallback", "Fallback"
    GUARD = "guard", "Guard / judge"
    EMBEDDING = "embedding", "Embedding / retrieval"


class Role(models.TextChoices):
    """Verity roles; each is a Django group whose permissions a migration sets up."""

    OFFICER = "officer", "Governance officer"
    ENGINEER = "engineer", "Engineer"
    AUDITOR = "auditor", "Auditor"


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class RequirementKind(models.TextChoices):
    FUNCTION = "function", "Function"
    CATEGORY = "category", "Category"
    SUBCATEGORY = "subcategory", "Subcategory"
    CLAUSE = "clause", "Clause"
    CLAUSE_REQUIREMENT = "clause_requirement", "Clause requirement"
    CONTROL_OBJECTIVE = "control_objective", "Control objective"
    CONTROL = "control", "Control"
    RISK = "risk", "Risk"
    ACTION = "action", "Suggested action"
    CHAPTER = "chapter", "Chapter"
    SECTION = "section", "Section"
    ARTICLE = "article", "Article"
    ANNEX = "annex", "Annex"
    ANNEX_AREA = "annex_area", "Annex area"
    ANNEX_POINT = "annex_point", "Annex point"


class MappingRelationship(models.TextChoices):
    """Set relations between what two requirements ask (as in NIST's OLIR vocabulary)."""

    EQUAL = "equal", "Equal"
    SUBSET = "subset", "Subset of"
    SUPERSET = "superset", "Superset of"
    INTERSECT = "intersect", "Intersects with"
    RELATED = "related", "Related to"


class ControlType(models.TextChoices):
    POLICY = "policy", "Policy"
    PROCESS = "process", "Process"
    TECHNICAL = "technical", "Technical"


class ControlFrequency(models.TextChoices):
    CONTINUOUS = "continuous", "Continuous"
    PER_RELEASE = "per_release", "Every release"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    ANNUAL = "annual", "Annual"
    AD_HOC = "ad_hoc", "When needed"


class ImplementationStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    IMPLEMENTED = "implemented", "Implemented"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class Effectiveness(models.TextChoices):
    NOT_ASSESSED = "not_assessed", "Not assessed"
    EFFECTIVE = "effective", "Effective"
    PARTIALLY_EFFECTIVE = "partially_effective", "Partially effective"
    INEFFECTIVE = "ineffective", "Ineffective"


class EvidenceKind(models.TextChoices):
    FILE = "file", "File"
    LINK = "link", "Link"


class TrustworthinessCharacteristic(models.TextChoices):
    """The seven characteristics of trustworthy AI of the NIST AI RMF 1.0 (section 3)."""

    VALID_RELIABLE = "valid_reliable", "Valid and reliable"
    SAFE = "safe", "Safe"
    SECURE_RESILIENT = "secure_resilient", "Secure and resilient"
    ACCOUNTABLE_TRANSPARENT = "accountable_transparent", "Accountable and transparent"
    EXPLAINABLE_INTERPRETABLE = "explainable_interpretable", "Explainable and interpretable"
    PRIVACY_ENHANCED = "privacy_enhanced", "Privacy-enhanced"
    FAIR = "fair", "Fair, with harmful bias managed"


class RiskTreatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"


class RiskStatus(models.TextChoices):
    IDENTIFIED = "identified", "Identified"
    TREATING = "treating", "Being treated"
    ACCEPTED = "accepted", "Accepted"
    CLOSED = "closed", "Closed"


# --- Reviews and notifications --------------------------------------------------------------------


class ReviewStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    OVERDUE = "overdue", "Overdue"
    WAIVED = "waived", "Waived"


OPEN_REVIEW_STATUSES = (ReviewStatus.SCHEDULED, ReviewStatus.IN_PROGRESS, ReviewStatus.OVERDUE)


class ReviewDueState(models.TextChoices):
    """Where a review stands against its due date; see ``ReviewQuerySet.with_due_state``."""

    UPCOMING = "upcoming", "not yet due"
    DUE_SOON = "due_soon", "due within 7 days"
    OVERDUE = "overdue", "overdue"
    COMPLETED = "completed", "completed"
    WAIVED = "waived", "waived"


class ReviewTrigger(models.TextChoices):
    CADENCE = "cadence", "Periodic (policy cadence)"
    MATERIAL_CHANGE = "material_change", "Material change"


class ReviewOutcome(models.TextChoices):
    APPROVED = "approved", "Approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions", "Approved with conditions"
    SUSPEND = "suspend", "Suspend the system"


class NotificationKind(models.TextChoices):
    REVIEW_DUE = "review_due", "Review falling due"
    REVIEW_OVERDUE = "review_overdue", "Review overdue"
    REVIEW_ESCALATION = "review_escalation", "Overdue review escalated"
    EVIDENCE_EXPIRING = "evidence_expiring", "Evidence expiring"
    INCIDENT_SLA_BREACH = "incident_sla_breach", "Incident SLA breached"
    ART73_DEADLINE = "art73_deadline", "EU AI Act Art. 73 deadline near"
    SEV1_INCIDENT = "sev1", "SEV1 incident"
    SERIOUS_INCIDENT = "serious_incident", "Serious incident (Art. 73)"
    DIGEST = "digest", "Daily digest"


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"
    IN_APP = "in_app", "In the admin"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Gave up"


# --- Transparency scoring -----------------------------------------------------------------------------


class TransparencySubject(models.TextChoices):
    """What an indicator set scores: a foundation model (FMTI) or a deployed AI system."""

    MODEL = "model", "AI model"
    SYSTEM = "system", "AI system"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINAL = "final", "Final"


class AssessmentSource(models.TextChoices):
    MANUAL = "manual", "Assessed here"
    IMPORT = "import", "Imported (published scores)"


class IndicatorAnswer(models.TextChoices):
    UNANSWERED = "unanswered", "Not yet answered"
    SATISFIED = "satisfied", "Satisfied"
    NOT_SATISFIED = "not_satisfied", "Not satisfied"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
