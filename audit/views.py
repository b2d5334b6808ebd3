"""Audit pages for admins: the timeline, exports, decision dossiers and the panel performance report."""

from __future__ import annotations

import csv
import io
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role
from audit import exports, performance, timeline
from audit.dossier import dossier_pdf
from audit.forms import ExportForm, TimelineFilterForm
from audit.labels import label
from audit.models import AuditExport, ExportStatus
from audit.services import audit_log
from panel.selectors import applications_visible_to

PAGE_SIZE = 50
_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                  "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  "pdf": "application/pdf"}


def admin_required(view):
    """Admins (auditors) only: anyone else signed in gets 403, anonymous users the login page."""
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not (request.user.is_superuser or request.user.role == Role.ADMIN):
            raise PermissionDenied("The audit trail is open to admins only.")
        return view(request, *args, **kwargs)
    return wrapper


class _TimelineSequence:
    """What ``Paginator`` needs (count and slices), read from the timeline one page at a time."""

    def __init__(self, filters):
        self.filters = filters

    def count(self):
        return timeline.count(self.filters)

    def __getitem__(self, item):
        return timeline.page(self.filters, offset=item.start or 0, limit=(item.stop or 0) - (item.start or 0))


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@admin_required
def timeline_view(request):
    form = TimelineFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else timeline.TimelineFilters()
    page = Paginator(_TimelineSequence(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page.object_list:
        entry.label = label(entry.kind)
    context = {"form": form, "page": page, "query": _query_without_page(request),
               "export_url": f"{reverse('audit:export')}?{_query_without_page(request)}",
               "application": filters.application}
    template = "audit/_timeline_rows.html" if request.htmx and not request.htmx.boosted else "audit/timeline.html"
    return render(request, template, context)


def _file_response(export: AuditExport, user) -> FileResponse:
    if export.status != ExportStatus.DONE or not export.file:
        raise Http404("This export is not ready.")
    try:
        handle = export.file.open("rb")
    except OSError:
        raise Http404("The export file is no longer available.") from None
    with transaction.atomic():
        audit_log(code="audit.export.downloaded", actor=user, obj=export,
                  context={"format": export.format, "sha256": export.sha256, "rows": export.done})
    response = FileResponse(handle, as_attachment=True, filename=export.filename,
                            content_type=_CONTENT_TYPES[export.format])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
@admin_required
def export_view(request):
    if request.method == "POST":
        form = ExportForm(request.POST)
        if form.is_valid():
            export, queued = exports.export_request(user=request.user, filters=form.filters(),
                                                    fmt=form.cleaned_data["format"])
            if queued:
                return redirect("audit:export_status", pk=export.pk)
            exports.build(export.pk)
            export.refresh_from_db()
            return _file_response(export, request.user)
    else:
        form = ExportForm(initial={key: value for key, value in request.GET.items() if key in ExportForm.base_fields})
    recent = AuditExport.objects.filter(requested_by=request.user).order_by("-created_at")[:10]
    return render(request, "audit/export.html", {"form": form, "recent": recent,
                                                 "threshold": exports.async_threshold()},
                  status=400 if form.is_bound and not form.is_valid() else 200)


def _own_export(request, pk) -> AuditExport:
    export = get_object_or_404(AuditExport, pk=pk)
    if export.requested_by_id != request.user.pk and not request.user.is_superuser:
        raise Http404("No such export")
    return export


@require_GET
@admin_required
def export_status(request, pk):
    export = _own_export(request, pk)
    template = "audit/_export_progress.html" if request.htmx else "audit/export_status.html"
    return render(request, template, {"export": export})


@require_GET
@admin_required
def export_download(request, pk):
    return _file_response(_own_export(request, pk), request.user)


@require_GET
@admin_required
def dossier(request, pk):
    application = get_object_or_404(applications_visible_to(request.user), pk=pk)
    pdf = dossier_pdf(application)
    with transaction.atomic():
        audit_log(code="audit.dossier.downloaded", actor=request.user, obj=application,
                  centre_code=application.centre.code, context={"application": application.pk, "bytes": len(pdf)})
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="decision-dossier-{application.pk}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@admin_required
def dossier_lookup(request):
    """The export page's "dossier of application no. N" form."""
    try:
        pk = int(request.GET.get("application", ""))
    except ValueError:
        raise Http404("Give the application's number.") from None
    get_object_or_404(applications_visible_to(request.user), pk=pk)
    return redirect("audit:dossier", pk=pk)


@require_GET
@admin_required
def performance_view(request):
    report = performance.panel_performance()
    if request.GET.get("format") == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(performance.COLUMNS)
        for row in [*report["months"], report["overall"]]:
            writer.writerow([exports.safe_cell("" if row[c] is None else row[c]) for c in performance.COLUMNS])
        writer.writerow([])
        writer.writerow(["member", "role", "votes"])
        for member in report["members"]:
            writer.writerow([exports.safe_cell(member["member"]), member["role"], member["votes"]])
        with transaction.atomic():
            audit_log(code="audit.performance.exported", actor=request.user, context={"months": len(report["months"])})
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="panel-performance.csv"'
        return response
    months = report["months"]
    charts = [
        performance.bar_chart_svg([(m["period"], m["applications"]) for m in months], title="Applications per month"),
        performance.bar_chart_svg([(m["period"], m["approval_rate"]) for m in months], title="Approval rate"),
        performance.bar_chart_svg([(m["period"], m["decision_median_days"]) for m in months],
                                  title="Median days from submission to decision", unit=" d"),
        performance.bar_chart_svg([(m["period"], m["communicated_within_3_days_share"]) for m in months],
                                  title="Share communicated within 3 days"),
    ]
    return render(request, "audit/performance.html", {"report": report, "charts": charts})
