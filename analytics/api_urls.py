from django.urls import path

from analytics.api import LatestReportView, ReportRecomputeView, ReportSnapshotView

urlpatterns = [
    path("", ReportRecomputeView.as_view(), name="reports"),
    path("latest/", LatestReportView.as_view(), name="reports_latest"),
    path("<int:pk>/", ReportSnapshotView.as_view(), name="reports_snapshot"),
]
