"""The decision letter the operations manager sends to the treating centre (PDF, reportlab).

The letter is built without compression and with reportlab's invariant mode: the same decision,
conditions, signatory and time give byte-for-byte the same file, so the SHA-256 recorded with the
communication can be checked by rebuilding it, and the text can be searched in the raw PDF.
"""

from __future__ import annotations

import datetime as dt
import io
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from panel.models import MemberRole, OOSApplication, PanelMember

OUTCOME_WORDS = {"approved": "APPROVED", "declined": "DECLINED"}


def vote_breakdown(application: OOSApplication) -> dict[str, dict[str, int]]:
    """Counted votes per choice and role, from the decision's tally snapshot.

    ``{"approve": {"physician": 3, "pharmacist": 1, "total": 4}, "decline": {...}, "abstain": {...},
    "not_voted": {...}}``; only the votes the rule counted (eligible members) are included.
    """
    snapshot = application.decision.tally
    votes = {int(member_id): choice for member_id, choice in (snapshot.get("votes") or {}).items()}
    eligible = [int(member_id) for member_id in snapshot.get("eligible_members") or votes]
    roles = dict(PanelMember.objects.filter(pk__in=eligible).values_list("pk", "role"))
    breakdown = {choice: {MemberRole.PHYSICIAN.value: 0, MemberRole.PHARMACIST.value: 0, "total": 0}
                 for choice in ("approve", "decline", "abstain", "not_voted")}
    for member_id in eligible:
        row = breakdown[votes.get(member_id, "not_voted")]
        row[roles.get(member_id, MemberRole.PHYSICIAN.value)] += 1
        row["total"] += 1
    return breakdown


def _paragraphs(text: str, style) -> list:
    return [Paragraph(escape(line), style) for line in text.splitlines() if line.strip()]


def decision_letter_pdf(application: OOSApplication, *, conditions: str, sent_by, sent_at: dt.datetime) -> bytes:
    """The letter for a decided application: who, what, the tally by role, conditions, signature."""
    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["Italic"]
    case, centre, product = application.case, application.centre, application.case.product
    decision = application.decision
    outcome = OUTCOME_WORDS.get(decision.outcome, decision.outcome.upper())
    local_sent = timezone.localtime(sent_at)
    local_decided = timezone.localtime(decision.decided_at)
    breakdown = vote_breakdown(application)
    signatory = sent_by.get_full_name() or sent_by.username

    story = [
        Paragraph("National OOS CAR-T Panel", styles["Title"]),
        Paragraph(f"Decision on OOS application {application.pk}", styles["Heading2"]),
        Paragraph(f"Date: {local_sent:%d %B %Y}", body),
        Spacer(1, 4 * mm),
        Table([
            ["Application", str(application.pk)],
            ["Case", case.public_id],
            ["Treating centre", f"{centre.name} ({centre.code})"],
            ["Product", f"{product.brand} ({product.generic_name}), {case.indication}"],
            ["Manufacturing attempt", f"number {application.attempt.number}"],
            ["Decision", outcome],
            ["Decided at", f"{local_decided:%d %B %Y %H:%M}"],
        ], colWidths=[45 * mm, 120 * mm], style=TableStyle([
            ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ])),
        Spacer(1, 4 * mm),
        Paragraph(f"The panel has {outcome.lower()} the infusion of this out-of-specification product.", body),
        Spacer(1, 3 * mm),
        Paragraph("Votes counted by the approval rule (at least 4 approvals, including at least 3 physicians "
                  "and at least 1 pharmacist):", body),
        Spacer(1, 2 * mm),
    ]
    rows = [["", "Physicians", "Pharmacists", "Total"]]
    for key, label in (("approve", "Approve"), ("decline", "Decline"), ("abstain", "Abstain"),
                       ("not_voted", "Not voted")):
        counts = breakdown[key]
        rows.append([label, str(counts[MemberRole.PHYSICIAN.value]), str(counts[MemberRole.PHARMACIST.value]),
                     str(counts["total"])])
    story.append(Table(rows, colWidths=[35 * mm, 30 * mm, 30 * mm, 25 * mm], style=TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
    ])))
    story.append(Spacer(1, 2 * mm))
    approve = breakdown["approve"]
    story.append(Paragraph(
        f"Tally: approve {approve['total']} ({approve['physician']} physicians, {approve['pharmacist']} "
        f"pharmacists), decline {breakdown['decline']['total']}, abstain {breakdown['abstain']['total']}.", body))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("Conditions", styles["Heading3"]))
    story.extend(_paragraphs(conditions, body) or [Paragraph("None.", body)])
    story += [
        Spacer(1, 8 * mm),
        Paragraph("On behalf of the National OOS CAR-T Panel,", body),
        Spacer(1, 6 * mm),
        Paragraph(escape(signatory), styles["Heading4"]),
        Paragraph("Operations manager", body),
        Spacer(1, 6 * mm),
        Paragraph("This letter contains no patient identifiers; the case is named by its registry id.", small),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=f"OOS panel decision - application {application.pk}",
                                 author="National OOS CAR-T Panel", invariant=1, pageCompression=0,
                                 leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm)
    document.build(story)
    return buffer.getvalue()
