"""Report snapshots: requested, computed under the lock, made current only when complete, audited."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from django.core.management import CommandError, call_command

from analytics import locks, services
from analytics.models import CohortReport, MatchedControlSet, ReportStatus
from analytics.tasks import nightly_recompute
from audit.models import AuditEvent
from cases.errors import DomainError
from tests.analytics.conftest import CHECK_CONTRACT


def _complete(actor=None, **filters):
    snapshot, created = services.request_recompute(actor=actor, filters=filters, queue=False)
    assert created
    return services.run_recompute(snapshot.pk)


@pytest.mark.django_db
def test_a_completed_snapshot_becomes_current_and_conforms_to_the_contract(registry, people, tmp_path):
    snapshot = _complete(people["analyst"])
    assert snapshot.status == ReportStatus.COMPLETE and snapshot.is_current and snapshot.progress == 100
    assert snapshot.n_cases == 981 and snapshot.report["n_cases"] == 981
    assert snapshot.control_seed == MatchedControlSet.objects.get(is_current=True).seed
    assert snapshot.data_as_of <= snapshot.finished_at and snapshot.started_at <= snapshot.finished_at
    assert snapshot.report["cohorts"]["control"] == 38
    path = tmp_path / "report.json"
    path.write_text(json.dumps(snapshot.report, allow_nan=False), encoding="utf-8")
    done = subprocess.run([sys.executable, str(CHECK_CONTRACT), "--report", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    codes = list(AuditEvent.objects.filter(object_id=str(snapshot.pk), object_type="analytics.cohortreport")
                 .order_by("id").values_list("code", flat=True))
    assert codes == ["analytics.report.requested", "analytics.report.completed"]


@pytest.mark.django_db
def test_plots_are_well_formed_svg_with_numbers_at_risk(registry):
    snapshot = _complete()
    assert set(snapshot.plots) == {"flow", "km_os", "km_pfs", "forest"}
    for name, svg in snapshot.plots.items():
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg"), name
        assert "<script" not in svg and "style=" not in svg and "onload" not in svg
    assert "Number at risk" in snapshot.plots["km_os"] and "Matched controls" in snapshot.plots["km_os"]
    # 38 controls at month 0 in the OS numbers-at-risk row, 981 cases in Figure 1
    assert ">38</text>" in snapshot.plots["km_os"] and "981 cases" in snapshot.plots["flow"]
    assert "Hazard ratio" in snapshot.plots["forest"]


@pytest.mark.django_db
def test_a_new_snapshot_replaces_the_old_only_for_its_filters(registry):
    first = _complete()
    tisa = _complete(product="tisa-cel")
    second = _complete()
    first.refresh_from_db()
    tisa.refresh_from_db()
    assert not first.is_current and second.is_current and tisa.is_current
    assert tisa.filter_key == "product=tisa-cel" and tisa.n_cases == 176
    assert CohortReport.objects.filter(is_current=True).count() == 2


@pytest.mark.django_db
def test_a_failed_run_leaves_the_previous_report_current(registry, monkeypatch):
    good = _complete()
    snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)

    def broken(*args, **kwargs):
        raise ArithmeticError("singular matrix")

    monkeypatch.setattr(services, "build_report", broken)
    with pytest.raises(ArithmeticError):
        services.run_recompute(snapshot.pk)
    snapshot.refresh_from_db()
    good.refresh_from_db()
    assert snapshot.status == ReportStatus.FAILED and not snapshot.is_current
    assert "singular matrix" in snapshot.error and snapshot.report is None
    assert good.is_current
    assert AuditEvent.objects.filter(code="analytics.report.failed", object_id=str(snapshot.pk)).exists()


@pytest.mark.django_db
def test_progress_is_written_while_the_report_runs(registry, monkeypatch):
    seen = []
    original = services._set_progress

    def spy(snapshot_id, percent, message):
        original(snapshot_id, percent, message)
        seen.append(CohortReport.objects.values_list("progress", "progress_message").get(pk=snapshot_id))

    monkeypatch.setattr(services, "_set_progress", spy)
    _complete()
    percents = [p for p, _ in seen]
    assert percents == sorted(percents) and percents[0] == 10 and 90 <= percents[-1] <= 99
    assert any("survival" in m for _, m in seen)


@pytest.mark.django_db
def test_a_second_request_while_one_runs(registry):
    running, created = services.request_recompute(actor=None, filters={}, queue=False)
    again, created_again = services.request_recompute(actor=None, filters={"scope": "paper"}, queue=False)
    assert created and not created_again and again.pk == running.pk
    with pytest.raises(services.RecomputeBusy) as busy:
        services.request_recompute(actor=None, filters={"product": "axi-cel"}, queue=False)
    assert busy.value.running.pk == running.pk
    # the nightly run joins a running unfiltered recompute, and skips while another one runs
    assert nightly_recompute.run() == {"id": running.pk, "created": False}
    CohortReport.objects.filter(pk=running.pk).update(filters={"product": "axi-cel"}, filter_key="product=axi-cel")
    assert nightly_recompute.run() == {"skipped": True, "running": running.pk}


@pytest.mark.django_db
def test_the_lock_refuses_a_second_holder(registry):
    with locks.recompute_lock() as first:
        assert first
        if locks.connection.vendor != "postgresql":  # an advisory lock is re-entrant within one session
            with locks.recompute_lock() as second:
                assert not second
    assert locks.lock_is_free()


@pytest.mark.django_db
def test_a_run_that_cannot_take_the_lock_fails_without_computing(registry, monkeypatch):
    snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)
    monkeypatch.setattr(locks, "_try_advisory", lambda: False)
    monkeypatch.setattr(locks, "_try_lease", lambda holder: False)
    services.run_recompute(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == ReportStatus.FAILED and "Another recompute" in snapshot.error


@pytest.mark.django_db
def test_a_redelivered_task_is_not_computed_twice_and_orphans_are_failed(registry):
    snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)
    CohortReport.objects.filter(pk=snapshot.pk).update(started_at=snapshot.requested_at, progress=40)
    # started, and no worker holds the lock: the worker died; a new request marks it failed
    assert services.fail_orphans() == 1
    snapshot.refresh_from_db()
    assert snapshot.status == ReportStatus.FAILED and "Interrupted" in snapshot.error
    again, _ = services.request_recompute(actor=None, filters={}, queue=False)
    CohortReport.objects.filter(pk=again.pk).update(started_at=again.requested_at)
    services.run_recompute(again.pk)
    again.refresh_from_db()
    assert again.status == ReportStatus.FAILED and "not retried" in again.error and again.report is None


@pytest.mark.django_db
def test_unknown_filters_are_refused_with_the_field(registry):
    for filters, field in (({"product": "nope"}, "product"), ({"era": 3}, "era"), ({"centre": "x"}, "centre"),
                           ({"scope": "x"}, "scope"), ({"indication": "ZZ"}, "indication"), ({"era": "a"}, "era")):
        with pytest.raises(DomainError) as error:
            services.request_recompute(actor=None, filters=filters, queue=False)
        assert error.value.field == field
    assert not CohortReport.objects.exists()


@pytest.mark.django_db
def test_recompute_reports_goes_through_celery_and_writes_the_json(registry, tmp_path, monkeypatch):
    # Celery is eager in the test suite, so the queued task runs when the request commits; the test's
    # own transaction never commits, so commit callbacks run at once here.
    monkeypatch.setattr(services.transaction, "on_commit", lambda fn, *a, **k: fn())
    path = tmp_path / "report.json"
    call_command("recompute_reports", "--json", str(path), "--timeout", "20",
                 stdout=open("/dev/null", "w"))  # noqa: SIM115
    snapshot = CohortReport.objects.get(is_current=True, filter_key="")
    assert snapshot.trigger == "command" and snapshot.task_id
    assert json.loads(path.read_text(encoding="utf-8"))["generated_at"] == snapshot.report["generated_at"]


@pytest.mark.django_db
def test_recompute_reports_exits_non_zero_when_the_report_fails(registry, monkeypatch):
    monkeypatch.setattr(services, "build_report", lambda *a, **k: 1 / 0)
    with pytest.raises(CommandError, match="failed") as failure:
        call_command("recompute_reports", "--sync", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert failure.value.returncode != 0
    with pytest.raises(CommandError, match="No product"):
        call_command("recompute_reports", "--sync", "--product", "zzz", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.django_db
def test_regenerating_the_control_set_records_the_seed_and_is_reproducible(registry, people):
    first = services.regenerate_control_set(actor=people["analyst"], seed=7)
    pairs_first = set(first.pairs.values_list("mf_case_id", "control_case_id"))
    second = services.regenerate_control_set(actor=people["analyst"], seed=7)
    assert set(second.pairs.values_list("mf_case_id", "control_case_id")) == pairs_first
    assert len(pairs_first) == 38 and MatchedControlSet.objects.filter(is_current=True).get() == second
    event = AuditEvent.objects.filter(code="analytics.control_set.regenerated").latest("id")
    assert event.context["seed"] == 7 and event.actor == people["analyst"]
    for mf_id, control_id in pairs_first:
        mf, control = (registry_case(mf_id), registry_case(control_id))
        assert mf.product_id == control.product_id and mf.indication == control.indication
    with pytest.raises(DomainError, match="seed"):
        services.regenerate_control_set(actor=people["analyst"], seed=-1)


def registry_case(pk):
    from cases.models import Case

    return Case.objects.get(pk=pk)
