"""The incident register."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.db import models

from incidents import choices
from incidents.querysets import IncidentQuerySet


class IncidentSequence(models.Model):
    """The last reference number handed out per year; allocating one locks the year's row, so
    concurrent reports get consecutive numbers and a rolled-back report gives its number back."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Incident(models.Model):
    """Something an AI system did (or nearly did) that governance must know about."""

    reference = models.CharField(
        max_length=20, unique=True, editable=False, help_text="Given by Verity: INC-year-number."
    )
    system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="incidents")
    team = models.ForeignKey(
        "governance.Team",
        on_delete=models.PROTECT,
        related_name="incidents",
        editable=False,
        help_text="The system's owning team when the incident was reported.",
    )
    model = models.ForeignKey(
        "governance.AIModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
        help_text="The model (version) in use at the time.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    became_aware_at = models.DateTimeField(
        help_text="When the provider became aware: starts the Art. 73 clock."
    )
    source = models.CharField(max_length=20, choices=choices.IncidentSource.choices)
    external_id = models.CharField(max_length=200, blank=True, help_text="The reporting tool's own id.")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.CharField(max_length=4, choices=choices.Severity.choices())
    status = models.CharField(
        max_length=20, choices=choices.IncidentStatus.choices, default=choices.IncidentStatus.REPORTED
    )
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )

    # Classification (CSET v1 and the MIT AI Risk Repository, as used by the AI Incident Database)
    harm_types = ArrayField(
        models.CharField(max_length=30, choices=choices.HarmType.choices), default=list, blank=True
    )
    harm_level = models.CharField(max_length=20, choices=choices.HarmLevel.choices, blank=True)
    mit_domain = models.CharField("MIT AI risk domain", max_length=200, blank=True)
    mit_subdomain = models.CharField("MIT AI risk subdomain", max_length=200, blank=True)
    affected_parties = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    sector = models.CharField(max_length=200, blank=True)

    # EU AI Act Art. 73
    is_serious = models.BooleanField("serious incident", default=False)
    # Every Art. 3(49) ground the incident meets (it can meet several), in the order of
    # ``SeriousIncidentGround``; the report deadline is the earliest any of them gives.
    serious_grounds = ArrayField(
        models.CharField(max_length=30, choices=choices.SeriousIncidentGround.choices()),
        default=list,
        blank=True,
        verbose_name="Art. 3(49) grounds",
    )
    widespread_infringement = models.BooleanField(default=False, help_text="Art. 3(61)")
    report_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    report_due_rule = models.CharField(max_length=20, blank=True, editable=False, help_text="e.g. Art. 73(3)")
    initial_report_sent_at = models.DateTimeField(null=True, blank=True)
    complete_report_sent_at = models.DateTimeField(null=True, blank=True)
    authority_reference = models.CharField(max_length=200, blank=True)

    # Service levels per severity
    respond_by = models.DateTimeField(editable=False)
    resolve_by = models.DateTimeField(editable=False)
    responded_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)

    reference_incidents = models.ManyToManyField(
        "incidents.ReferenceIncident", related_name="internal_incidents", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="unique_external_incident_per_team",
            ),
            models.CheckConstraint(
                condition=models.Q(detected_at__gte=models.F("occurred_at")),
                name="incident_detected_after_occurred",
            ),
        ]
        indexes = [
            models.Index(fields=["system", "-created_at"], name="incident_system_recent"),
            # The triage filters of a system's list, in page order (newest first).
            models.Index(
                fields=["system", "status", "severity", "-created_at", "-id"], name="incident_system_filtered"
            ),
            models.Index(fields=["team", "status", "severity"], name="incident_team_triage"),
            models.Index(fields=["status", "severity", "created_at"], name="incident_triage"),
            models.Index(
                fields=["report_due_at"], name="incident_report_due", condition=models.Q(is_serious=True)
            ),
            GinIndex(fields=["harm_types"], name="incident_harm_types_gin"),
            # The same expression as the API's `q` search, so PostgreSQL can use it.
            GinIndex(
                SearchVector("title", weight="A", config="english")
                + SearchVector("description", weight="B", config="english"),
                name="incident_search",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def clean(self) -> None:
        errors = {}
        if self.occurred_at and self.detected_at and self.detected_at < self.occurred_at:
            errors["detected_at"] = "An incident cannot be detected before it occurred."
        if self.detected_at and self.became_aware_at and self.became_aware_at < self.detected_at:
            errors["became_aware_at"] = "Awareness cannot come before detection."
        if self.is_serious and not self.serious_grounds:
            errors["serious_grounds"] = "A serious incident needs at least one Art. 3(49) ground."
        if self.serious_grounds and not self.is_serious:
            errors["serious_grounds"] = "Only a serious incident has Art. 3(49) grounds."
        if self.widespread_infringement and not self.is_serious:
            errors["widespread_infringement"] = "Only a serious incident can be a widespread infringement."
        if (self.status == choices.IncidentStatus.DUPLICATE) != bool(self.duplicate_of_id):
            errors["duplicate_of"] = (
                "A duplicate names the incident it duplicates, and only a duplicate does."
            )
        if errors:
            raise ValidationError(errors)
