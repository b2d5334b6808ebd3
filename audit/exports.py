"""Audit exports: CSV, XLSX and PDF written row by row from the timeline's cursor.

Small exports are built in the request; from ``AUDIT_EXPORT_ASYNC_ROWS`` rows on they are built by
a Celery task that reports its progress on the export row. Every export is itself audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import tempfile

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from audit import timeline
from audit.models import AuditExport, ExportFormat, ExportStatus
from audit.services import audit_log

# Spreadsheet programs run a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PROGRESS_EVERY = 1000


def async_threshold() -> int:
    return getattr(settings, "AUDIT_EXPORT_ASYNC_ROWS", 100_000)


def safe_cell(value) -> str:
    """The cell as text, quoted with ' when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def filters_from_json(data: dict) -> timeline.TimelineFilters:
    values = dict(data or {})
    for key in ("date_from", "date_to"):
        if values.get(key):
            values[key] = dt.date.fromisoformat(str(values[key]))
    if values.get("application"):
        values["application"] = int(values["application"])
    return timeline.TimelineFilters(**values)


class _Progress:
    def __init__(self, export: AuditExport):
        self.export, self.done = export, 0

    def step(self):
        self.done += 1
        if self.done % _PROGRESS_EVERY == 0:
            AuditExport.objects.filter(pk=self.export.pk).update(done=self.done)


def _write_csv(entries, fh, progress):
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(timeline.COLUMNS)
    for entry in entries:
        writer.writerow([safe_cell(value) for value in entry.as_row()])
        progress.step()
    text.flush()
    text.detach()


def _write_xlsx(entries, fh, progress):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Audit trail")
    sheet.append(timeline.COLUMNS)
    for entry in entries:
        sheet.append([safe_cell(value) for value in entry.as_row()])
        progress.step()
    workbook.save(fh)


def _write_pdf(entries, fh, progress, *, title: str):
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    width, height = landscape(A4)
    pdf = canvas.Canvas(fh, pagesize=landscape(A4))
    pdf.setTitle(title)
    columns = [(0, 95), (95, 150), (245, 70), (315, 60), (375, 65), (440, 110), (550, 45), (595, 200)]
    y = 0

    def new_page():
        nonlocal y
        if y:
            pdf.showPage()
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(30, height - 30, title)
        y = height - 48
        for (x, _), label in zip(columns, ["time", "event", "actor", "role", "ip", "object", "centre", "changes"],
                                 strict=True):
            pdf.drawString(30 + x, y, label)
        y -= 12
        pdf.setFont("Helvetica", 6.5)

    new_page()
    for entry in entries:
        row = entry.as_row()
        cells = [row[0], row[1], row[2], row[3], row[4], row[6], row[7], row[8]]
        for (x, room), value in zip(columns, cells, strict=True):
            limit = max(int(room / 3.2), 4)
            pdf.drawString(30 + x, y, value if len(value) <= limit else value[:limit - 1] + "…")
        y -= 9
        if y < 30:
            new_page()
        progress.step()
    pdf.save()


def _title(export: AuditExport) -> str:
    shown = ", ".join(f"{key} {value}" for key, value in (export.filters or {}).items()) or "all entries"
    return f"Audit trail export {export.pk} — {shown} — {timezone.localtime():%Y-%m-%d %H:%M}"


def build(export_id: int) -> AuditExport:
    """Write the export's file (streaming the rows) and mark it done; failures are recorded, not lost."""
    export = AuditExport.objects.get(pk=export_id)
    filters = filters_from_json(export.filters)
    AuditExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, total=timeline.count(filters))
    progress = _Progress(export)
    try:
        with tempfile.TemporaryFile() as fh:
            entries = timeline.iterate(filters)
            if export.format == ExportFormat.CSV:
                _write_csv(entries, fh, progress)
            elif export.format == ExportFormat.XLSX:
                _write_xlsx(entries, fh, progress)
            else:
                _write_pdf(entries, fh, progress, title=_title(export))
            fh.seek(0)
            digest = hashlib.sha256()
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
            fh.seek(0)
            export.refresh_from_db()
            export.file.save(export.filename, File(fh), save=False)
        export.sha256, export.done, export.status = digest.hexdigest(), progress.done, ExportStatus.DONE
        export.finished_at = timezone.now()
        export.save(update_fields=["file", "sha256", "done", "status", "finished_at"])
        audit_log(code="audit.export.built", actor=export.requested_by, obj=export,
                  context={"rows": progress.done, "format": export.format, "sha256": export.sha256,
                           "filters": export.filters})
    except Exception as error:  # recorded on the export so the admin sees why, then re-raised for the worker log
        AuditExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=str(error)[:2000],
                                                         finished_at=timezone.now())
        raise
    return export


@transaction.atomic
def export_request(*, user, filters: timeline.TimelineFilters, fmt: str) -> tuple[AuditExport, bool]:
    """Record the request (audited); returns (export, queued) — queued when it goes to the worker."""
    rows = timeline.count(filters)
    export = AuditExport.objects.create(requested_by=user, filters=filters.as_query(), format=fmt, total=rows)
    queued = rows >= async_threshold()
    audit_log(code="audit.export.requested", actor=user, obj=export,
              context={"rows": rows, "format": fmt, "filters": export.filters, "background": queued})
    if queued:
        transaction.on_commit(lambda: _enqueue(export.pk))
    return export, queued


def _enqueue(export_id: int) -> None:
    from audit.tasks import build_audit_export

    try:
        build_audit_export.delay(export_id)
    except Exception as error:  # broker unreachable: say so on the export instead of failing the page
        AuditExport.objects.filter(pk=export_id, status=ExportStatus.PENDING).update(
            status=ExportStatus.FAILED, finished_at=timezone.now(),
            error=f"The background worker could not be reached ({type(error).__name__}); try again later.")
