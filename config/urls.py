from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from governance import views
from governance.api import docs
from governance.api.root import ApiRootView

admin.site.site_header = "Verity governance register"
admin.site.site_title = "Verity"
admin.site.index_title = "AI governance"

urlpatterns = [
    # Nothing public lives at the root: the admin's "View site" and a bare host lead to the register.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", ApiRootView.as_view(), name="api-root"),
    path("api/v1/", include("governance.api.urls")),
    path("api/v1/", include("incidents.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", docs.SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", docs.RedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", views.healthz, name="healthz"),
]

# Error pages in the admin's look; JSON under /api/ (DEBUG off only: Django shows its own with it on).
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
