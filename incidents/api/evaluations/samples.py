"""Per-sample results of an evaluation run: the shape of one as posted (an item of a run's
``sample_results``, or a line of a JSONL upload) and as read back from
``/api/v1/evaluation-runs/{id}/samples/``.

Posted results are not read through a serializer: a DRF field per value would cost more than the
row it checks. The service checks each one as it streams them into the database and names the
line (the position, from 1) of the first that is not valid.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.api import base
from governance.api.base import FastRepresentation
from governance.api.pagination import StableCursorPagination
from incidents import choices
from incidents.models import EvaluationSample
from incidents.services import evaluations as evaluation_services

# Most per-sample results one run may carry (a JSON array or a JSONL upload).
MAX_SAMPLES = evaluation_services.MAX_SAMPLES


class SampleResultSerializer(base.Serializer):
    """One sample's result, as an item of ``sample_results`` or a line of a JSONL upload."""

    sample_id = serializers.CharField(max_length=200, help_text="The benchmark's id of the sample.")
    grade = serializers.ChoiceField(choices=choices.SampleGrade.choices)
    claims = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    hallucinated_claims = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    score = serializers.FloatField(required=False, allow_null=True, help_text="The judge's score, if any.")


@extend_schema_field(SampleResultSerializer(many=True))
class SampleResultsField(serializers.Field):
    """A JSON array of per-sample results, at most ``MAX_SAMPLES``."""

    default_error_messages = {
        "not_a_list": "Expected a list of per-sample results.",
        "empty": "Send at least one sample, or the counts instead.",
        "too_many": f"At most {MAX_SAMPLES} samples per run.",
    }

    def to_internal_value(self, data) -> list:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > MAX_SAMPLES:
            self.fail("too_many")
        return data  # each sample is checked by the service, which names its position


class EvaluationSampleSerializer(FastRepresentation, base.ModelSerializer):
    class Meta:
        model = EvaluationSample
        fields = ["line", "sample_id", "grade", "claims", "hallucinated_claims", "score"]
        read_only_fields = fields


class SamplePagination(StableCursorPagination):
    ordering = ("line",)
    page_size = 200
    max_page_size = 1000
