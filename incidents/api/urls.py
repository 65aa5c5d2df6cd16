"""URLs of the incidents API, mounted under ``/api/v1/`` next to governance's."""

from rest_framework.routers import SimpleRouter

from incidents.api import evaluations, references
from incidents.api.incidents import views as incidents

# The API's index (``/api/v1/``) lists these routes with every other (governance.api.root).
router = SimpleRouter()
router.register("incidents", incidents.IncidentViewSet, basename="incident")
router.register("evaluation-runs", evaluations.EvaluationRunViewSet, basename="evaluation-run")
router.register(
    "hallucination-findings", evaluations.HallucinationFindingViewSet, basename="hallucination-finding"
)
router.register("hallucination-limits", evaluations.HallucinationLimitViewSet, basename="hallucination-limit")

urlpatterns = [*router.urls, *references.urlpatterns, *evaluations.urlpatterns]
