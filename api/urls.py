"""REST API, version 1. Views call the same selectors and services as the pages."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from api import views_panel, views_registry

app_name = "api"

router = DefaultRouter()
router.register("centres", views_registry.CentreViewSet, basename="centre")
router.register("products", views_registry.ProductViewSet, basename="product")
router.register("patients", views_registry.PatientViewSet, basename="patient")
router.register("cases", views_registry.CaseViewSet, basename="case")
router.register("apheresis", views_registry.ApheresisViewSet, basename="apheresis")
router.register("attempts", views_registry.AttemptViewSet, basename="attempt")
router.register("release-results", views_registry.ReleaseResultViewSet, basename="release-result")
router.register("infusions", views_registry.InfusionViewSet, basename="infusion")
router.register("outcomes", views_registry.OutcomeViewSet, basename="outcome")
router.register("applications", views_panel.ApplicationViewSet, basename="application")
router.register("votes", views_panel.VoteViewSet, basename="vote")
router.register("decisions", views_panel.DecisionViewSet, basename="decision")

urlpatterns = [
    path("reports/", include("analytics.api_urls")),
    path("", include(router.urls)),
]
