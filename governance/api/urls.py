from django.urls import path
from rest_framework.routers import DefaultRouter

from governance.api import coverage, views

router = DefaultRouter()
router.register("ai-systems", views.AISystemViewSet, basename="ai-system")
router.register("ai-models", views.AIModelViewSet, basename="ai-model")
router.register("teams", views.TeamViewSet, basename="team")

urlpatterns = [
    path("coverage/", coverage.CoverageView.as_view(), name="coverage"),
    *router.urls,
]
