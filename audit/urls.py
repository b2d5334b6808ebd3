from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.timeline_view, name="timeline"),
    path("exports/", views.export_view, name="export"),
    path("exports/<int:pk>/", views.export_status, name="export_status"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
    path("applications/dossier/", views.dossier_lookup, name="dossier_lookup"),
    path("applications/<int:pk>/dossier.pdf", views.dossier, name="dossier"),
    path("performance/", views.performance_view, name="performance"),
]
