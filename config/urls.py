from django.contrib import admin
from django.urls import include, path

from accounts.views import home
from config.health import healthz

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("cases/", include("cases.urls")),
    path("panel/", include("panel.urls")),
    path("notifications/", include("notifications.urls")),
    path("analytics/", include("analytics.urls")),
    path("audit/", include("audit.urls")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
]
