"""Beat reminders to members who have not voted, and escalations to the operations manager, at set times."""

import datetime as dt
import zoneinfo

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from notifications.models import OutboxMessage
from panel.models import ApplicationStatus, OOSApplication, Reminder, ReminderKind
from panel.reminders import send_reminders
from panel.tasks import send_panel_reminders
from tests.factories import UserFactory
from tests.panel.ops_fixtures import PHARMACIST, PHYSICIAN, full_panel, submitted, vote

pytestmark = pytest.mark.django_db
LONDON = zoneinfo.ZoneInfo("Europe/London")
MONDAY_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=LONDON)


@pytest.fixture
def panel():
    return full_panel()


@pytest.fixture
def ops(personas):
    return personas["ops"]


def _open(centre, *, submitted_at, due_at):
    application = submitted(centre)
    OOSApplication.objects.filter(pk=application.pk).update(submitted_at=submitted_at, sla_due_at=due_at)
    application.refresh_from_db()
    return application


def _reminded(application):
    return set(Reminder.objects.filter(application=application, kind=ReminderKind.REMINDER)
               .values_list("member_id", flat=True))


def test_members_who_have_not_voted_are_reminded_once_per_working_day(centre_a, panel, ops):
    application = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(hours=5),
                        due_at=MONDAY_10 + dt.timedelta(days=2))
    vote(application, panel[PHYSICIAN][0], "approve")
    vote(application, panel[PHARMACIST][0], "abstain")

    first = send_reminders(now=MONDAY_10)
    again = send_reminders(now=MONDAY_10 + dt.timedelta(minutes=30))

    waiting = {m.pk for m in panel[PHYSICIAN][1:] + panel[PHARMACIST][1:]}
    assert first.reminders == 6 and again.reminders == 0
    assert _reminded(application) == waiting
    keys = OutboxMessage.objects.filter(idempotency_key__contains=":reminder:").values_list("recipient", flat=True)
    assert set(keys) == {m.user_id for m in panel[PHYSICIAN][1:] + panel[PHARMACIST][1:]}
    events = AuditEvent.objects.filter(code="panel.application.reminders_sent")
    assert events.count() == 1 and sorted(events.get().context["members"]) == sorted(waiting)
    # Next working day: reminded again.
    assert send_reminders(now=MONDAY_10 + dt.timedelta(days=1)).reminders == 6


def test_no_reminders_at_the_weekend_or_soon_after_submission(centre_a, panel, ops):
    saturday = MONDAY_10 - dt.timedelta(days=2)
    _open(centre_a, submitted_at=saturday - dt.timedelta(days=1), due_at=MONDAY_10 + dt.timedelta(days=3))
    assert send_reminders(now=saturday).reminders == 0
    fresh = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(hours=1), due_at=MONDAY_10 + dt.timedelta(days=2))
    send_reminders(now=MONDAY_10)
    assert _reminded(fresh) == set()


def test_recused_and_affiliated_members_are_not_reminded(centre_a, panel, ops):
    panel[PHYSICIAN][4].affiliations.set([centre_a])
    application = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(days=1),
                        due_at=MONDAY_10 + dt.timedelta(days=1))
    send_reminders(now=MONDAY_10)
    assert panel[PHYSICIAN][4].pk not in _reminded(application)
    assert len(_reminded(application)) == 7


def test_applications_waiting_for_the_centre_are_not_chased(centre_a, panel, ops):
    application = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(days=1),
                        due_at=MONDAY_10 - dt.timedelta(hours=1))
    OOSApplication.objects.filter(pk=application.pk).update(status=ApplicationStatus.INFO_REQUESTED,
                                                            sla_paused_at=MONDAY_10 - dt.timedelta(hours=3))
    run = send_reminders(now=MONDAY_10)
    assert (run.reminders, run.escalations) == (0, 0)


def test_escalation_when_the_sla_ends_within_the_window_once_per_day(centre_a, panel, ops, settings):
    settings.PANEL_ESCALATE_HOURS_BEFORE = 4
    second_ops = UserFactory(role=Role.OPS_MANAGER)
    UserFactory(role=Role.OPS_MANAGER, is_active=False)
    application = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(days=2),
                        due_at=MONDAY_10 + dt.timedelta(hours=5))

    assert send_reminders(now=MONDAY_10).escalations == 0
    assert send_reminders(now=MONDAY_10 + dt.timedelta(hours=1, minutes=30)).escalations == 2
    assert send_reminders(now=MONDAY_10 + dt.timedelta(hours=3)).escalations == 0
    escalated = Reminder.objects.filter(application=application, kind=ReminderKind.ESCALATION)
    assert set(escalated.values_list("recipient", flat=True)) == {ops.pk, second_ops.pk}
    event = AuditEvent.objects.get(code="panel.application.escalated")
    assert sorted(event.context["ops_managers"]) == sorted([ops.username, second_ops.username])
    assert event.context["overdue"] is False and event.actor is None
    message = OutboxMessage.objects.get(idempotency_key__contains=":escalation:", recipient=ops, channel="in_app")
    assert message.subject.startswith("SLA ending") and "Not voted:" in message.body
    # Overdue the next day: escalated again, once.
    tuesday = MONDAY_10 + dt.timedelta(days=1)
    assert send_reminders(now=tuesday).escalations == 2
    assert OutboxMessage.objects.filter(idempotency_key__contains=":escalation:", channel="in_app",
                                        subject__startswith="SLA passed").count() == 2


def test_decided_applications_are_left_alone(centre_a, panel, ops):
    application = _open(centre_a, submitted_at=MONDAY_10 - dt.timedelta(days=3),
                        due_at=MONDAY_10 - dt.timedelta(days=1))
    for member in panel[PHYSICIAN][:3] + panel[PHARMACIST][:1]:
        vote(application, member, "approve")
    run = send_reminders(now=MONDAY_10)
    assert (run.reminders, run.escalations) == (0, 0)


def test_beat_task_is_registered_and_runs_the_service(centre_a, panel, ops, settings):
    assert settings.CELERY_BEAT_SCHEDULE["panel-reminders"]["task"] == "panel.tasks.send_panel_reminders"
    assert settings.CELERY_BEAT_SCHEDULE["panel-reminders"]["schedule"] == 1800
    _open(centre_a, submitted_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), due_at=dt.datetime(2020, 1, 3, tzinfo=dt.UTC))
    result = send_panel_reminders.delay().get()
    assert result["escalations"] == 1
    assert result["reminders"] in (0, 8)  # 8 on a working day, none at the weekend
