"""``/api/v1/evidence-packs/``: request a pack (202 and a job to poll), read its status, retry a
failed one, download it.

Officers, auditors and engineers may request packs; a pack holds only what its requester may read.
Requests and retries are idempotent POSTs; one that the task queue cannot take answers 503 and
saves nothing. Each download is recorded as an audit event.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api import base
from governance.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from governance.models import AISystem, EvidencePack, Framework, Team
from governance.services import pack_builds


class PackScopeSerializer(base.Serializer):
    """What a pack was asked for, in the names a request takes."""

    frameworks = serializers.ListField(child=serializers.CharField(), help_text="Framework code:version.")
    team = serializers.CharField(allow_null=True, help_text="The team's slug.")
    systems = serializers.ListField(child=serializers.CharField(), help_text="System slugs.")
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)


class EvidencePackListSerializer(serializers.ListSerializer):
    """Reads the names in a whole page of packs' parameters at once."""

    def to_representation(self, data):
        packs = list(data.all() if hasattr(data, "all") else data)
        self.context["scopes"] = pack_builds.requested_scopes(packs)
        return super().to_representation(packs)


class EvidencePackSerializer(base.ModelSerializer):
    parameters = serializers.SerializerMethodField()
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null once that account is gone."
    )
    download_url = serializers.SerializerMethodField(help_text="Absolute URL of the ZIP, once ready.")

    class Meta:
        model = EvidencePack
        fields = [
            "id", "status", "parameters", "requested_by", "size", "sha256", "error", "attempts",
            "created_at", "started_at", "finished_at", "download_url",
        ]  # fmt: skip
        read_only_fields = fields
        list_serializer_class = EvidencePackListSerializer

    @extend_schema_field(PackScopeSerializer)
    def get_parameters(self, pack) -> dict:
        scopes = self.context.get("scopes")
        if scopes is None or pack.pk not in scopes:
            scopes = pack_builds.requested_scopes([pack])
        return scopes[pack.pk]

    def get_download_url(self, pack) -> str | None:
        if pack.status != EvidencePack.Status.READY:
            return None
        return base.absolute_url(self.context.get("request"), "evidence-pack-download", pack.pk)


class EvidencePackRequestSerializer(base.Serializer):
    frameworks = serializers.ListField(
        child=serializers.CharField(), help_text="Framework codes (e.g. iso-iec-42001) or code:version."
    )
    team = serializers.SlugField(required=False, allow_null=True, help_text="A team's slug.")
    systems = serializers.ListField(child=serializers.SlugField(), required=False, help_text="System slugs.")
    start = serializers.DateField(required=False, allow_null=True)
    end = serializers.DateField(required=False, allow_null=True)

    def validate_frameworks(self, values):
        found = []
        for value in values:
            code, _, version = value.partition(":")
            candidates = Framework.objects.visible_to(self.context["request"].user).filter(code=code)
            if version:
                candidates = candidates.filter(version=version)
            framework = candidates.order_by("-version").first()
            if framework is None:
                raise serializers.ValidationError(f"Unknown framework {value!r}.")
            found.append(framework)
        return found

    def validate_team(self, value):
        if not value:
            return None
        team = Team.objects.visible_to(self.context["request"].user).filter(slug=value).first()
        if team is None:
            raise serializers.ValidationError(f"Unknown team {value!r}.")
        return team

    def validate_systems(self, values):
        visible = AISystem.objects.visible_to(self.context["request"].user)
        systems = list(visible.filter(slug__in=values))
        missing = sorted(set(values) - {s.slug for s in systems})
        if missing:
            raise serializers.ValidationError(f"Unknown systems: {', '.join(missing)}.")
        return systems


_QUEUE_ERRORS = (
    "503 `task_queue_unavailable` (with `Retry-After`) when the task queue cannot take the build: "
    "nothing is saved, retry later with the same `Idempotency-Key`."
)


class EvidencePackViewSet(
    IdempotentPostMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, base.GenericViewSet
):
    """Evidence packs: ZIPs of the register that verify offline with their own ``verify.py``."""

    queryset = EvidencePack.objects.all()
    serializer_class = EvidencePackSerializer

    def get_queryset(self):
        return EvidencePack.objects.visible_to(self.request.user).select_related("requested_by")

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=EvidencePackRequestSerializer,
        responses={202: EvidencePackSerializer},
        description=_QUEUE_ERRORS,
    )
    def create(self, request, *args, **kwargs):
        payload = EvidencePackRequestSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        pack = pack_builds.request_pack(
            actor=request.user,
            frameworks=data["frameworks"],
            team=data.get("team"),
            systems=data.get("systems") or (),
            start=data.get("start"),
            end=data.get("end"),
        )
        return self._accepted(request, pack)

    @extend_schema(
        summary="Build a failed pack again",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={202: EvidencePackSerializer},
        description=(
            "Queues a failed pack again, for the person who first asked, with its attempts and build "
            "bound counted afresh. 409 `conflict` for a pack that is not failed. " + _QUEUE_ERRORS
        ),
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        base.refuse_body_fields(request)
        pack = pack_builds.retry_pack(actor=request.user, pack=self.get_object())
        return self._accepted(request, pack)

    @staticmethod
    def _accepted(request, pack) -> Response:
        location = base.absolute_url(request, "evidence-pack-detail", pack.pk)
        body = EvidencePackSerializer(pack, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        summary="Download an evidence pack",
        description="The ZIP; its SHA-256 is in the ETag. Every download is recorded as an audit event.",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        pack = self.get_object()
        if pack.status != EvidencePack.Status.READY:
            raise exceptions.NotFound("This pack is not ready.")
        handle = pack_builds.open_pack(pack)
        pack_builds.record_download(actor=request.user, pack=pack)
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"evidence-pack-{pack.pk}.zip",
            content_type="application/zip",
        )
        response["ETag"] = f'"{pack.sha256}"'
        return response
