"""Analyst pages: the report (tables, figures, methods), its progress while recomputing, downloads, control sets."""

from __future__ import annotations

import io
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics import filters as f
from analytics import selectors, services
from analytics.exports import report_pdf, report_xlsx
from analytics.forms import ControlSetForm, ReportFilterForm
from analytics.models import ReportStatus, ReportTrigger
from analytics.permissions import can_regenerate_controls, check_control_set, check_reports
from analytics.presentation import methods, sections
from cases.errors import DomainError

PLOT_NAMES = {"flow": "Figure 1 – attempt flow", "km_os": "Overall survival", "km_pfs": "Progression-free survival",
              "forest": "Cox hazard ratios"}
HISTORY_PAGE_SIZE = 10


def _report_url(filters: dict) -> str:
    query = urlencode(filters)
    return reverse("analytics:report") + (f"?{query}" if query else "")


def _complete_snapshot(pk):
    snapshot = selectors.report_by_id(pk)
    if snapshot is None or snapshot.status != ReportStatus.COMPLETE:
        raise Http404("No complete report with this id.")
    return snapshot


@login_required
@require_GET
def report(request):
    check_reports(request.user)
    form = ReportFilterForm(request.GET or None)
    filters, error = {}, None
    if form.is_bound and form.is_valid():
        try:
            filters = f.normalise_filters(form.filters())
        except DomainError as exc:
            error = exc.message
    elif form.is_bound:
        error = "Some filters are not valid; showing nothing until they are corrected."
    snapshot = None
    if request.GET.get("snapshot"):
        snapshot = _complete_snapshot(request.GET["snapshot"])
        filters = snapshot.filters
    elif error is None:
        snapshot = selectors.current_report(f.filter_key(filters))
    current_set = selectors.current_control_set()
    history = Paginator(selectors.recent_reports(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    report_json = snapshot.report if snapshot else None
    return render(request, "analytics/report.html", {
        "form": form, "filters": filters, "filters_text": f.describe(filters), "filter_error": error,
        "filter_query": urlencode(filters), "snapshot": snapshot,
        "sections": sections(report_json) if report_json else [], "methods": methods(report_json) if report_json
        else [], "plots": [(name, title, mark_safe(snapshot.plots[name]))  # noqa: S308 - SVG built and escaped by analytics.plots
                           for name, title in PLOT_NAMES.items() if snapshot and name in snapshot.plots],
        "running": selectors.running_report(), "history": history, "current_set": current_set,
        "stale_controls": bool(snapshot and current_set and snapshot.control_set_id != current_set.pk),
        "can_regenerate": can_regenerate_controls(request.user),
    })


@login_required
@require_POST
def recompute(request):
    check_reports(request.user)
    form = ReportFilterForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The filters are not valid; the report was not recomputed.")
        return _after_recompute(request, None, {})
    try:
        snapshot, created = services.request_recompute(actor=request.user, filters=form.filters(),
                                                       trigger=ReportTrigger.PAGE)
    except services.RecomputeBusy as busy:
        messages.error(request, busy.message)
        return _after_recompute(request, busy.running, {})
    except DomainError as exc:
        messages.error(request, exc.message)
        return _after_recompute(request, None, {})
    if not created:
        messages.info(request, "This report is already being computed; showing its progress.")
    return _after_recompute(request, snapshot, snapshot.filters)


def _after_recompute(request, snapshot, filters):
    if request.htmx:
        if snapshot is None:
            return render(request, "analytics/partials/_messages.html")
        snapshot.refresh_from_db()
        return _progress_response(request, snapshot)
    return redirect(_report_url(filters))


def _progress_response(request, snapshot):
    response = render(request, "analytics/partials/_progress.html", {"job": snapshot})
    if request.htmx and snapshot.status == ReportStatus.COMPLETE:
        # The finished report replaces the page, so its tables and figures appear without a manual reload.
        response["HX-Redirect"] = _report_url(snapshot.filters)
    return response


@login_required
@require_GET
def progress(request, pk):
    check_reports(request.user)
    services.fail_orphans()
    snapshot = selectors.report_by_id(pk)
    if snapshot is None:
        raise Http404("No report with this id.")
    return _progress_response(request, snapshot)


def _download(request, pk, fmt, build, content_type):
    check_reports(request.user)
    snapshot = _complete_snapshot(pk)
    body = build(snapshot)
    services.record_download(actor=request.user, snapshot=snapshot, fmt=fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="oos-report-{snapshot.pk}.{fmt}"'
    return response


@login_required
@require_GET
def report_pdf_view(request, pk):
    return _download(request, pk, "pdf", report_pdf, "application/pdf")


@login_required
@require_GET
def report_xlsx_view(request, pk):
    return _download(request, pk, "xlsx", report_xlsx,
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@login_required
@require_GET
def plot_svg(request, pk, name):
    check_reports(request.user)
    snapshot = _complete_snapshot(pk)
    if name not in snapshot.plots:
        raise Http404("No such figure.")
    response = HttpResponse(snapshot.plots[name], content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="oos-report-{snapshot.pk}-{name}.svg"'
    return response


@login_required
@require_GET
def dataset_csv(request):
    check_reports(request.user)
    form = ReportFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse("The filters are not valid: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400, content_type="text/plain")
    buffer = io.StringIO()
    try:
        services.export_dataset(actor=request.user, filters=form.filters() if form.is_bound else {}, out=buffer)
    except DomainError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="oos-analysis-dataset-{stamp}.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def control_sets(request):
    check_reports(request.user)
    form = ControlSetForm(request.POST or None)
    if request.method == "POST":
        check_control_set(request.user)
        if form.is_valid():
            try:
                control_set = services.regenerate_control_set(actor=request.user, seed=form.cleaned_data["seed"])
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Control set {control_set.pk} (seed {control_set.seed}) is now current. "
                                          "Recompute the reports to use it.")
                return redirect("analytics:control_sets")
    page = Paginator(selectors.control_sets(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "analytics/control_sets.html", {
        "form": form, "page": page, "current_set": selectors.current_control_set(),
        "can_regenerate": can_regenerate_controls(request.user)}, status=400 if form.errors else 200)
