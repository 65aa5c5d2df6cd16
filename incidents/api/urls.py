"""URLs of the incidents API, mounted under ``/api/v1/`` next to governance's."""

from rest_framework.routers import SimpleRouter

from incidents.api import references
from incidents.api.evaluations import findings, limits, runs, trends
from incidents.api.incidents import views as incidents

# The API's index (``/api/v1/``) lists these routes with every other (governance.api.root).
router = SimpleRouter()
router.register("incidents", incidents.IncidentViewSet, basename="incident")
router.register("evaluation-runs", runs.EvaluationRunViewSet, basename="evaluation-run")
router.register(
    "hallucination-findings", findings.HallucinationFindingViewSet, basename="hallucination-finding"
)
router.register("hallucination-limits", limits.HallucinationLimitViewSet, basename="hallucination-limit")

urlpatterns = [*router.urls, *references.urlpatterns, *trends.urlpatterns]
