"""Serializers of the incident API: the incident, its update, lifecycle transition, timeline,
corrective-action, Art. 73 and similarity bodies.

A list reads the names it shows (system, team, reporter, original of a duplicate:
``IncidentQuerySet.with_names``) and the clock states (``with_clocks``) as annotations of its one
query, so a page costs the same number of queries however many rows it holds. The incident renders
through ``FastRepresentation``, from the fields declared here.
"""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.api import base
from governance.api.base import FastRepresentation, read_only_except
from governance.api.fields import AnnotatedNameField, DateTimeField
from governance.models import AIModel, User
from governance.models.inventory import PEOPLE
from incidents import choices
from incidents.api.fields import (
    IncidentStatusField,
    ReportStateField,
    SeriousGroundField,
    SlaStepStateField,
    SystemReferenceField,
)
from incidents.clock_rules import BREACHED_STEP_STATES
from incidents.models import CorrectiveAction, Incident
from incidents.services import corrective, lifecycle
from incidents.services import incidents as incident_services

Status = choices.IncidentStatus

REFERENCE_PATTERN = re.compile(r"INC-[0-9]{4}-[0-9]{1,10}")


class SlaSerializer(base.Serializer):
    respond_state = SlaStepStateField(
        choices=choices.SlaStepState.choices, help_text="Where the response stands against its SLA."
    )
    respond_breached = serializers.BooleanField(help_text="Responded late, or overdue.")
    resolve_state = SlaStepStateField(
        choices=choices.SlaStepState.choices, help_text="Where the resolution stands against its SLA."
    )
    resolve_breached = serializers.BooleanField(help_text="Resolved late, or overdue.")


# --- Incidents ----------------------------------------------------------------------------------


class IncidentSerializer(FastRepresentation, base.ModelSerializer):
    system = SystemReferenceField()
    team = AnnotatedNameField(
        annotation="team_slug",
        path="team.slug",
        help_text="Slug of the team owning the system when reported.",
    )
    reporter = AnnotatedNameField(
        annotation="reporter_username", path="reporter.username", help_text="Username of the reporter."
    )
    duplicate_of = AnnotatedNameField(
        annotation="duplicate_of_reference",
        path="duplicate_of.reference",
        help_text="Reference of the original incident, for a duplicate.",
    )
    model = serializers.PrimaryKeyRelatedField(
        queryset=AIModel.objects.all(),
        allow_null=True,
        required=False,
        help_text="Id of the AI model (linked to the system) in use at the time.",
    )
    serious_grounds = serializers.ListField(
        child=SeriousGroundField(choices=choices.SeriousIncidentGround.choices()),
        read_only=True,
        help_text="Every Art. 3(49) ground the incident meets; set by an officer through …/serious/.",
    )
    allowed_transitions = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()
    report_state = ReportStateField(
        choices=choices.ReportState.choices,
        read_only=True,
        help_text="Where the Art. 73 initial report stands (the deadline is met by the initial report).",
    )
    report_overdue = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "reference",
            "system",
            "team",
            "model",
            "title",
            "description",
            "occurred_at",
            "detected_at",
            "became_aware_at",
            "source",
            "external_id",
            "reporter",
            "severity",
            "status",
            "allowed_transitions",
            "duplicate_of",
            *incident_services.CLASSIFICATION_FIELDS,
            "is_serious",
            "serious_grounds",
            "widespread_infringement",
            "report_due_at",
            "report_due_rule",
            "initial_report_sent_at",
            "complete_report_sent_at",
            "authority_reference",
            "report_state",
            "report_overdue",
            "respond_by",
            "resolve_by",
            "responded_at",
            "resolved_at",
            "sla",
            "created_at",
            "updated_at",
        ]
        read_only_fields = read_only_except(fields, incident_services.REPORTED_FIELDS)
        extra_kwargs = {
            "detected_at": {
                "required": False,
                "help_text": "When it was detected; defaults to the time of reporting.",
            },
            "became_aware_at": {
                "required": False,
                "help_text": (
                    "When the provider became aware (starts the Art. 73 clock); defaults to detected_at."
                ),
            },
            "external_id": {
                "help_text": (
                    "The reporting tool's own id: reporting it again (same team and source) answers 200 "
                    "with the incident already recorded."
                )
            },
        }
        validators = []  # the time order and the external id are the service's to check

    def get_allowed_transitions(self, incident) -> list[str]:
        return lifecycle.allowed_transitions(incident.status)

    # The clock states are annotations of the query (``Incident.objects.with_clocks(now)``):
    # the view reads every incident it renders through it.
    @extend_schema_field(SlaSerializer)
    def get_sla(self, incident) -> dict:
        return {
            "respond_state": incident.respond_state,
            "respond_breached": incident.respond_state in BREACHED_STEP_STATES,
            "resolve_state": incident.resolve_state,
            "resolve_breached": incident.resolve_state in BREACHED_STEP_STATES,
        }

    def get_report_overdue(self, incident) -> bool:
        return incident.report_state == choices.ReportState.OVERDUE


class IncidentUpdateSerializer(base.ModelSerializer):
    """What a PATCH may change; the status changes through ``…/transition/``."""

    extra_input_fields = ("status",)  # answered in validate(): it changes through transition/

    model = serializers.PrimaryKeyRelatedField(
        queryset=AIModel.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Incident
        fields = list(incident_services.UPDATABLE_FIELDS)

    def validate(self, attrs):
        wanted = self.initial_data.get("status") if isinstance(self.initial_data, dict) else None
        if wanted is not None and self.instance is not None and wanted != self.instance.status:
            raise serializers.ValidationError(
                {"status": "Change the status with POST /api/v1/incidents/{reference}/transition/."}
            )
        return attrs


class TransitionSerializer(base.Serializer):
    to = IncidentStatusField(choices=Status.choices, help_text="The status to move to.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    duplicate_of = serializers.RegexField(
        REFERENCE_PATTERN,
        required=False,
        allow_null=True,
        default=None,
        help_text="Reference of the original incident; required with to=duplicate.",
        error_messages={"invalid": "Give an incident reference, like INC-2025-12."},
    )


class CommentSerializer(base.Serializer):
    body = serializers.CharField(max_length=20000, help_text="The comment.")


class TimelineEntrySerializer(base.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=choices.TimelineKind.choices, read_only=True)
    at = serializers.DateTimeField(read_only=True)
    author = serializers.CharField(source="author_label", read_only=True)
    body = serializers.CharField(read_only=True)
    data = serializers.JSONField(read_only=True)


class CorrectiveActionSerializer(base.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(**PEOPLE),
        allow_null=True,
        required=False,
        help_text="Username of the person accountable for the action.",
    )
    verified_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null until the action is verified."
    )

    class Meta:
        model = CorrectiveAction
        fields = [
            "id",
            "description",
            "owner",
            "due_on",
            "status",
            "verification",
            "verified_by",
            "verified_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = base.read_only_except(fields, corrective.EDITABLE_FIELDS)


def _grounds_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=SeriousGroundField(choices=choices.SeriousIncidentGround.choices()),
        allow_empty=True,
        max_length=len(choices.SeriousIncidentGround),
        help_text=help_text,
    )


class SeriousSerializer(base.Serializer):
    """POST …/serious/: add grounds (and the widespread scope); never takes anything away."""

    grounds = _grounds_field("EU AI Act Art. 3(49) grounds to add to those the incident has.")
    widespread = serializers.BooleanField(
        default=False,
        help_text="true: a widespread infringement (Art. 3(61)), a 2-day deadline; false leaves it as it is.",
    )


class SeriousSetSerializer(base.Serializer):
    """PUT …/serious/: exactly these grounds and this scope; a written reason to loosen either."""

    grounds = _grounds_field(
        "Every Art. 3(49) ground the incident meets; [] with widespread false withdraws the flag."
    )
    widespread = serializers.BooleanField(help_text="Whether it is a widespread infringement (Art. 3(61)).")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text=(
            "Required when the change removes a ground, clears widespread, withdraws the flag or moves "
            "the report deadline later; it goes on the timeline."
        ),
    )


class AuthorityReportSerializer(base.Serializer):
    report = serializers.ChoiceField(choices=[(r, r) for r in lifecycle.REPORTS])
    sent_at = DateTimeField(required=False, allow_null=True, default=None, help_text="Default: now.")
    authority_reference = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class SimilarQuerySerializer(base.QuerySerializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=50, default=10, help_text="At most this many of each (1–50)."
    )


class SimilarInternalSerializer(base.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    system = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    score = serializers.FloatField()


class SimilarPublicSerializer(base.Serializer):
    aiid_id = serializers.IntegerField()
    title = serializers.CharField()
    date = serializers.DateField(allow_null=True)
    url = serializers.URLField()
    score = serializers.FloatField()


class SimilarSerializer(base.Serializer):
    internal = SimilarInternalSerializer(many=True)
    public = SimilarPublicSerializer(many=True)
