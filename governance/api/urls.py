from django.urls import path
from rest_framework.routers import SimpleRouter

from governance.api import (
    controls,
    coverage,
    evidence,
    frameworks,
    inventory,
    notifications,
    packs,
    reviews,
    risks,
    soa,
    teams,
    transparency,
    transparency_scores,
)

# The API's index is config.urls' ``api-root``, built from every router and URL module.
router = SimpleRouter()
router.register("ai-systems", inventory.AISystemViewSet, basename="ai-system")
router.register("ai-models", inventory.AIModelViewSet, basename="ai-model")
router.register("teams", teams.TeamViewSet, basename="team")
router.register("frameworks", frameworks.FrameworkViewSet, basename="framework")
router.register("requirements", frameworks.RequirementViewSet, basename="requirement")
router.register("requirement-mappings", frameworks.RequirementMappingViewSet, basename="requirement-mapping")
router.register("controls", controls.ControlViewSet, basename="control")
router.register(
    "control-implementations", controls.ControlImplementationViewSet, basename="control-implementation"
)
router.register("risks", risks.RiskViewSet, basename="risk")
router.register("evidence", evidence.EvidenceViewSet, basename="evidence")
router.register("evidence-packs", packs.EvidencePackViewSet, basename="evidence-pack")
router.register("reviews", reviews.ReviewViewSet, basename="review")
router.register(
    "notification-preferences",
    notifications.NotificationPreferenceViewSet,
    basename="notification-preference",
)
router.register("webhook-endpoints", notifications.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("indicator-sets", transparency.IndicatorSetViewSet, basename="indicator-set")
router.register(
    "transparency-assessments",
    transparency.TransparencyAssessmentViewSet,
    basename="transparency-assessment",
)
router.register(
    "transparency-scores", transparency_scores.TransparencyScoreViewSet, basename="transparency-score"
)

urlpatterns = [
    path("coverage/", coverage.CoverageView.as_view(), name="coverage"),
    *soa.urlpatterns,
    *router.urls,
]
