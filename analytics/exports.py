"""A report snapshot as a PDF (reportlab) and as an XLSX workbook (openpyxl), from the same sections as the page."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from analytics import filters as f
from analytics.presentation import methods, sections


def _header_lines(snapshot) -> list[str]:
    return [f"Report {snapshot.pk} · {f.describe(snapshot.filters)}",
            f"Data as of {snapshot.data_as_of:%d %b %Y %H:%M} · {snapshot.n_cases} cases · matched control set "
            f"seed {snapshot.control_seed if snapshot.control_seed is not None else '–'}",
            f"Generated {snapshot.finished_at:%d %b %Y %H:%M}"]


def report_pdf(snapshot) -> bytes:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=7.5, leading=9)
    head = styles["BodyText"].clone("head", fontSize=7.5, leading=9, fontName="Helvetica-Bold")
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title="OOS CAR-T registry report",
                            author="National OOS CAR-T Panel")
    story = [Paragraph("OOS CAR-T registry report", styles["Title"])]
    story += [Paragraph(line, styles["Normal"]) for line in _header_lines(snapshot)]
    for section in sections(snapshot.report):
        story += [Spacer(1, 4 * mm), Paragraph(section.title, styles["Heading3"])]
        if section.rows:
            data = [[Paragraph(c, head) for c in section.columns]]
            data += [[Paragraph(str(v), cell) for v in row] for row in section.rows]
            table = Table(data, repeatRows=1, hAlign="LEFT")
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(table)
        else:
            story.append(Paragraph(section.empty, styles["Italic"]))
        story += [Paragraph(note, cell) for note in section.notes]
    story += [Spacer(1, 4 * mm), Paragraph("Methods", styles["Heading3"])]
    story += [Paragraph(f"<b>{title}.</b> {text}", cell) for title, text in methods(snapshot.report)]
    story.append(Paragraph("The figures (Figure 1, Kaplan–Meier curves, forest plot) are on the report page and "
                           "downloadable as SVG.", cell))
    doc.build(story)
    return buffer.getvalue()


def report_xlsx(snapshot) -> bytes:
    workbook = Workbook()
    summary = workbook.active
    summary.title = "Report"
    summary.append(["OOS CAR-T registry report"])
    summary["A1"].font = Font(bold=True, size=14)
    for line in _header_lines(snapshot):
        summary.append([line])
    summary.append([])
    summary.append(["Methods"])
    for title, text in methods(snapshot.report):
        summary.append([title, text])
    for section in sections(snapshot.report):
        sheet = workbook.create_sheet(section.key[:31])
        sheet.append([section.title])
        sheet["A1"].font = Font(bold=True)
        sheet.append(section.columns)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in section.rows:
            sheet.append(row)
        if not section.rows:
            sheet.append([section.empty])
        for note in section.notes:
            sheet.append([note])
        for column in sheet.columns:
            width = max(len(str(c.value or "")) for c in list(column)[1:]) if sheet.max_row > 1 else 10
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 10), 60)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
