"""The decision dossier of one application: everything the panel decided on, and how, as a PDF."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone

from audit import timeline
from panel.models import OOSApplication, Vote


def _when(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def _failed(parameters) -> str:
    return "; ".join(f"{row.get('name')}: {row.get('value_numeric') or row.get('value_text')} {row.get('unit') or ''} "
                     f"(spec {row.get('specification')})" for row in parameters or [])


def dossier_facts(application: OOSApplication) -> dict:
    """Everything the dossier shows, read in a bounded number of queries."""
    application = (OOSApplication.objects.select_related("case__product", "case__patient", "centre", "attempt",
                                                         "submitted_by")
                   .get(pk=application.pk))
    votes = list(Vote.objects.filter(application=application).select_related("member__user").order_by("cast_at"))
    vote_history = list(Vote.history.model.objects.filter(application_id=application.pk)
                        .select_related("history_user").order_by("history_date", "history_id"))
    return {
        "application": application,
        "attachments": list(application.attachments.select_related("uploaded_by").order_by("uploaded_at")),
        "votes": votes,
        "vote_history": vote_history,
        "recusals": list(application.recusals.select_related("member__user").order_by("created_at")),
        "information_requests": list(application.information_requests.select_related("asked_by", "answered_by")),
        "decision": getattr(application, "decision", None) if hasattr(application, "decision") else None,
        "communication": getattr(application, "communication", None) if hasattr(application, "communication")
        else None,
        "events": list(timeline.audit_events(timeline.TimelineFilters(application=application.pk))
                       .order_by("created_at", "id")),
    }


def dossier_pdf(application: OOSApplication) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    facts = dossier_facts(application)
    app = facts["application"]
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)

    def p(text) -> Paragraph:
        return Paragraph(escape(str(text if text not in (None, "") else "—")), small)

    def table(header, rows, widths=None):
        data = [[p(h) for h in header]] + [[p(c) for c in row] for row in rows] if rows else \
            [[p(h) for h in header], [p("None recorded.")] + [p("")] * (len(header) - 1)]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    story = [Paragraph(f"Decision dossier — OOS application {app.pk}", styles["Title"]),
             Paragraph(f"Generated {_when(timezone.now())}", small), Spacer(1, 4 * mm),
             Paragraph("Application", styles["Heading2"]),
             table(["Fact", "Value"], [
                 ["Case", app.case.public_id], ["Centre", f"{app.centre.name} ({app.centre.code})"],
                 ["Product", app.case.product.code], ["Manufacturing attempt", app.attempt.number],
                 ["Status", app.get_status_display()], ["Urgency", app.get_urgency_display()],
                 ["Submitted", f"{_when(app.submitted_at)} by {app.submitted_by.username}"],
                 ["Decision due (SLA)", _when(app.sla_due_at)],
                 ["Clinical justification", app.clinical_justification],
                 ["Failed parameters", _failed(app.failed_parameters)],
                 ["Dose verdict", (app.dose_verdict or {}).get("explanation", "")],
             ], widths=[45 * mm, 125 * mm]),
             Paragraph("Evidence", styles["Heading2"]),
             table(["Kind", "File", "Size", "SHA-256", "Uploaded"],
                   [[a.get_kind_display(), a.original_name, a.size, a.sha256, f"{_when(a.uploaded_at)} "
                     f"{a.uploaded_by.username}"] for a in facts["attachments"]],
                   widths=[30 * mm, 35 * mm, 15 * mm, 60 * mm, 30 * mm]),
             Paragraph("Votes (current)", styles["Heading2"]),
             table(["Member", "Role", "Vote", "Cast", "Comment"],
                   [[v.member.user.username, v.member.get_role_display(), v.choice, _when(v.cast_at), v.comment]
                    for v in facts["votes"]], widths=[30 * mm, 22 * mm, 18 * mm, 28 * mm, 72 * mm]),
             Paragraph("Vote history (every cast and change)", styles["Heading2"]),
             table(["When", "By", "Change", "Vote", "Comment"],
                   [[_when(h.history_date), h.history_user.username if h.history_user else "",
                     {"+": "cast", "~": "changed", "-": "removed"}.get(h.history_type, h.history_type), h.choice,
                     h.comment] for h in facts["vote_history"]],
                   widths=[28 * mm, 30 * mm, 18 * mm, 18 * mm, 76 * mm]),
             Paragraph("Conflicts of interest and recusals", styles["Heading2"]),
             table(["Member", "Reason", "Automatic", "When"],
                   [[r.member.user.username, r.reason, "yes" if r.automatic else "no", _when(r.created_at)]
                    for r in facts["recusals"]], widths=[30 * mm, 90 * mm, 20 * mm, 30 * mm]),
             Paragraph("Information requests", styles["Heading2"]),
             table(["Asked", "Question", "Answered", "Answer"],
                   [[f"{_when(i.asked_at)} {i.asked_by.username}", i.question,
                     f"{_when(i.answered_at)} {i.answered_by.username if i.answered_by else ''}", i.answer]
                    for i in facts["information_requests"]], widths=[30 * mm, 55 * mm, 30 * mm, 55 * mm])]
    decision = facts["decision"]
    story += [Paragraph("Decision", styles["Heading2"]),
              table(["Outcome", "Decided", "Tally"],
                    [[decision.outcome, _when(decision.decided_at),
                      ", ".join(f"{k} {decision.tally.get(k)}" for k in ("approve", "approve_physicians",
                                                                         "approve_pharmacists", "decline", "abstain",
                                                                         "eligible"))]] if decision else [],
                    widths=[25 * mm, 30 * mm, 115 * mm])]
    communication = facts["communication"]
    story += [Paragraph("Communication", styles["Heading2"]),
              table(["Sent", "By", "Recipients", "Conditions", "Letter SHA-256"],
                    [[_when(communication.sent_at), communication.sent_by.username,
                      ", ".join(communication.recipients or []), communication.conditions,
                      communication.letter_sha256]] if communication else [],
                    widths=[25 * mm, 22 * mm, 45 * mm, 40 * mm, 38 * mm])]
    story += [Paragraph("Audit events", styles["Heading2"]),
              table(["When", "Event", "Actor", "Role", "IP"],
                    [[_when(e.created_at), e.code, e.actor_username, e.actor_role, e.ip or ""]
                     for e in facts["events"]], widths=[28 * mm, 62 * mm, 30 * mm, 28 * mm, 22 * mm])]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=f"Decision dossier OOS application {app.pk}",
                      leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm).build(story)
    return buffer.getvalue()
