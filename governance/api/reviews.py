"""Periodic reviews API: the reviews of the systems visible to the caller, and the officers'
decisions on them (start, complete, waive).

Reviews are scheduled by the review services (policy cadence, material changes), never created
here. A list reads the system, reviewer and signer names as annotations of its one query, so a
page costs the same however many rows it holds.
"""

from __future__ import annotations

import django_filters
from django.db.models import F
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from governance import choices
from governance.api import base, filters
from governance.api.fields import DateTimeField
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from governance.api.pagination import StableCursorPagination
from governance.models import Review
from governance.services import reviews as services

MAX_TEXT = 20_000
MAX_ANSWERS = 200


# --- Shapes -------------------------------------------------------------------------------------


class ReviewSerializer(base.ModelSerializer):
    system = serializers.CharField(source="system_slug", read_only=True, help_text="System slug.")
    system_name = serializers.CharField(read_only=True)
    reviewer = serializers.CharField(
        source="reviewer_username", read_only=True, allow_null=True, help_text="Who took the review on."
    )
    signed_off_by = serializers.CharField(source="signed_off_by_username", read_only=True, allow_null=True)
    due_state = serializers.ChoiceField(
        choices=choices.ReviewDueState.choices,
        read_only=True,
        help_text="Where the review stands against its due date: upcoming, due_soon (within 7 days), "
        "overdue (open and past it, whatever its status says yet), completed or waived.",
    )
    overdue = serializers.SerializerMethodField(help_text="due_state is overdue.")
    outcome = serializers.ChoiceField(
        choices=choices.ReviewOutcome.choices,
        read_only=True,
        allow_blank=True,
        help_text="Blank until the review is completed.",
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "system",
            "system_name",
            "due_at",
            "status",
            "due_state",
            "overdue",
            "trigger",
            "reason",
            "reviewer",
            "checklist",
            "answers",
            "outcome",
            "conditions",
            "waived_reason",
            "signed_off_by",
            "signed_off_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_overdue(self, review) -> bool:
        return review.due_state == choices.ReviewDueState.OVERDUE


class NextReviewSerializer(base.Serializer):
    id = serializers.IntegerField()
    due_at = DateTimeField()
    status = serializers.CharField()


class ReviewDecisionSerializer(ReviewSerializer):
    """A review after a decision, with the system's next open review (null when none is open)."""

    next_review = serializers.SerializerMethodField()

    class Meta(ReviewSerializer.Meta):
        fields = [*ReviewSerializer.Meta.fields, "next_review"]
        read_only_fields = fields

    @extend_schema_field(NextReviewSerializer(allow_null=True))
    def get_next_review(self, review):
        upcoming = self.context.get("next_review")
        return NextReviewSerializer(upcoming).data if upcoming is not None else None


class CompleteSerializer(base.Serializer):
    outcome = serializers.ChoiceField(choices=choices.ReviewOutcome.choices)
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=MAX_TEXT, trim_whitespace=True),
        allow_empty=True,
        help_text="The answer to each checklist question, by the question's key.",
    )
    conditions = serializers.CharField(
        allow_blank=True,
        required=False,
        default="",
        max_length=MAX_TEXT,
        help_text="Required for approved_with_conditions.",
    )

    def validate_answers(self, value):
        if len(value) > MAX_ANSWERS:
            raise serializers.ValidationError(f"At most {MAX_ANSWERS} answers.")
        return value


class WaiveSerializer(base.Serializer):
    reason = serializers.CharField(max_length=MAX_TEXT, help_text="Why this review is not carried out.")


# --- Filters ------------------------------------------------------------------------------------


class ReviewFilter(filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__slug", help_text="System slug.")
    team = django_filters.CharFilter(
        field_name="system__owning_team__slug", help_text="Slug of the team owning the system."
    )
    status = django_filters.MultipleChoiceFilter(choices=choices.ReviewStatus.choices)
    outcome = django_filters.MultipleChoiceFilter(choices=choices.ReviewOutcome.choices)
    trigger = django_filters.ChoiceFilter(choices=choices.ReviewTrigger.choices)
    due_before = filters.DateTimeFilter(
        field_name="due_at", lookup_expr="lt", help_text="Due before this ISO 8601 date or date-time."
    )
    due_after = filters.DateTimeFilter(
        field_name="due_at", lookup_expr="gte", help_text="Due at or after this ISO 8601 date or date-time."
    )
    overdue = filters.BooleanFilter(
        method="filter_overdue", help_text="true: due_state is overdue; false: everything else."
    )
    due_within_days = filters.IntegerFilter(
        method="filter_due_within_days",
        min_value=0,
        max_value=3650,
        help_text="Open reviews due within this many days from now, overdue ones included.",
    )

    class Meta:
        model = Review
        fields = ["status", "outcome", "trigger"]

    def filter_overdue(self, queryset, name, value):
        return queryset.overdue(timezone.now(), value)

    def filter_due_within_days(self, queryset, name, value):
        return queryset.due_within(timezone.now(), value)


# --- Views --------------------------------------------------------------------------------------


class ReviewPagination(StableCursorPagination):
    ordering = ("due_at", "id")


_DECISION_ERRORS = (
    "400 with field messages for an invalid body; 403 for a role other than officer; "
    "409 when the review is no longer open."
)


@extend_schema_view(
    list=extend_schema(summary="List the reviews of the systems visible to you, soonest due first"),
    retrieve=extend_schema(summary="Get a review"),
)
class ReviewViewSet(IdempotentPostMixin, base.ReadOnlyModelViewSet):
    """Periodic and material-change reviews of AI systems. Engineers see their teams' systems'
    reviews; officers take reviews on, complete and waive them; auditors read."""

    queryset = Review.objects.all()
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    pagination_class = ReviewPagination
    ordering_fields = ["due_at", "created_at", "updated_at"]

    def get_queryset(self):
        return (
            Review.objects.visible_to(self.request.user)
            .with_due_state(timezone.now())
            .annotate(
                system_slug=F("system__slug"),
                system_name=F("system__name"),
                reviewer_username=F("reviewer__username"),
                signed_off_by_username=F("signed_off_by__username"),
            )
            .order_by("due_at", "id")
        )

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    @extend_schema(exclude=True)
    def create(self, request, *args, **kwargs):
        # Reviews are scheduled by the review policies, not posted.
        raise exceptions.MethodNotAllowed(request.method)

    def _decided(self, review: Review) -> Response:
        fresh = self.get_queryset().get(pk=review.pk)
        upcoming = (
            Review.objects.open()
            .filter(system_id=fresh.system_id)
            .exclude(pk=fresh.pk)
            .order_by("due_at")
            .first()
        )
        context = {**self.get_serializer_context(), "next_review": upcoming}
        return Response(ReviewDecisionSerializer(fresh, context=context).data)

    @extend_schema(
        summary="Take a review on (officers): status in_progress, you as reviewer",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: ReviewDecisionSerializer},
        description=_DECISION_ERRORS,
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        base.refuse_body_fields(request)
        review = services.start_review(actor=request.user, review=self.get_object())
        return self._decided(review)

    @extend_schema(
        summary="Complete a review (officers): answers, outcome and conditions; schedules the next one",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CompleteSerializer,
        responses={200: ReviewDecisionSerializer},
        description=(
            "Every checklist question needs an answer (`answers` by question key); "
            "`approved_with_conditions` needs `conditions`. " + _DECISION_ERRORS
        ),
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        review = self.get_object()
        body = CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        review = services.complete_review(
            actor=request.user,
            review=review,
            outcome=data["outcome"],
            answers=data["answers"],
            conditions=data["conditions"],
        )
        return self._decided(review)

    @extend_schema(
        summary="Waive a review (officers) with a reason; schedules the next one",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=WaiveSerializer,
        responses={200: ReviewDecisionSerializer},
        description=_DECISION_ERRORS,
    )
    @action(detail=True, methods=["post"])
    def waive(self, request, pk=None):
        review = self.get_object()
        body = WaiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        review = services.waive_review(actor=request.user, review=review, reason=reason)
        return self._decided(review)
