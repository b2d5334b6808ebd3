from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.report, name="report"),
    path("recompute/", views.recompute, name="recompute"),
    path("reports/<int:pk>/progress/", views.progress, name="progress"),
    path("reports/<int:pk>/report.pdf", views.report_pdf_view, name="report_pdf"),
    path("reports/<int:pk>/report.xlsx", views.report_xlsx_view, name="report_xlsx"),
    path("reports/<int:pk>/plots/<slug:name>.svg", views.plot_svg, name="plot_svg"),
    path("dataset.csv", views.dataset_csv, name="dataset_csv"),
    path("control-sets/", views.control_sets, name="control_sets"),
]
