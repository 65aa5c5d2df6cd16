from rest_framework.routers import DefaultRouter

from governance.api import views

router = DefaultRouter()
router.register("ai-systems", views.AISystemViewSet, basename="ai-system")
router.register("ai-models", views.AIModelViewSet, basename="ai-model")
router.register("teams", views.TeamViewSet, basename="team")

urlpatterns = router.urls
