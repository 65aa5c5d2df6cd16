"""URLs of the incidents API, mounted under ``/api/v1/`` next to governance's."""

from rest_framework.routers import SimpleRouter

from incidents.api import references, views

# A SimpleRouter: the API root view is governance's (``/api/v1/``).
router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")

urlpatterns = [*router.urls, *references.urlpatterns]
