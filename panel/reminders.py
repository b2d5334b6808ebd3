"""Chasing the panel: reminders to members who have not voted, escalations to the operations manager.

``send_reminders(now=...)`` is what the beat task runs every 30 minutes; it takes the time as an
argument so it can be tested at any moment of the week. It can run any number of times: each
reminder and escalation is a ``Reminder`` row unique per application, kind, recipient and day,
claimed before its notification is queued, so a second run on the same day sends nothing again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.selectors import ops_managers
from audit.services import audit_log
from notifications.services import notify
from panel.dashboard import application_rows, escalate_hours_before
from panel.models import ApplicationStatus, OOSApplication, Reminder, ReminderKind

AUDIT_EVENTS = {
    "panel.application.reminders_sent": "reminded the members who had not voted (automatic)",
    "panel.application.escalated": "escalated an application near or past its SLA to the operations manager "
                                   "(automatic)",
}

# Members hear of a new application when it is submitted; the first reminder waits this long.
PANEL_REMIND_AFTER_HOURS = 4


def remind_after_hours() -> int:
    return getattr(settings, "PANEL_REMIND_AFTER_HOURS", PANEL_REMIND_AFTER_HOURS)


@dataclasses.dataclass
class ReminderRun:
    reminders: int = 0
    escalations: int = 0


def _claim(*, application: OOSApplication, kind: str, recipient, member=None, day: dt.date) -> bool:
    """Write the day's Reminder row; False when it already exists (sent earlier today)."""
    try:
        with transaction.atomic():
            Reminder.objects.create(application=application, kind=kind, recipient=recipient, member=member, day=day)
    except IntegrityError:
        return False
    return True


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _due_words(due_at: dt.datetime, now: dt.datetime) -> str:
    local = timezone.localtime(due_at)
    if due_at < now:
        hours = int((now - due_at).total_seconds() // 3600)
        return f"was due {local:%a %d %b %H:%M} ({hours} h overdue)"
    hours = int((due_at - now).total_seconds() // 3600)
    return f"is due {local:%a %d %b %H:%M} (in {hours} h)"


def send_reminders(*, now: dt.datetime | None = None) -> ReminderRun:
    """Remind every eligible member who has not voted (once per working day) and escalate (once per day).

    Only applications under review are chased: while the centre answers an information request
    the SLA clock is stopped and nobody is reminded. Reminders go out Monday to Friday, and not
    before ``PANEL_REMIND_AFTER_HOURS`` after submission. The operations managers are escalated to
    when the SLA ends within ``PANEL_ESCALATE_HOURS_BEFORE`` hours, or has passed.
    """
    now = now or timezone.now()
    day = timezone.localdate(now)
    run = ReminderRun()
    applications = (OOSApplication.objects.filter(status=ApplicationStatus.UNDER_REVIEW)
                    .select_related("case__product", "centre").order_by("sla_due_at", "id"))
    rows = application_rows(applications, now=now)
    managers = list(ops_managers())
    remind_from = dt.timedelta(hours=remind_after_hours())
    escalate_from = dt.timedelta(hours=escalate_hours_before())
    for row in rows:
        application = row.application
        label = f"OOS application {application.pk} ({application.case.public_id}, {application.centre.code})"
        due = _due_words(row.due_at, now) if row.due_at else "has no due time"
        reminded, escalated = [], []
        if day.weekday() < 5 and application.submitted_at and now - application.submitted_at >= remind_from:
            for member in row.not_voted:
                with transaction.atomic():
                    if not _claim(application=application, kind=ReminderKind.REMINDER, recipient=member.user,
                                  member=member, day=day):
                        continue
                    notify(users=[member.user], key=f"application:{application.pk}:reminder:{member.pk}:{day}",
                           subject=f"Your vote is awaited: {label}",
                           body=(f"{label} is waiting for your vote; its answer to the centre {due}. "
                                 f"{row.tally['not_voted']} of {row.tally['eligible']} eligible members have "
                                 "not voted yet."),
                           url=_url("panel:review", application.pk))
                    reminded.append(member.pk)
        if row.due_at and row.due_at - now <= escalate_from:
            missing = ", ".join(member.user.username for member in row.not_voted) or "nobody"
            for manager in managers:
                with transaction.atomic():
                    if not _claim(application=application, kind=ReminderKind.ESCALATION, recipient=manager,
                                  day=day):
                        continue
                    notify(users=[manager], key=f"application:{application.pk}:escalation:{manager.pk}:{day}",
                           subject=f"SLA {'passed' if row.due_at < now else 'ending'}: {label}",
                           body=(f"{label} {due} and is still undecided. Tally: {row.tally['approve']} approve, "
                                 f"{row.tally['decline']} decline, {row.tally['abstain']} abstain. "
                                 f"Not voted: {missing}."),
                           url=_url("panel:dashboard"))
                    escalated.append(manager.username)
        _audit_sent(application, row, now=now, reminded=reminded, escalated=escalated)
        run.reminders += len(reminded)
        run.escalations += len(escalated)
    return run


def _audit_sent(application: OOSApplication, row, *, now, reminded: list[int], escalated: list[str]) -> None:
    context = {"application": application.pk, "sla_due_at": row.due_at, "not_voted": row.tally["not_voted"],
               "at": now}
    if reminded:
        audit_log(code="panel.application.reminders_sent", obj=application, centre_code=application.centre.code,
                  context={**context, "members": reminded})
    if escalated:
        audit_log(code="panel.application.escalated", obj=application, centre_code=application.centre.code,
                  context={**context, "ops_managers": escalated, "overdue": bool(row.due_at and row.due_at < now)})
