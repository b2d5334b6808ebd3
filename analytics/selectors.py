"""Reads of the analytics app."""

from django.db.models import Count

from analytics.models import CohortReport, MatchedControlSet, ReportStatus

# The list columns of snapshots (the report JSON and plots are large and only needed for one of them).
_LIGHT = ("report", "plots")


def current_report(filter_key: str = "") -> CohortReport | None:
    """The snapshot served for these filters ("" = the unfiltered, "the" latest report)."""
    return CohortReport.objects.filter(filter_key=filter_key, is_current=True).select_related(
        "requested_by", "control_set").first()


def running_report() -> CohortReport | None:
    return CohortReport.objects.filter(status=ReportStatus.RUNNING).defer(*_LIGHT).order_by("requested_at").first()


def recent_reports():
    return CohortReport.objects.defer(*_LIGHT).select_related("requested_by")


def report_by_id(pk) -> CohortReport | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**63:  # beyond a bigint column: no such row (and no database error)
        return None
    return CohortReport.objects.select_related("requested_by", "control_set").filter(pk=pk).first()


def current_control_set() -> MatchedControlSet | None:
    return (MatchedControlSet.objects.filter(is_current=True).select_related("created_by")
            .annotate(n_pairs=Count("pairs")).first())


def control_sets():
    return (MatchedControlSet.objects.select_related("created_by").annotate(n_pairs=Count("pairs"))
            .order_by("-created_at", "-id"))
