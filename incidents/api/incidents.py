"""Incident API: serializers, filters and the viewset with its lifecycle, timeline, corrective-action,
Art. 73 and similarity endpoints. Views adapt HTTP to ``incidents.services``; reads go through
``visible_to(user)``, so an incident of another team's system answers 404.

A list reads the names it shows (system, team, reporter, original of a duplicate) as annotations
of its one query, so a page costs the same number of queries however many rows it holds.
"""

from __future__ import annotations

import re
from datetime import timedelta

import django_filters
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import F, Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import StableCursorPagination
from governance.api.views import ServiceModelViewSet, crud_summaries
from governance.models import AIModel, AISystem, User
from governance.models.inventory import PEOPLE
from incidents import choices
from incidents.models import CorrectiveAction, Incident
from incidents.services import corrective, lifecycle, references
from incidents.services import incidents as incident_services

Status = choices.IncidentStatus

REFERENCE_PATTERN = re.compile(r"INC-[0-9]{4}-[0-9]{1,10}")
_SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,80}")
_MAX_ID = 2**63 - 1

# Not yet resolved and not set aside: the SLA clocks still run for these.
ACTIVE_STATUSES = (Status.REPORTED, Status.TRIAGED, Status.INVESTIGATING, Status.MITIGATED)
DUE_SOON = timedelta(hours=24)


# --- Clock states, shared by the representation and the filters ---------------------------------


def respond_breached_q(now) -> Q:
    late = Q(responded_at__gt=F("respond_by"))
    waiting = Q(responded_at__isnull=True, status__in=ACTIVE_STATUSES, respond_by__lt=now)
    return late | waiting


def resolve_breached_q(now) -> Q:
    late = Q(resolved_at__gt=F("resolve_by"))
    waiting = Q(resolved_at__isnull=True, status__in=ACTIVE_STATUSES, resolve_by__lt=now)
    return late | waiting


def report_overdue_q(now) -> Q:
    return Q(is_serious=True, complete_report_sent_at__isnull=True, report_due_at__lt=now)


def report_due_soon_q(now) -> Q:
    return Q(
        is_serious=True,
        complete_report_sent_at__isnull=True,
        report_due_at__gte=now,
        report_due_at__lte=now + DUE_SOON,
    )


def _breached(done_at, due_by, status_value, now) -> bool:
    if done_at is not None:
        return done_at > due_by
    return status_value in ACTIVE_STATUSES and now > due_by


# --- Fields -------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "The AI system's id or slug; read as its slug.",
    }
)
class SystemReferenceField(serializers.Field):
    """An AI system written as its id (a number) or slug (text), read as its slug.

    A system that does not exist is a field message; one that exists but belongs to another team
    answers 404, as reading it would.
    """

    default_error_messages = {
        "invalid": "Give the AI system's id (a number) or its slug (text).",
        "unknown": "No AI system with this id or slug.",
    }

    def get_attribute(self, instance):
        if hasattr(instance, "system_slug"):
            return instance.system_slug
        return instance.system.slug

    def to_representation(self, value):
        return value

    def to_internal_value(self, data) -> AISystem:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            if not 0 < data <= _MAX_ID:
                self.fail("unknown")
            lookup = {"pk": data}
        elif isinstance(data, str) and _SLUG_PATTERN.fullmatch(data):
            lookup = {"slug": data}
        else:
            self.fail("invalid")
        systems = AISystem.objects.select_related("owning_team")
        request = self.context.get("request")
        if request is not None:
            system = systems.visible_to(request.user).filter(**lookup).first()
            if system is None and AISystem.objects.filter(**lookup).exists():
                raise exceptions.NotFound("No AI system with this id or slug.")
        else:
            system = systems.filter(**lookup).first()
        if system is None:
            self.fail("unknown")
        return system


@extend_schema_field({"type": "string", "nullable": True})
class AnnotatedNameField(serializers.ReadOnlyField):
    """A related object's name read from an annotation of the list query, else from the relation."""

    def __init__(self, *, annotation: str, path: str, **kwargs):
        self.annotation = annotation
        self.path = path.split(".")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        if hasattr(instance, self.annotation):
            return getattr(instance, self.annotation)
        value = instance
        for name in self.path:
            value = getattr(value, name, None)
            if value is None:
                return None
        return value


def _named_choices(name: str, choice_list: list[tuple[str, str]]):
    """A ``ChoiceField`` class documented as the enum component ``name``: the same choices appear
    under several field names (``status`` and ``to``), which would otherwise make several enums."""
    values = [value for value, _ in choice_list]
    field_class = type(f"{name}Field", (serializers.ChoiceField,), {})
    return extend_schema_field({"type": "string", "enum": values}, component_name=name)(field_class)


IncidentStatusField = _named_choices("IncidentStatus", Status.choices)
SeriousGroundField = _named_choices("SeriousIncidentGround", choices.SeriousIncidentGround.choices())


class SlaSerializer(serializers.Serializer):
    respond_breached = serializers.BooleanField()
    resolve_breached = serializers.BooleanField()


# --- Incidents ----------------------------------------------------------------------------------

_CLASSIFICATION = ["harm_types", "harm_level", "mit_domain", "mit_subdomain", "affected_parties", "sector"]


class IncidentSerializer(serializers.ModelSerializer):
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
    allowed_transitions = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()
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
            *_CLASSIFICATION,
            "is_serious",
            "serious_ground",
            "widespread_infringement",
            "report_due_at",
            "report_due_rule",
            "initial_report_sent_at",
            "complete_report_sent_at",
            "authority_reference",
            "report_overdue",
            "respond_by",
            "resolve_by",
            "responded_at",
            "resolved_at",
            "sla",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "reference",
            "source",
            "status",
            "is_serious",
            "serious_ground",
            "widespread_infringement",
            "report_due_at",
            "report_due_rule",
            "initial_report_sent_at",
            "complete_report_sent_at",
            "authority_reference",
            "respond_by",
            "resolve_by",
            "responded_at",
            "resolved_at",
            "created_at",
            "updated_at",
        ]
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

    def _now(self):
        return self.context.setdefault("now", timezone.now())

    def get_allowed_transitions(self, incident) -> list[str]:
        return lifecycle.allowed_transitions(incident.status)

    @extend_schema_field(SlaSerializer)
    def get_sla(self, incident) -> dict:
        now = self._now()
        return {
            "respond_breached": _breached(incident.responded_at, incident.respond_by, incident.status, now),
            "resolve_breached": _breached(incident.resolved_at, incident.resolve_by, incident.status, now),
        }

    def get_report_overdue(self, incident) -> bool:
        return bool(
            incident.is_serious
            and incident.complete_report_sent_at is None
            and incident.report_due_at is not None
            and incident.report_due_at < self._now()
        )


class IncidentUpdateSerializer(serializers.ModelSerializer):
    """What a PATCH may change; the status changes through ``…/transition/``."""

    model = serializers.PrimaryKeyRelatedField(
        queryset=AIModel.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Incident
        fields = ["title", "description", "severity", *_CLASSIFICATION, "model"]

    def validate(self, attrs):
        wanted = self.initial_data.get("status") if isinstance(self.initial_data, dict) else None
        if wanted is not None and self.instance is not None and wanted != self.instance.status:
            raise serializers.ValidationError(
                {"status": "Change the status with POST /api/v1/incidents/{reference}/transition/."}
            )
        return attrs


class TransitionSerializer(serializers.Serializer):
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


class CommentSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20000, help_text="The comment.")


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=choices.TimelineKind.choices, read_only=True)
    at = serializers.DateTimeField(read_only=True)
    author = serializers.CharField(source="author_label", read_only=True)
    body = serializers.CharField(read_only=True)
    data = serializers.JSONField(read_only=True)


class CorrectiveActionSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(**PEOPLE),
        allow_null=True,
        required=False,
        help_text="Username of the person accountable for the action.",
    )
    verified_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
        read_only_fields = ["id", "verified_by", "verified_at", "created_at", "updated_at"]


class SeriousSerializer(serializers.Serializer):
    ground = SeriousGroundField(
        choices=choices.SeriousIncidentGround.choices(), help_text="The EU AI Act Art. 3(49) ground."
    )
    widespread = serializers.BooleanField(
        default=False, help_text="A widespread infringement (Art. 3(61)): a 2-day deadline."
    )


class AuthorityReportSerializer(serializers.Serializer):
    report = serializers.ChoiceField(choices=[(r, r) for r in lifecycle.REPORTS])
    sent_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Default: now."
    )
    authority_reference = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class SimilarQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class SimilarInternalSerializer(serializers.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    system = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    score = serializers.FloatField()


class SimilarPublicSerializer(serializers.Serializer):
    aiid_id = serializers.IntegerField()
    title = serializers.CharField()
    date = serializers.DateField(allow_null=True)
    url = serializers.URLField()
    score = serializers.FloatField()


class SimilarSerializer(serializers.Serializer):
    internal = SimilarInternalSerializer(many=True)
    public = SimilarPublicSerializer(many=True)


# --- Filters ------------------------------------------------------------------------------------


def _boolean_q(queryset, value, q: Q):
    return queryset.filter(q) if value else queryset.exclude(q)


class IncidentFilter(django_filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__slug", help_text="AI system slug.")
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    severity = django_filters.MultipleChoiceFilter(choices=choices.Severity.choices())
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    serious = django_filters.BooleanFilter(
        field_name="is_serious", help_text="Serious incidents (Art. 3(49))."
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        help_text="true: serious, the Art. 73 report due date has passed and no complete report was sent.",
    )
    report_due_soon = django_filters.BooleanFilter(
        method="filter_report_due_soon",
        help_text="true: serious, no complete report yet, and the report is due within 24 hours.",
    )
    sla_breached = django_filters.BooleanFilter(
        method="filter_sla_breached", help_text="true: the response or resolution SLA is breached."
    )
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        method="search",
        max_length=500,
        help_text='Full-text search of title and description (web search syntax: "quoted", or, -not).',
    )

    class Meta:
        model = Incident
        fields = ["severity", "status"]

    def filter_overdue(self, queryset, name, value):
        return _boolean_q(queryset, value, report_overdue_q(timezone.now()))

    def filter_report_due_soon(self, queryset, name, value):
        return _boolean_q(queryset, value, report_due_soon_q(timezone.now()))

    def filter_sla_breached(self, queryset, name, value):
        now = timezone.now()
        return _boolean_q(queryset, value, respond_breached_q(now) | resolve_breached_q(now))

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        vector = SearchVector("title", weight="A", config="english") + SearchVector(
            "description", weight="B", config="english"
        )
        query = SearchQuery(value, search_type="websearch", config="english")
        return queryset.alias(document=vector).filter(Q(document=query) | Q(reference__iexact=value))


class IncidentPagination(StableCursorPagination):
    ordering = ("-created_at", "-id")


class TimelinePagination(StableCursorPagination):
    ordering = ("at", "id")


class CorrectiveActionPagination(StableCursorPagination):
    ordering = ("created_at", "id")


def _paginated(paginator, queryset, request, serializer_class):
    # No view: the incident list's ``?ordering=`` must not reorder a nested list.
    page = paginator.paginate_queryset(queryset, request, view=None)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Views --------------------------------------------------------------------------------------

_ACTION_ID = OpenApiParameter("action_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(
    **crud_summaries(
        "an incident",
        "incidents visible to you",
        create="Report an incident (200 with the existing one for a repeated external_id)",
        partial_update="Update an incident's description, classification, model or severity",
    )
)
class IncidentViewSet(ServiceModelViewSet):
    """The incident register. Engineers report and work on incidents of their teams' systems;
    officers on all of them, and they alone flag serious incidents and record authority reports;
    auditors read."""

    queryset = Incident.objects.all()
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = IncidentPagination
    ordering_fields = ["created_at", "occurred_at", "updated_at"]
    lookup_field = "reference"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            return queryset.annotate(
                system_slug=F("system__slug"),
                team_slug=F("team__slug"),
                reporter_username=F("reporter__username"),
                duplicate_of_reference=F("duplicate_of__reference"),
            )
        return queryset.select_related("system")

    def get_object(self):
        if not REFERENCE_PATTERN.fullmatch(self.kwargs.get(self.lookup_field, "")):
            raise exceptions.NotFound("No incident with this reference.")
        return super().get_object()

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, lifecycle.InvalidTransition) and isinstance(response.data, dict):
            response.data["allowed"] = exc.allowed
        return response

    def _render(self, incident, *, code=status.HTTP_200_OK) -> Response:
        return Response(IncidentSerializer(incident, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER], responses={201: IncidentSerializer, 200: IncidentSerializer}
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident, created = incident_services.create_incident(
            actor=request.user, data={**serializer.validated_data, "source": choices.IncidentSource.API}
        )
        return self._render(incident, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=IncidentUpdateSerializer, responses={200: IncidentSerializer})
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        body = IncidentUpdateSerializer(incident, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        incident = incident_services.update_incident(
            actor=request.user, incident=incident, changes=body.validated_data
        )
        return self._render(incident)

    @extend_schema(
        summary="Move an incident to another status",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        description="409 with the allowed statuses (`allowed`) when the lifecycle does not allow the move.",
        request=TransitionSerializer,
        responses={200: IncidentSerializer},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, reference=None):
        incident = self.get_object()
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        original = None
        if data["duplicate_of"]:
            original = (
                Incident.objects.visible_to(request.user).filter(reference=data["duplicate_of"]).first()
            )
            if original is None:
                raise exceptions.ValidationError({"duplicate_of": ["No incident with this reference."]})
        incident = lifecycle.transition(
            actor=request.user, incident=incident, to=data["to"], note=data["note"], duplicate_of=original
        )
        return self._render(incident)

    @extend_schema(
        methods=["GET"],
        summary="An incident's timeline, oldest first",
        responses=TimelineEntrySerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Comment on an incident",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CommentSerializer,
        responses={201: TimelineEntrySerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def timeline(self, request, reference=None):
        incident = self.get_object()
        if request.method == "POST":
            body = CommentSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            entry = incident_services.add_comment(
                actor=request.user, incident=incident, body=body.validated_data["body"]
            )
            return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        return _paginated(TimelinePagination(), incident.timeline.all(), request, TimelineEntrySerializer)

    @extend_schema(
        methods=["GET"],
        summary="An incident's corrective actions",
        responses=CorrectiveActionSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a corrective action (ISO/IEC 42001 10.2)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CorrectiveActionSerializer,
        responses={201: CorrectiveActionSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="corrective-actions")
    def corrective_actions(self, request, reference=None):
        incident = self.get_object()
        if request.method == "POST":
            body = CorrectiveActionSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            created = corrective.add_corrective_action(
                actor=request.user, incident=incident, data=body.validated_data
            )
            return Response(CorrectiveActionSerializer(created).data, status=status.HTTP_201_CREATED)
        actions = incident.corrective_actions.select_related("owner", "verified_by")
        return _paginated(CorrectiveActionPagination(), actions, request, CorrectiveActionSerializer)

    @extend_schema(
        summary="Update a corrective action",
        description="Marking it verified needs a verification note and stamps who verified it and when.",
        parameters=[_ACTION_ID],
        request=CorrectiveActionSerializer,
        responses={200: CorrectiveActionSerializer},
    )
    @action(detail=True, methods=["patch"], url_path=r"corrective-actions/(?P<action_id>[0-9]{1,18})")
    def corrective_action(self, request, reference=None, action_id=None):
        incident = self.get_object()
        existing = incident.corrective_actions.filter(pk=int(action_id)).first()
        if existing is None:
            raise exceptions.NotFound("No corrective action with this id on this incident.")
        body = CorrectiveActionSerializer(existing, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        updated = corrective.update_corrective_action(
            actor=request.user, action=existing, changes=body.validated_data
        )
        return Response(CorrectiveActionSerializer(updated).data)

    @extend_schema(
        summary="Flag a serious incident (EU AI Act Art. 3(49)) and set its Art. 73 reporting deadline",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        description="Governance officers only.",
        request=SeriousSerializer,
        responses={200: IncidentSerializer},
    )
    @action(detail=True, methods=["post"])
    def serious(self, request, reference=None):
        incident = self.get_object()
        body = SeriousSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = lifecycle.flag_serious(
            actor=request.user,
            incident=incident,
            ground=body.validated_data["ground"],
            widespread=body.validated_data["widespread"],
        )
        return self._render(incident)

    @extend_schema(
        summary="Record a report sent to the market surveillance authority (Art. 73)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        description="Governance officers only; each of the initial and the complete report is recorded once.",
        request=AuthorityReportSerializer,
        responses={200: IncidentSerializer},
    )
    @action(detail=True, methods=["post"], url_path="authority-reports")
    def authority_reports(self, request, reference=None):
        incident = self.get_object()
        body = AuthorityReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = lifecycle.record_authority_report(
            actor=request.user, incident=incident, **body.validated_data
        )
        return self._render(incident)

    @extend_schema(
        summary="Incidents like this one: internal ones visible to you and public AIID ones",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many of each (1–50).")
        ],
        responses={200: SimilarSerializer},
    )
    @action(detail=True, methods=["get"])
    def similar(self, request, reference=None):
        incident = self.get_object()
        params = SimilarQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = references.similar_incidents(
            text=f"{incident.title}\n{incident.description}",
            title=incident.title,
            exclude_incident_id=incident.pk,
            internal_queryset=Incident.objects.visible_to(request.user),
            limit=params.validated_data["limit"],
        )
        return Response(SimilarSerializer(found).data)
