"""Incident API views: the viewset with its lifecycle, timeline, corrective-action, Art. 73 and
similarity endpoints. Views adapt HTTP to ``incidents.services``; reads go through
``visible_to(user)``, so an incident of another team's system answers 404.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER
from governance.api.pagination import NewestFirstPagination, StableCursorPagination
from incidents import choices, clock_rules
from incidents.api.incidents.filters import IncidentFilter
from incidents.api.incidents.serializers import (
    REFERENCE_PATTERN,
    AuthorityReportSerializer,
    CommentSerializer,
    CorrectiveActionSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    SeriousSerializer,
    SeriousSetSerializer,
    SimilarQuerySerializer,
    SimilarSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
)
from incidents.models import Incident
from incidents.services import corrective, lifecycle, references
from incidents.services import incidents as incident_services

# --- Pagination ---------------------------------------------------------------------------------
# An incident's nested lists (timeline, corrective actions) page in their own order and take none
# of the incident list's filters or ``ordering``: their actions say so (``filter_backends=[]``),
# and so the schema documents, and the view base accepts, only their cursor and page size.


class TimelinePagination(StableCursorPagination):
    ordering = ("at", "id")


class CorrectiveActionPagination(StableCursorPagination):
    ordering = ("created_at", "id")


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
    pagination_class = NewestFirstPagination
    ordering_fields = ["created_at", "occurred_at", "updated_at"]
    lookup_field = "reference"
    # PUT only for …/serious/ (setting a flag's exact grounds); an incident itself is changed
    # with PATCH, so ``update`` refuses PUT.
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            return self._readable(queryset)
        return queryset.select_related("system")

    def _readable(self, queryset):
        """What a rendered incident reads: the names it shows and its clock states."""
        return queryset.with_clocks(timezone.now()).with_names()

    def get_object(self):
        if not REFERENCE_PATTERN.fullmatch(self.kwargs.get(self.lookup_field, "")):
            raise exceptions.NotFound("No incident with this reference.")
        return super().get_object()

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, lifecycle.InvalidTransition) and isinstance(response.data, dict):
            response.data["allowed"] = exc.allowed
        return response

    def _page(self, queryset, serializer_class) -> Response:
        """One page of a nested list, through the action's paginator."""
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    def _render(self, incident, *, code=status.HTTP_200_OK) -> Response:
        """The incident after a write, as the service left it, with its clock states as of now."""
        clock_rules.read_states(incident, timezone.now())
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

    @extend_schema(exclude=True)
    def update(self, request, *args, **kwargs):
        raise exceptions.MethodNotAllowed(request.method)

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
    @action(detail=True, methods=["get", "post"], pagination_class=TimelinePagination, filter_backends=[])
    def timeline(self, request, reference=None):
        incident = self.get_object()
        if request.method == "POST":
            body = CommentSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            entry = incident_services.add_comment(
                actor=request.user, incident=incident, body=body.validated_data["body"]
            )
            return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        return self._page(incident.timeline.all(), TimelineEntrySerializer)

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
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="corrective-actions",
        pagination_class=CorrectiveActionPagination,
        filter_backends=[],
    )
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
        return self._page(actions, CorrectiveActionSerializer)

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
        methods=["POST"],
        summary="Flag a serious incident (EU AI Act Art. 3(49)), or add grounds to its flag",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        description=(
            "Governance officers only. The grounds are added to those the incident has; the Art. 73 "
            "deadline is the earliest any ground (or a widespread infringement) gives, so it never "
            "moves later. Grounds it already has change nothing and write nothing."
        ),
        request=SeriousSerializer,
        responses={200: IncidentSerializer},
    )
    @extend_schema(
        methods=["PUT"],
        summary="Set a serious incident's exact grounds and scope (remove a ground, withdraw the flag)",
        description=(
            "Governance officers only. `reason` is required (400 on `reason` without it) when the change "
            "removes a ground, clears `widespread`, withdraws the flag (`grounds: []`, `widespread: false`) "
            "or moves the report deadline later; it goes on the timeline. 409 for withdrawing the flag of "
            "an incident already reported to the authority."
        ),
        request=SeriousSetSerializer,
        responses={200: IncidentSerializer},
    )
    @action(detail=True, methods=["post", "put"])
    def serious(self, request, reference=None):
        incident = self.get_object()
        if request.method == "PUT":
            body = SeriousSetSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            incident = lifecycle.set_serious(actor=request.user, incident=incident, **body.validated_data)
        else:
            body = SeriousSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            incident = lifecycle.flag_serious(actor=request.user, incident=incident, **body.validated_data)
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
        parameters=[SimilarQuerySerializer],
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
