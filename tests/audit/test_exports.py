"""Audit exports (CSV, XLSX, PDF; in the request or in the background), the dossier and the report."""

import csv
import io

import pytest
from django.utils import timezone

from audit import exports, timeline
from audit.models import AuditEvent, AuditExport, ExportStatus
from audit.services import audit_log
from tests.api.conftest import PHARMACIST, PHYSICIAN, submit_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, personas):
    client.force_login(personas["admin"])
    return client


@pytest.mark.parametrize("value,expected", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (None, ""), (12, "12"),
])
def test_cells_are_safe_against_formula_injection(value, expected):
    assert exports.safe_cell(value) == expected


def _download(response) -> bytes:
    return b"".join(response.streaming_content)


def test_small_csv_export_is_immediate_safe_and_audited(admin_client, personas):
    audit_log(code="accounts.login_failed", context={"username": "=cmd|' /C calc'!A0"})
    response = admin_client.post("/audit/exports/", {"format": "csv", "event_type": "accounts.login_failed"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment") and response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(_download(response).decode())))
    assert rows[0] == timeline.COLUMNS and len(rows) == 2
    assert rows[1][1] == "accounts.login_failed" and rows[1][9].startswith('{"username": "=cmd')
    codes = set(AuditEvent.objects.values_list("code", flat=True))
    assert {"audit.export.requested", "audit.export.built", "audit.export.downloaded"} <= codes


def test_a_cell_starting_with_a_formula_is_quoted_in_the_file(admin_client, personas):
    personas["ops"].username = "=evil"
    audit_log(code="accounts.logout", actor=personas["ops"])
    body = _download(admin_client.post("/audit/exports/", {"format": "csv", "event_type": "accounts.logout"})).decode()
    assert ",'=evil," in body


def test_xlsx_and_pdf_exports(admin_client, personas):
    from openpyxl import load_workbook

    for n in range(3):
        audit_log(code="accounts.logout", actor=personas["ops"], context={"n": n})
    xlsx = _download(admin_client.post("/audit/exports/", {"format": "xlsx", "event_type": "accounts.logout"}))
    sheet = load_workbook(io.BytesIO(xlsx), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == timeline.COLUMNS and len(rows) == 4
    pdf = _download(admin_client.post("/audit/exports/", {"format": "pdf", "event_type": "accounts.logout"}))
    assert pdf.startswith(b"%PDF")


def test_large_export_goes_to_the_worker_with_progress(admin_client, personas, settings,
                                                      django_capture_on_commit_callbacks):
    settings.AUDIT_EXPORT_ASYNC_ROWS = 5
    for n in range(12):
        audit_log(code="accounts.logout", actor=personas["ops"], context={"n": n})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post("/audit/exports/", {"format": "csv", "event_type": "accounts.logout"})
    export = AuditExport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/audit/exports/{export.pk}/"
    polling = admin_client.get(f"/audit/exports/{export.pk}/", headers={"HX-Request": "true"})
    assert b'hx-trigger="every 1s"' in polling.content and b"<progress" in polling.content
    assert admin_client.get(f"/audit/exports/{export.pk}/download/").status_code == 404
    for callback in callbacks:
        callback()  # the worker runs the task (eager in tests)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE and export.done == 12 and export.total == 12
    done = admin_client.get(f"/audit/exports/{export.pk}/", headers={"HX-Request": "true"})
    assert b"hx-trigger" not in done.content and b"Download" in done.content
    body = _download(admin_client.get(f"/audit/exports/{export.pk}/download/")).decode()
    assert body.count("accounts.logout") == 12
    assert b"Download" in admin_client.get("/audit/exports/").content


def test_iteration_streams_in_chunks(personas):
    for n in range(7):
        audit_log(code="accounts.logout", actor=personas["ops"], context={"n": n})
    entries = list(timeline.iterate(timeline.TimelineFilters(event_type="accounts.logout"), chunk_size=3))
    assert [e.context["n"] for e in entries] == list(range(7))


def test_exports_of_another_admin_are_not_served(client, personas):
    from tests.factories import UserFactory

    other = UserFactory(role="admin")
    export = AuditExport.objects.create(requested_by=other, format="csv", status=ExportStatus.DONE)
    client.force_login(UserFactory(role="admin"))
    assert client.get(f"/audit/exports/{export.pk}/download/").status_code == 404


def test_export_pages_are_for_admins(client, personas):
    for role in ("centre_a", "physician", "ops", "analyst"):
        client.force_login(personas[role])
        assert client.get("/audit/exports/").status_code == 403
        assert client.post("/audit/exports/", {"format": "csv"}).status_code == 403
        assert client.get("/audit/performance/").status_code == 403


def test_export_form_rejects_bad_input(admin_client):
    response = admin_client.post("/audit/exports/", {"format": "exe", "date_from": "2024-02-01",
                                                     "date_to": "2024-01-01"})
    assert response.status_code == 400 and b"end date is before" in response.content
    assert not AuditExport.objects.exists()


def test_one_month_export_from_the_browser(admin_client, personas):
    audit_log(code="accounts.logout", actor=personas["ops"])
    today = timezone.localdate()
    first = today.replace(day=1)
    body = _download(admin_client.post("/audit/exports/", {"format": "csv", "date_from": first.isoformat(),
                                                           "date_to": today.isoformat()})).decode()
    assert "accounts.logout" in body
    before = _download(admin_client.post("/audit/exports/", {"format": "csv", "date_to": "2000-01-31"})).decode()
    assert before.count("\n") == 1


@pytest.fixture
def decided(api_as, panel, centre_a):
    application = submit_application(centre_a)
    url = f"/api/v1/applications/{application.pk}/votes/"
    api_as(panel[PHYSICIAN][0].user).post(url, {"choice": "decline", "comment": "Too low"}, format="json")
    api_as(panel[PHYSICIAN][0].user).post(url, {"choice": "approve", "comment": "Reassured"}, format="json")
    for member in panel[PHYSICIAN][1:3] + panel[PHARMACIST][:1]:
        api_as(member.user).post(url, {"choice": "approve"}, format="json")
    return application


def test_application_audit_and_dossier(admin_client, decided):
    body = _download(admin_client.post("/audit/exports/", {"format": "csv", "application": decided.pk})).decode()
    for code in ("panel.application.submitted", "panel.vote.cast", "panel.vote.changed", "panel.decision.made"):
        assert code in body
    dossier = admin_client.get(f"/audit/applications/{decided.pk}/dossier.pdf")
    assert dossier.status_code == 200 and dossier.content.startswith(b"%PDF")
    assert dossier["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(code="audit.dossier.downloaded", context__application=decided.pk).exists()
    assert admin_client.get(f"/audit/applications/dossier/?application={decided.pk}").status_code == 302
    assert admin_client.get("/audit/applications/dossier/?application=x").status_code == 404
    assert admin_client.get("/audit/applications/999999/dossier.pdf").status_code == 404


def test_dossier_content(decided):
    from audit.dossier import dossier_facts

    facts = dossier_facts(decided)
    assert [h.history_type for h in facts["vote_history"]][:2] == ["+", "~"]
    assert facts["decision"].outcome == "approved" and len(facts["votes"]) == 4


def test_performance_report_page_and_csv(admin_client, decided, centre_a):
    submit_application(centre_a)
    page = admin_client.get("/audit/performance/")
    assert page.status_code == 200 and b"<svg" in page.content and b"<script" not in page.content.split(
        b"<main")[-1]
    response = admin_client.get("/audit/performance/?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode()).read().split("\r\n\r\n")[0].splitlines()))
    overall = rows[-1]
    assert overall["period"] == "overall" and overall["applications"] == "2" and overall["decided"] == "1"
    assert float(overall["approval_rate"]) == 1.0
    assert AuditEvent.objects.filter(code="audit.performance.exported").exists()


def test_performance_figures():
    from audit.performance import percentile

    assert percentile([], 0.5) is None
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)


def test_an_unreachable_worker_is_reported_on_the_export(admin_client, personas, settings, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    from audit import tasks

    settings.AUDIT_EXPORT_ASYNC_ROWS = 1

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.build_audit_export, "delay", refuse)
    audit_log(code="accounts.logout", actor=personas["ops"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/audit/exports/", {"format": "csv"})
    export = AuditExport.objects.get()
    assert response.status_code == 302 and export.status == ExportStatus.FAILED
    page = admin_client.get(f"/audit/exports/{export.pk}/")
    assert b"could not be reached" in page.content and b'id="export-progress" hx-get' not in page.content
