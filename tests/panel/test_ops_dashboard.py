"""The operations manager's dashboard: open applications, tallies, SLA, communication, regulatory deadlines."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from panel import services
from panel.dashboard import application_rows, effective_due_at, open_application_rows, panel_strength
from panel.models import ApplicationStatus, OOSApplication
from panel.selectors import application_tally
from tests.panel.factories import PanelMemberFactory
from tests.panel.ops_fixtures import PHARMACIST, PHYSICIAN, approved, full_panel, submitted, vote

pytestmark = pytest.mark.django_db
URL = reverse("panel:dashboard")


@pytest.fixture
def panel():
    return full_panel()


@pytest.mark.parametrize(("role", "status"), [("centre_a", 403), ("physician", 403), ("pharmacist", 403),
                                               ("analyst", 403), ("ops", 200), ("admin", 200)])
def test_dashboard_is_for_ops_and_admins(client, personas, role, status):
    client.force_login(personas[role])
    assert client.get(URL).status_code == status


def test_dashboard_needs_login(client):
    assert client.get(URL).status_code == 302


def test_empty_dashboard_says_so(client, personas):
    client.force_login(personas["ops"])
    page = client.get(URL).content.decode()
    assert "No application is waiting for the panel." in page
    assert "Every decision has been communicated." in page
    assert "No infusion is waiting for its regulatory notifications." in page
    # No panel at all: the rule cannot be reached, and the page says so.
    assert "can no longer approve any application" in page


def test_bulk_rows_match_the_single_application_tally(centre_a, centre_b, panel):
    first = submitted(centre_a)
    second = submitted(centre_b)
    vote(first, panel[PHYSICIAN][0], "approve")
    vote(first, panel[PHARMACIST][0], "decline")
    vote(second, panel[PHYSICIAN][1], "abstain")
    services.member_declare_conflict(application_id=second.pk, user=panel[PHYSICIAN][2].user, reason="Co-author")
    panel[PHYSICIAN][3].affiliations.set([centre_b])

    rows = {row.application.pk: row for row in application_rows(OOSApplication.objects.filter(pk__in=[first.pk,
                                                                                                      second.pk]))}

    for application in (first, second):
        application.refresh_from_db()
        assert rows[application.pk].tally == application_tally(application=application)
    assert [m.pk for m in rows[second.pk].not_voted] == [
        m.pk for m in panel[PHARMACIST] + [panel[PHYSICIAN][0], panel[PHYSICIAN][4]]
        if m.pk in {x.pk for x in rows[second.pk].not_voted}]
    assert panel[PHYSICIAN][2].pk not in {m.pk for m in rows[second.pk].not_voted}
    assert panel[PHYSICIAN][3].pk not in {m.pk for m in rows[second.pk].not_voted}
    assert len(rows[first.pk].not_voted) == 6 and len(rows[second.pk].not_voted) == 5


def test_overdue_first_then_by_due_time_and_paused_after(centre_a, panel):
    now = timezone.now()
    later, overdue, paused = submitted(centre_a), submitted(centre_a), submitted(centre_a)
    OOSApplication.objects.filter(pk=later.pk).update(sla_due_at=now + dt.timedelta(hours=30))
    OOSApplication.objects.filter(pk=overdue.pk).update(sla_due_at=now - dt.timedelta(hours=2))
    OOSApplication.objects.filter(pk=paused.pk).update(status=ApplicationStatus.INFO_REQUESTED,
                                                       sla_due_at=now - dt.timedelta(hours=5),
                                                       sla_paused_at=now - dt.timedelta(hours=8))
    rows = open_application_rows(now=now)
    assert [row.application.pk for row in rows] == [overdue.pk, later.pk, paused.pk]
    assert rows[0].overdue and not rows[1].overdue
    # Paused 8 h ago with 3 h left: still 3 h left, never overdue while the centre answers.
    assert rows[2].paused and not rows[2].overdue
    assert rows[2].due_at == now + dt.timedelta(hours=3)


def test_effective_due_at_runs_normally_when_not_paused(centre_a, panel):
    application = submitted(centre_a)
    assert effective_due_at(application, timezone.now()) == application.sla_due_at


def test_due_soon_within_the_escalation_window(centre_a, panel, settings):
    settings.PANEL_ESCALATE_HOURS_BEFORE = 4
    now = timezone.now()
    application = submitted(centre_a)
    OOSApplication.objects.filter(pk=application.pk).update(sla_due_at=now + dt.timedelta(hours=3))
    assert open_application_rows(now=now)[0].due_soon
    settings.PANEL_ESCALATE_HOURS_BEFORE = 2
    assert not open_application_rows(now=now)[0].due_soon


def test_dashboard_shows_tally_missing_voters_decisions_and_deadlines(client, personas, centre_a, centre_b, panel):
    open_application = submitted(centre_a)
    vote(open_application, panel[PHYSICIAN][0], "approve")
    decided = approved(centre_b, panel)
    infused = approved(centre_a, panel)
    infused_at = timezone.now() - dt.timedelta(hours=50)
    OOSApplication.objects.filter(pk=infused.pk).update(
        status=ApplicationStatus.INFUSED, infused_at=infused_at, regulatory_deadline_at=infused_at + dt.timedelta(
            hours=48), manufacturer_notified_at=timezone.now())
    client.force_login(personas["ops"])

    page = client.get(URL).content.decode()

    assert f'id="application-{open_application.pk}"' in page
    assert "1 approve (1 ph. / 0 pharm.)" in page
    assert panel[PHYSICIAN][1].user.display_name in page and "8 eligible" in page
    assert reverse("panel:communicate", args=[decided.pk]) in page and ">Communicate<" in page
    assert f"Application {infused.pk}" in page and "overdue since" in page and "not recorded" in page


def test_warning_when_the_eligible_panel_cannot_reach_the_rule(client, personas, centre_a):
    physicians = [PanelMemberFactory(role=PHYSICIAN) for _ in range(3)]
    PanelMemberFactory(role=PHARMACIST, affiliations=[centre_a])
    application = submitted(centre_a)
    client.force_login(personas["ops"])

    page = client.get(URL).content.decode()

    assert panel_strength().can_approve
    assert "Eligible panel cannot approve: 3 physicians, 0 pharmacists" in page
    assert "1 cannot reach the rule" in page
    assert application.pk and len(physicians) == 3


def test_overall_warning_names_what_is_missing(client, personas):
    [PanelMemberFactory(role=PHYSICIAN) for _ in range(2)]
    PanelMemberFactory(role=PHARMACIST)
    client.force_login(personas["ops"])
    page = client.get(URL).content.decode()
    assert "it needs 1 physician(s) more" in page
    strength = panel_strength()
    assert (strength.physicians, strength.pharmacists, strength.can_approve) == (2, 1, False)


def test_htmx_refresh_renders_only_the_table(client, personas, centre_a, panel):
    submitted(centre_a)
    client.force_login(personas["ops"])
    response = client.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content and b"Not yet voted" in response.content


def _build(centre, panel, count):
    for index in range(count):
        application = submitted(centre)
        if index % 2:
            vote(application, panel[PHYSICIAN][index % 5], "approve")
    for _ in range(max(1, count // 10)):
        approved(centre, panel)


def test_dashboard_queries_do_not_grow_with_applications(client, personas, centre_a, panel,
                                                         django_assert_max_num_queries):
    client.force_login(personas["ops"])
    _build(centre_a, panel, 3)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    _build(centre_a, panel, 27)
    assert OOSApplication.objects.count() == 33
    # Session, user, panel strength, open applications, members + affiliations, recusals, votes,
    # decided and infused lists, messages: the same with 30 open applications as with 3.
    assert len(small.captured_queries) <= 16
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(URL)
    assert page.content.decode().count('id="application-') == 30
    assert page.content.decode().count(">Communicate<") == 3
