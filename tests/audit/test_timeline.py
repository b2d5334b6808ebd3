"""The audit timeline: one chronological view over events and row history, for admins only."""

import datetime as dt

import pytest
from django.utils import timezone

from audit import timeline
from audit.services import audit_log
from tests.api.conftest import submit_application
from tests.factories import CaseFactory
from tests.panel.factories import PanelMemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(personas, centre_a, centre_b):
    case = CaseFactory(patient__centre=centre_a)
    case.ecog, case._history_user = 3, personas["admin"]
    case.save()
    for _ in range(5):
        PanelMemberFactory(role="physician")
    application = submit_application(centre_b)
    audit_log(code="accounts.login", actor=personas["ops"], obj=personas["ops"], ip="10.0.0.7")
    return {"case": case, "application": application}


def test_history_changes_carry_field_level_before_and_after(trail):
    entries = list(timeline.iterate(timeline.TimelineFilters(event_type="history", centre="ctra")))
    changed = [e for e in entries if e.kind == "history.cases.case.changed"]
    assert len(changed) == 1 and changed[0].changes == {"ecog": [1, 3]} and changed[0].actor == "admin"
    assert changed[0].role == "admin"


def test_events_and_history_are_merged_newest_first(trail):
    entries = timeline.page(timeline.TimelineFilters(), offset=0, limit=500)
    assert {e.kind.split(".")[0] for e in entries} >= {"history", "accounts", "panel"}
    times = [e.when for e in entries]
    assert times == sorted(times, reverse=True)
    assert timeline.count(timeline.TimelineFilters()) == len(entries)
    login = next(e for e in entries if e.kind == "accounts.login")
    assert login.ip == "10.0.0.7" and login.actor == "ops" and login.role == "ops_manager"


def test_passwords_never_appear_in_history_diffs(personas):
    user = personas["analyst"]
    user.set_password("another-long-password")
    user.save()
    for entry in timeline.iterate(timeline.TimelineFilters(event_type="history", user="")):
        assert "pbkdf2" not in str(entry.changes) and "md5$" not in str(entry.changes)


@pytest.mark.parametrize("filters,expect", [
    ({"centre": "ctrb"}, lambda e: e.centre in ("ctrb", "")),
    ({"event_type": "panel.application"}, lambda e: e.kind.startswith("panel.application.")),
    ({"event_type": "accounts.login"}, lambda e: e.kind == "accounts.login"),
    ({"user": "ops"}, lambda e: e.actor == "ops"),
])
def test_filters_narrow_the_trail(trail, filters, expect):
    entries = list(timeline.iterate(timeline.TimelineFilters(**filters)))
    assert entries and all(expect(e) for e in entries)
    assert len(entries) < timeline.count(timeline.TimelineFilters())


def test_application_filter_gives_its_events_and_history(trail):
    application = trail["application"]
    entries = list(timeline.iterate(timeline.TimelineFilters(application=application.pk)))
    kinds = {e.kind for e in entries}
    assert {"panel.application.created", "panel.application.submitted",
            "history.panel.oosapplication.changed", "history.panel.recusal.created"} <= kinds or \
        {"panel.application.submitted", "history.panel.oosapplication.changed"} <= kinds
    assert not any(e.object_type == "cases.case" for e in entries)


def test_product_filter_and_date_window(trail):
    product = trail["case"].product.code
    assert all("case" in e.object_type or "application" in e.object_type or e.kind.startswith("panel")
               for e in timeline.iterate(timeline.TimelineFilters(product=product)))
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert timeline.count(timeline.TimelineFilters(date_from=tomorrow)) == 0
    assert timeline.count(timeline.TimelineFilters(date_to=timezone.localdate())) > 0


def test_the_page_is_for_admins_only(client, personas, trail):
    for role in ("centre_a", "physician", "ops", "analyst"):
        client.force_login(personas[role])
        assert client.get("/audit/").status_code == 403
    client.logout()
    assert client.get("/audit/").status_code == 302


def test_the_page_lists_filters_and_paginates(client, personas, trail, django_assert_max_num_queries):
    client.force_login(personas["admin"])
    response = client.get("/audit/?event_type=accounts.login")
    assert response.status_code == 200 and b"10.0.0.7" in response.content and b"signed in" in response.content
    # Bounded by the number of tracked tables (two reads each), never by the page or the trail.
    with django_assert_max_num_queries(60):
        page = client.get("/audit/?page=1")
    assert page.status_code == 200 and b"Page 1 of" in page.content
    partial = client.get("/audit/?user=ops", headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and b"ops" in partial.content
    assert client.get("/audit/?date_from=2030-01-02&date_to=2030-01-01").status_code == 200
    empty = client.get("/audit/?user=nobody")
    assert b"No audit entries match" in empty.content
    assert client.get(f"/audit/?application={trail['application'].pk}").content.count(b"dossier.pdf") == 1


def test_page_queries_do_not_grow_with_the_trail(client, personas, trail, django_assert_max_num_queries):
    client.force_login(personas["admin"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        client.get("/audit/?event_type=accounts")
    for n in range(120):
        audit_log(code="accounts.login", actor=personas["ops"], obj=personas["ops"], context={"n": n})
    with django_assert_max_num_queries(len(first) + 2):
        client.get("/audit/?event_type=accounts")
