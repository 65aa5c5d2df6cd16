"""Coverage of a framework for the organisation, a team or a system."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from governance.api import base
from governance.models import Framework, Requirement
from governance.services.coverage import STATES, coverage_rows, coverage_summary, scope_for


class CoverageQuerySerializer(base.QuerySerializer):
    framework = serializers.SlugField(help_text="Framework code, e.g. iso-iec-42001.")
    version = serializers.CharField(required=False, help_text="Defaults to the latest loaded version.")
    team = serializers.SlugField(required=False)
    system = serializers.SlugField(required=False)
    state = serializers.ChoiceField(
        choices=STATES, required=False, help_text="Only requirements in this state"
    )

    def validate(self, data):
        if data.get("team") and data.get("system"):
            raise serializers.ValidationError({"system": "Give a team or a system, not both."})
        return data


def resolve_framework(code: str, version: str | None) -> Framework:
    frameworks = Framework.objects.filter(code=code)
    if version:
        frameworks = frameworks.filter(version=version)
    framework = frameworks.order_by("-version").first()
    if framework is None:
        wanted = f"{code} {version}" if version else code
        raise serializers.ValidationError({"framework": f"No framework {wanted!r} is loaded."})
    return framework


class CoverageView(base.APIView):
    """``GET /api/v1/coverage/?framework=…[&version=…][&team=…|&system=…][&state=…]``."""

    queryset = Requirement.objects.all()  # role permission: view requirements

    @extend_schema(
        summary="Coverage of a framework for the organisation, a team or a system",
        parameters=[CoverageQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = CoverageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        framework = resolve_framework(params["framework"], params.get("version"))
        scope = scope_for(request.user, team=params.get("team"), system=params.get("system"))
        return Response(
            {
                **coverage_summary(framework=framework, scope=scope),
                "requirements": coverage_rows(framework=framework, scope=scope, state=params.get("state")),
            }
        )
