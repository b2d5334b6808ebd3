"""The analyst pages: access by role, the report laid out as the paper's tables, recompute with progress,
downloads (PDF, XLSX, the audited dataset CSV) and control-set regeneration."""

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from analytics import services
from analytics.models import CohortReport, MatchedControlSet, ReportStatus
from audit.models import AuditEvent

READERS = ("analyst", "admin", "ops_manager")
OTHERS = ("centre_user", "panel_physician", "panel_pharmacist")


@pytest.fixture
def current(registry):
    snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)
    return services.run_recompute(snapshot.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("role", READERS + OTHERS)
def test_only_report_roles_see_the_report_pages(client, people, role, current):
    client.force_login(people[role])
    urls = [reverse("analytics:report"), reverse("analytics:control_sets"),
            reverse("analytics:report_pdf", args=[current.pk]), reverse("analytics:dataset_csv"),
            reverse("analytics:progress", args=[current.pk])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == (200 if role in READERS else 403), (url, response.status_code)
    assert client.post(reverse("analytics:recompute")).status_code == (302 if role in READERS else 403)


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_log_in(client, current):
    response = client.get(reverse("analytics:report"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.django_db
def test_the_report_page_shows_the_papers_tables_plots_and_methods(client, people, current,
                                                                   django_assert_max_num_queries):
    client.force_login(people["analyst"])
    with django_assert_max_num_queries(15):
        response = client.get(reverse("analytics:report"))
    html = response.content.decode()
    for text in ("Manufacturing failure rate by product and era", "Figure 1", "Failure reasons", "Table 1",
                 "Kaplan–Meier estimates", "Log-rank", "Cox proportional hazards", "Response and toxicity",
                 "Apheresis labs", "Methods", "Data as of", "Number at risk", "Hazard ratio"):
        assert text in html, text
    assert "28" in html and "805" in html and "4.75 (1.21–18.74)" in html
    # the era note: the paper's 0.74 and what Fisher's test gives
    assert "P = 0.74" in html and "gives p = 0.869" in html
    assert "<svg" in html and "<script>" not in html and "onclick" not in html
    assert reverse("analytics:report_pdf", args=[current.pk]) in html


@pytest.mark.django_db
def test_the_page_has_an_empty_state_and_refuses_bad_filters_without_500(client, people, registry):
    client.force_login(people["ops_manager"])
    response = client.get(reverse("analytics:report"))
    assert response.status_code == 200 and "No report has been computed" in response.content.decode()
    response = client.get(reverse("analytics:report"), {"product": "nope", "era": "9"})
    assert response.status_code == 200 and "not valid" in response.content.decode()
    assert client.get(reverse("analytics:report"), {"snapshot": "999999"}).status_code == 404
    assert client.get(reverse("analytics:report"), {"page": "abc"}).status_code == 200


@pytest.mark.django_db
def test_the_recompute_button_starts_a_run_and_htmx_polls_its_progress(client, people, registry, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda pk: None)  # the worker has not picked it up yet
    client.force_login(people["analyst"])
    response = client.post(reverse("analytics:recompute"), {"product": "axi-cel"}, HTTP_HX_REQUEST="true")
    snapshot = CohortReport.objects.get()
    html = response.content.decode()
    assert response.status_code == 200 and snapshot.filters == {"product": "axi-cel"}
    assert snapshot.requested_by == people["analyst"] and snapshot.trigger == "page"
    assert f'hx-get="{reverse("analytics:progress", args=[snapshot.pk])}"' in html and 'hx-trigger="every 1s"' in html
    # another filter while it runs: refused with a message, the running one shown
    response = client.post(reverse("analytics:recompute"), {"product": "tisa-cel"}, HTTP_HX_REQUEST="true")
    assert "being computed" in response.content.decode() and CohortReport.objects.count() == 1
    services.run_recompute(snapshot.pk)
    response = client.get(reverse("analytics:progress", args=[snapshot.pk]), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("analytics:report") + "?product=axi-cel"
    assert "hx-trigger" not in response.content.decode()


@pytest.mark.django_db
def test_a_failed_run_shows_its_error_and_stops_polling(client, people, registry, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda pk: None)
    client.force_login(people["analyst"])
    client.post(reverse("analytics:recompute"), {})
    snapshot = CohortReport.objects.get()
    monkeypatch.setattr(services, "build_report", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.run_recompute(snapshot.pk)
    response = client.get(reverse("analytics:progress", args=[snapshot.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "failed" in html and "ZeroDivisionError" in html and "hx-trigger" not in html


@pytest.mark.django_db
def test_pdf_and_xlsx_downloads(client, people, current):
    client.force_login(people["analyst"])
    pdf = client.get(reverse("analytics:report_pdf", args=[current.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    xlsx = client.get(reverse("analytics:report_xlsx", args=[current.pk]))
    assert zipfile.is_zipfile(io.BytesIO(xlsx.content))
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert {"Report", "mf_rates", "table1", "km", "cox", "apheresis_labs"} <= set(workbook.sheetnames)
    rows = [[c.value for c in row] for row in workbook["mf_rates"].iter_rows()]
    assert ["axi-cel", "805", "28", rows[2][3]] == rows[2] and rows[2][3].startswith("3.5")
    assert AuditEvent.objects.filter(code="analytics.report.downloaded").count() == 2
    svg = client.get(reverse("analytics:plot_svg", args=[current.pk, "km_os"]))
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert client.get(reverse("analytics:plot_svg", args=[current.pk, "nope"])).status_code == 404
    assert client.get(reverse("analytics:report_pdf", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_the_dataset_download_has_the_contract_columns_and_is_audited(client, people, registry):
    client.force_login(people["analyst"])
    response = client.get(reverse("analytics:dataset_csv"), {"product": "tisa-cel"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert len(rows) == 176 and {r["product"] for r in rows} == {"tisa-cel"}
    event = AuditEvent.objects.get(code="analytics.dataset.exported")
    assert event.actor == people["analyst"] and event.context == {"filters": {"product": "tisa-cel"}, "rows": 176}
    assert client.get(reverse("analytics:dataset_csv"), {"era": "7"}).status_code == 400


@pytest.mark.django_db
def test_analysts_regenerate_the_control_set_ops_managers_only_read_it(client, people, registry):
    client.force_login(people["ops_manager"])
    assert client.get(reverse("analytics:control_sets")).status_code == 200
    assert client.post(reverse("analytics:control_sets"), {"seed": 5, "confirm": "on"}).status_code == 403
    client.force_login(people["analyst"])
    response = client.post(reverse("analytics:control_sets"), {"seed": "x"})
    assert response.status_code == 400
    response = client.post(reverse("analytics:control_sets"), {"seed": 11, "confirm": "on"})
    assert response.status_code == 302
    current = MatchedControlSet.objects.get(is_current=True)
    assert current.seed == 11 and current.created_by == people["analyst"] and current.pairs.count() == 38
    assert AuditEvent.objects.filter(code="analytics.control_set.regenerated", object_id=str(current.pk)).exists()
    assert ReportStatus.COMPLETE  # reports keep their own recorded seed until recomputed
