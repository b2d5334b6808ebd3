"""REST API, version 1. Views call the same selectors and services as the pages."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from api import views_panel

app_name = "api"

router = DefaultRouter()
router.register("applications", views_panel.ApplicationViewSet, basename="application")
router.register("votes", views_panel.VoteViewSet, basename="vote")
router.register("decisions", views_panel.DecisionViewSet, basename="decision")

urlpatterns = [
    path("reports/", include("analytics.api_urls")),
    path("", include(router.urls)),
]
