"""REST API, version 1. Views call the same selectors and services as the pages."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

app_name = "api"

router = DefaultRouter()

urlpatterns = [
    path("reports/", include("analytics.api_urls")),
    path("", include(router.urls)),
]
