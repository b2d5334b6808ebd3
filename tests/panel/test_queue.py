"""A member's queue: what awaits my vote (overdue first), what I voted on, what I am recused from."""
# ruff: noqa: F811 - pytest fixtures imported from tests.panel.review_fixtures are redefined as arguments

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from panel import services
from panel.models import OOSApplication
from panel.views_review import QUEUE_PAGE_SIZE, sla_state
from tests.factories import CentreFactory, UserFactory
from tests.panel.review_fixtures import (  # noqa: F401 - fixtures
    PHARMACIST,
    PHYSICIAN,
    application,
    panel,
    submit_application,
    submitter,
    vote,
)

pytestmark = pytest.mark.django_db
QUEUE = reverse("panel:queue")


@pytest.mark.parametrize(("persona", "status"), [
    ("physician", 200), ("pharmacist", 200), ("ops", 403), ("admin", 403), ("centre_a", 403), ("analyst", 403),
])
def test_queue_is_for_panel_physicians_and_pharmacists(client, personas, persona, status):
    client.force_login(personas[persona])
    assert client.get(QUEUE).status_code == status


def test_member_without_a_seat_sees_why_the_queue_is_empty(client, personas):
    client.force_login(personas["physician"])
    response = client.get(QUEUE)
    assert response.context["member"] is None
    assert "no active seat" in response.content.decode()


def test_empty_queue_says_so(client, personas, panel):
    client.force_login(personas["physician"])
    html = client.get(QUEUE).content.decode()
    assert "Nothing awaits your vote" in html
    assert "No open application has your vote." in html
    assert "You are not recused from any open application." in html


def test_queue_sections_awaiting_voted_and_recused(client, personas, panel, centre_a, submitter):
    awaiting = submit_application(centre_a, submitter)
    voted = submit_application(centre_a, submitter)
    declared = submit_application(centre_a, submitter)
    member = panel[PHYSICIAN][0]
    vote(voted, member, "abstain", "Waiting for the CoA")
    services.member_declare_conflict(application_id=declared.pk, user=member.user, reason="Treated the patient")
    other_centre = CentreFactory(code="ctrc", name="Centre C")
    member.affiliations.add(other_centre)
    affiliated = submit_application(other_centre, UserFactory(centre=other_centre))

    client.force_login(member.user)
    response = client.get(QUEUE)
    assert [a.pk for a in response.context["awaiting_items"]] == [awaiting.pk]
    assert [a.pk for a in response.context["voted_items"]] == [voted.pk]
    assert response.context["voted_items"][0].my_vote.choice == "abstain"
    recused = {a.pk: a.recusal_reason for a in response.context["recused_items"]}
    assert recused == {declared.pk: "Treated the patient",
                       affiliated.pk: "Affiliated with the submitting centre ctrc."}
    html = response.content.decode()
    assert reverse("panel:review", args=[awaiting.pk]) in html
    assert "Abstain" in html and "Treated the patient" in html


def test_decided_applications_leave_the_voted_section(client, panel, application):
    for member in [*panel[PHYSICIAN][:3], panel[PHARMACIST][0]]:
        vote(application, member, "approve")
    client.force_login(panel[PHYSICIAN][0].user)
    response = client.get(QUEUE)
    assert list(response.context["voted_items"]) == []
    assert list(response.context["awaiting_items"]) == []


def test_overdue_first_and_marked(client, personas, panel, centre_a, submitter):
    later = submit_application(centre_a, submitter)
    overdue = submit_application(centre_a, submitter)
    OOSApplication.objects.filter(pk=overdue.pk).update(sla_due_at=timezone.now() - dt.timedelta(hours=5))
    client.force_login(personas["physician"])
    response = client.get(QUEUE)
    rows = response.context["awaiting_items"]
    assert [a.pk for a in rows] == [overdue.pk, later.pk]
    assert rows[0].sla["overdue"] and rows[0].sla["text"].startswith("Overdue by 5")
    assert not rows[1].sla["overdue"] and rows[1].sla["text"].endswith("left")
    assert '<span class="badge fail">Overdue by' in response.content.decode()


def test_sla_state_is_paused_while_the_centre_answers():
    now = timezone.now()
    application = OOSApplication(status="info_requested", sla_due_at=now - dt.timedelta(days=1), sla_paused_at=now)
    assert sla_state(application, now)["kind"] == "paused"
    assert sla_state(OOSApplication(status="under_review"), now)["kind"] == "none"


def test_queue_is_paginated(client, personas, panel, centre_a, submitter, settings):
    for _ in range(QUEUE_PAGE_SIZE + 1):
        submit_application(centre_a, submitter, fail_viability=False)
    client.force_login(personas["physician"])
    first = client.get(QUEUE)
    assert len(first.context["awaiting_items"]) == QUEUE_PAGE_SIZE
    assert "?page=2" in first.content.decode()
    second = client.get(QUEUE, {"page": 2})
    assert len(second.context["awaiting_items"]) == 1
    assert client.get(QUEUE, {"page": "abc"}).status_code == 200


def _fill(count, centre, submitter, member):
    # A third of each section: awaiting, voted on, recused.
    for index in range(count):
        application = submit_application(centre, submitter, fail_viability=False)
        if index % 3 == 1:
            vote(application, member, "approve")
        elif index % 3 == 2:
            services.member_declare_conflict(application_id=application.pk, user=member.user, reason="Conflict")


@pytest.mark.parametrize("count", [3, 30])
def test_queue_queries_do_not_grow_with_applications(client, panel, centre_a, submitter, count,
                                                     django_assert_max_num_queries):
    member = panel[PHYSICIAN][0]
    _fill(count, centre_a, submitter, member)
    client.force_login(member.user)
    with django_assert_max_num_queries(14):
        response = client.get(QUEUE)
    assert response.context["awaiting"].paginator.count == count // 3
    assert response.context["voted"].paginator.count == count // 3
    assert response.context["recused"].paginator.count == count // 3


def test_a_long_queue_counts_up_to_the_cap_and_says_there_are_more(client, personas, panel, centre_a, submitter,
                                                                   monkeypatch):
    from panel import views_review

    monkeypatch.setattr(views_review, "QUEUE_COUNT_CAP", 3)
    monkeypatch.setattr(views_review, "QUEUE_PAGE_SIZE", 2)
    for _ in range(5):
        submit_application(centre_a, submitter, fail_viability=False)
    client.force_login(personas["physician"])
    response = client.get(QUEUE)
    paginator = response.context["awaiting"].paginator
    assert (paginator.capped, paginator.count, paginator.num_pages) == (True, 3, 2)
    html = response.content.decode()
    assert "Awaiting my vote <small class=\"muted\">(more than 3)</small>" in html
    assert "Page 1 of 2 (the 3 most urgent listed)" in html
    # Below the cap the count is exact.
    assert response.context["voted"].paginator.count_label == "0"
    assert not response.context["voted"].paginator.capped
