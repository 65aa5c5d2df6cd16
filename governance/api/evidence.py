"""Evidence API: files and links that show controls work, scoped by ``visible_to``.

A file is created with ``multipart/form-data`` (``file`` plus the other fields), a link with JSON
(``kind=link`` and ``url``). The service checks, hashes and stores files; this module only
adapts HTTP to it: it refuses bodies that are too large before anything reads them, turns the
service's size and content refusals into 413 and 422 in the project's error shape, and serves
stored files only as downloads that no browser will render or run.
"""

from __future__ import annotations

import base64
import logging

import django_filters
from django.conf import settings
from django.db.models import Prefetch, Q
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers
from rest_framework.decorators import action

from governance.api import base, filters
from governance.api.base import ServiceModelViewSet, crud_summaries
from governance.api.parsers import JSONParser, MultiPartParser
from governance.choices import EvidenceKind
from governance.exceptions import NotAllowed, TooLarge, UnacceptableContent
from governance.models import ControlImplementation, Evidence, Requirement, Team, User
from governance.models.inventory import PEOPLE
from governance.services import evidence as evidence_service

logger = logging.getLogger(__name__)

# Room for the form fields and multipart framing around the file itself.
MULTIPART_ALLOWANCE = 64 * 1024


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"
    default_detail = "The request is too large."


class UnprocessableFile(exceptions.ValidationError):
    """A field error answered with 422: the input is well-formed but its content is refused."""

    status_code = 422
    default_code = "unsupported_content"


class EvidenceSerializer(base.ModelSerializer):
    kind = serializers.ChoiceField(
        choices=EvidenceKind.choices,
        required=False,
        help_text="file (send the file as multipart/form-data) or link (send url); inferred when omitted.",
    )
    file = serializers.FileField(
        write_only=True,
        required=False,
        allow_empty_file=True,
        help_text=(
            f"Only on create. At most VERITY_EVIDENCE_MAX_BYTES; accepted are {evidence_service.ACCEPTED}. "
            "The type is read from the file's bytes and must agree with its name's extension."
        ),
    )
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="Team slug; empty for organisation-wide evidence (officers only).",
    )
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(**PEOPLE), allow_null=True, required=False
    )
    uploaded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null once that account is gone."
    )
    implementations = serializers.PrimaryKeyRelatedField(
        many=True, queryset=ControlImplementation.objects.all(), required=False
    )
    requirements = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Requirement.objects.all(), required=False
    )
    expired = serializers.SerializerMethodField(
        help_text="valid_until was before today (EvidenceQuerySet.with_expiry)."
    )
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "kind",
            "title",
            "description",
            "team",
            "owner",
            "collected_on",
            "valid_from",
            "valid_until",
            "expired",
            "url",
            "file",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "download_url",
            "implementations",
            "requirements",
            "uploaded_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "created_at",
            "updated_at",
        ]
        validators = []  # the model layer checks the validity period

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None:
            # Rows the caller cannot see read as "does not exist", exactly like missing ones.
            fields["implementations"].child_relation.queryset = ControlImplementation.objects.visible_to(user)
            fields["requirements"].child_relation.queryset = Requirement.objects.visible_to(user)
        return fields

    def get_expired(self, evidence) -> bool:
        return evidence.expired

    def get_download_url(self, evidence) -> str | None:
        if evidence.kind != EvidenceKind.FILE:
            return None
        return base.absolute_url(self.context.get("request"), "evidence-download", evidence.pk)

    def validate(self, attrs):
        if self.instance is not None:
            if "file" in attrs:
                raise serializers.ValidationError(
                    {"file": "A stored file cannot be replaced; add new evidence instead."}
                )
            if "kind" in attrs and attrs["kind"] != self.instance.kind:
                raise serializers.ValidationError({"kind": "The kind of evidence cannot change."})
            attrs.pop("kind", None)
            return attrs
        upload = attrs.get("file")
        kind = attrs.get("kind") or (EvidenceKind.FILE if upload is not None else EvidenceKind.LINK)
        if kind == EvidenceKind.FILE:
            if upload is None:
                raise serializers.ValidationError(
                    {"file": "Attach the file as multipart/form-data, or send kind=link with a url."}
                )
            if attrs.get("url"):
                raise serializers.ValidationError(
                    {"url": "File evidence has no URL; add the link separately."}
                )
        else:
            if upload is not None:
                raise serializers.ValidationError({"file": "Link evidence has no file."})
            if not attrs.get("url"):
                raise serializers.ValidationError({"url": "A link needs its URL."})
        attrs["kind"] = kind
        return attrs


class EvidenceFilter(filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    kind = django_filters.ChoiceFilter(choices=EvidenceKind.choices)
    expired = filters.BooleanFilter(
        method="filter_expired", help_text="true: valid until a day before today; false: still valid."
    )
    implementation = filters.IdFilter(
        method="filter_implementation", help_text="Id of a control implementation the evidence supports."
    )
    requirement = filters.IdFilter(
        method="filter_requirement", help_text="Id of a requirement the evidence supports."
    )
    q = django_filters.CharFilter(
        method="search", help_text="Search title, description, file name, URL and SHA-256."
    )

    class Meta:
        model = Evidence
        fields = ["kind"]

    def filter_expired(self, queryset, name, value):
        return queryset.expired(timezone.localdate(), value)

    def filter_implementation(self, queryset, name, value):
        through = Evidence.implementations.through.objects.filter(controlimplementation_id=value)
        return queryset.filter(pk__in=through.values("evidence_id"))

    def filter_requirement(self, queryset, name, value):
        through = Evidence.requirements.through.objects.filter(requirement_id=value)
        return queryset.filter(pk__in=through.values("evidence_id"))

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(original_name__icontains=value)
            | Q(url__icontains=value)
            | Q(sha256=value.lower())
        )


# A download has the type detected at upload (one the evidence service accepts), or
# application/octet-stream for a file stored without one.
DOWNLOAD_TYPES = sorted(
    {*evidence_service.BINARY_TYPES, *evidence_service.TEXT_TYPES.values(), "application/octet-stream"}
)


def _sanitised_download_name(evidence: Evidence) -> str:
    return evidence_service.clean_file_name(evidence.original_name) or f"evidence-{evidence.pk}"


@extend_schema_view(
    **crud_summaries(
        "evidence",
        "evidence visible to you",
        create="Add evidence: a file (multipart/form-data) or a link (JSON)",
    )
)
class EvidenceViewSet(ServiceModelViewSet):
    """Files and links that show a control works. Engineers see and add only their teams' evidence
    (and see organisation-wide evidence); files are checked by type and size and stored hashed."""

    queryset = Evidence.objects.all()
    serializer_class = EvidenceSerializer
    filterset_class = EvidenceFilter
    parser_classes = [MultiPartParser, JSONParser]
    # Only columns that are never empty: cursor pagination stops at NULLs.
    ordering_fields = ["created_at", "collected_on", "title"]
    instance_kwarg = "evidence"
    delete_service = staticmethod(evidence_service.delete_evidence)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "download":
            return queryset
        return self._readable(queryset)

    def _readable(self, queryset):
        """What a rendered evidence row reads: its people, links and whether it has expired."""
        return (
            queryset.with_expiry(timezone.localdate())
            .select_related("team", "owner", "uploaded_by")
            .prefetch_related(
                Prefetch("implementations", queryset=ControlImplementation.objects.only("id").order_by("id")),
                Prefetch("requirements", queryset=Requirement.objects.only("id").order_by("id")),
            )
        )

    def initial(self, request, *args, **kwargs):
        # Before authentication: session authentication's CSRF check would parse the body.
        self._refuse_oversized_body(request)
        super().initial(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # A download answers with the file whatever the client accepts; errors fall back to JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    @staticmethod
    def _refuse_oversized_body(request) -> None:
        """Multipart bodies pass the JSON limit middleware: refuse by Content-Length, unread."""
        if request.method not in ("POST", "PUT", "PATCH"):
            return
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.VERITY_EVIDENCE_MAX_BYTES
        if length > limit + MULTIPART_ALLOWANCE:
            raise RequestTooLarge(
                f"The request body is {length} bytes; evidence files may be at most {limit} bytes "
                f"({limit / 1024 / 1024:g} MB)."
            )

    def handle_exception(self, exc):
        if isinstance(exc, TooLarge):
            exc = RequestTooLarge(exc.message)
        elif isinstance(exc, UnacceptableContent):
            exc = UnprocessableFile({exc.field: [exc.message]})
        return super().handle_exception(exc)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        kind = data.pop("kind")
        upload = data.pop("file", None)
        if kind == EvidenceKind.FILE:
            data.pop("url", None)
            serializer.instance = evidence_service.add_file_evidence(
                actor=self.request.user, upload=upload, **data
            )
        else:
            serializer.instance = evidence_service.add_link_evidence(actor=self.request.user, **data)
        serializer.instance = self._readable(Evidence.objects.filter(pk=serializer.instance.pk)).get()

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = evidence_service.update_evidence(
            actor=self.request.user,
            evidence=serializer.instance,
            implementations=data.pop("implementations", None),
            requirements=data.pop("requirements", None),
            changes=data,
        )
        serializer.instance = self._readable(Evidence.objects.filter(pk=serializer.instance.pk)).get()

    @extend_schema(
        summary="Download an evidence file",
        description=(
            "The stored bytes, as an attachment, with the type detected at upload. ETag and "
            "Repr-Digest carry the SHA-256, which equals the evidence's sha256."
        ),
        responses={(200, media_type): OpenApiTypes.BINARY for media_type in DOWNLOAD_TYPES},
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        evidence = self.get_object()
        if evidence.kind != EvidenceKind.FILE:
            raise exceptions.NotFound("This evidence is a link and has no file to download.")
        try:
            handle = evidence_service.open_evidence_file(actor=request.user, evidence=evidence)
        except NotAllowed as exc:
            raise exceptions.NotFound() from exc
        except FileNotFoundError as exc:
            logger.error("Evidence %s: stored file %s is missing", evidence.pk, evidence.file.name)
            raise exceptions.NotFound("The stored file is missing.") from exc
        content_type = evidence.content_type or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/json":
            content_type += "; charset=utf-8"
        response = FileResponse(
            handle, as_attachment=True, filename=_sanitised_download_name(evidence), content_type=content_type
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        if evidence.sha256:
            response["ETag"] = f'"{evidence.sha256}"'
            digest = base64.b64encode(bytes.fromhex(evidence.sha256)).decode("ascii")
            response["Repr-Digest"] = f"sha-256=:{digest}:"
        return response
