"""The report JSON built from the demo registry reproduces the UK panel paper and conforms to CONTRACT.md."""

import json
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from analytics.dataset import load_analysis_data
from analytics.report import build_report, report_from_db
from tests.analytics.conftest import CHECK_CONTRACT


@pytest.fixture(scope="module")
def report(registry, django_db_blocker):
    with django_db_blocker.unblock():
        started = time.perf_counter()
        built = report_from_db()
        # Measured, not asserted: the figure is reported with the test run (pytest -s).
        print(f"\nreport built from the database in {time.perf_counter() - started:.3f} s")
        return built


def by(rows, **keys):
    found = [r for r in rows if all(r.get(k) == v for k, v in keys.items())]
    assert len(found) == 1, (keys, found)
    return found[0]


@pytest.mark.django_db
def test_mf_rates_as_in_the_paper(report):
    assert report["n_cases"] == 981
    counts = {r["group"]: (r["mf"], r["cases"]) for r in report["mf_rates"]}
    assert counts == {"axi-cel": (28, 805), "tisa-cel": (10, 176), "era:1": (17, 462), "era:2": (21, 519),
                      "all": (38, 981)}
    overall = by(report["mf_rates"], group="all")
    assert round(overall["rate"] * 100, 1) == 3.9
    assert overall["lower"] < overall["rate"] < overall["upper"]


@pytest.mark.django_db
def test_era_test_is_fishers_not_the_papers_p(report):
    era = by(report["mf_rate_tests"], name="era")
    assert round(era["fisher_p"], 2) == 0.87
    assert "0.74" in report["methods"]["mf_rate_tests"] and "0.87" in report["methods"]["mf_rate_tests"]
    assert 0 < by(report["mf_rate_tests"], name="product")["fisher_p"] < 1


@pytest.mark.django_db
def test_flow_as_in_the_paper(report):
    flow = report["flow"]
    assert (flow["attempts"], flow["oos"], flow["in_spec_after_remanufacture"], flow["no_product"]) == (59, 20, 13, 26)
    assert flow["by_attempt"] == [
        {"attempt": 1, "oos": 18, "in_spec": 0, "no_product": 20},
        {"attempt": 2, "oos": 2, "in_spec": 11, "no_product": 5},
        {"attempt": 3, "oos": 0, "in_spec": 1, "no_product": 1},
        {"attempt": 4, "oos": 0, "in_spec": 1, "no_product": 0},
    ]


@pytest.mark.django_db
def test_cohorts_and_reasons_as_in_the_paper(report):
    assert report["cohorts"] == {"oos_infused": 13, "delayed_infused": 11, "mf_not_infused": 14, "control": 38,
                                 "control_infused": 29}
    top = report["reasons"][:5]
    assert [r["n"] for r in top] == [8, 8, 6, 6, 4]
    assert {r["reason"] for r in top} == {"low_viability", "low_t_cell_purity", "poor_growth", "low_ifn_gamma",
                                          "low_car_t_dose"}
    assert sum(r["n"] for r in report["reasons"]) == 46


@pytest.mark.django_db
def test_table1_trend_and_fisher_as_in_the_paper(report):
    rows = [(r["variable"], r["level"]) for r in report["table1"]]
    assert rows == [("prior_bendamustine", "any"), ("sex", "F"), ("comorbidity", "1"), ("prior_lines_3plus", "1"),
                    ("holding_therapy", "1"), ("ecog", ">=1")]
    benda = by(report["table1"], variable="prior_bendamustine")
    assert (benda["mf_n"], benda["control_n"]) == (11, 3)
    assert (round(benda["or"], 2), round(benda["lower"], 2), round(benda["upper"], 2)) == (4.75, 1.21, 18.74)
    assert round(benda["p"], 3) == 0.026
    trend = by(report["trend"], variable="prior_bendamustine")
    assert trend["categories"] == ["none", ">6m", "<6m", "<3m"]
    assert round(trend["p"], 4) == 0.0029
    transplant = by(report["fisher"], name="transplant_by_mf")
    assert transplant["table"] == [[28, 5, 3], [32, 6, 0]] and transplant["method"] == "fisher"
    assert round(transplant["p"], 2) == 0.26
    names = {f["name"] for f in report["fisher"]}
    assert {"response_by_infused_cohort", "crs_any_oos_vs_control", "crs_grade3plus_oos_vs_control",
            "icans_any_oos_vs_control"} <= names


@pytest.mark.django_db
def test_survival_sections_cover_the_contract_pairs(report):
    km = {(r["endpoint"], r["cohort"]): r for r in report["km"]}
    assert set(km) == {("os", "oos_infused"), ("os", "delayed_infused"), ("os", "mf_not_infused"), ("os", "control"),
                       ("pfs", "oos_infused"), ("pfs", "delayed_infused"), ("pfs", "control")}
    assert km[("os", "control")]["n"] == 38 and km[("pfs", "control")]["n"] == 29
    assert [a["days"] for a in km[("os", "oos_infused")]["at"]] == [182.6, 365.25]
    pairs = {(r["endpoint"], r["cohort"], r["reference"]) for r in report["cox"]}
    expected = {("os", "oos_infused", "control"), ("os", "delayed_infused", "control"),
                ("os", "mf_not_infused", "control"), ("os", "oos_infused", "delayed_infused"),
                ("pfs", "oos_infused", "control"), ("pfs", "delayed_infused", "control"),
                ("pfs", "oos_infused", "delayed_infused")}
    assert pairs == expected
    assert {(r["endpoint"], r["cohort"], r["reference"]) for r in report["ph_test"]} == expected
    assert all(r["hr"] > 0 and r["lower"] < r["hr"] < r["upper"] for r in report["cox"])
    logrank = {r["endpoint"]: r for r in report["logrank"]}
    assert logrank["os"]["groups"] == ["oos_infused", "delayed_infused", "mf_not_infused", "control"]
    assert logrank["pfs"]["groups"] == ["oos_infused", "delayed_infused", "control"]
    # MF-not-infused patients die sooner than their controls (the paper's finding).
    assert by(report["cox"], endpoint="os", cohort="mf_not_infused")["p"] < 0.05


@pytest.mark.django_db
def test_methods_state_each_choice(report):
    methods = report["methods"]
    for key in ("mf_rates", "km", "cox", "logrank", "ph_test", "table1", "trend", "fisher", "prior_bendamustine"):
        assert methods[key]
    assert "Efron" in methods["cox"] and "log-log" in methods["km"] and "182.6" in methods["prior_bendamustine"]


@pytest.mark.django_db
def test_filters_change_the_cases_reported(registry):
    tisa = report_from_db(product="tisa-cel")
    assert tisa["n_cases"] == 176
    assert [(r["group"], r["mf"]) for r in tisa["mf_rates"] if r["group"] == "all"] == [("all", 10)]
    everything = report_from_db(paper_cohort=False)
    assert everything["n_cases"] == 1021 and by(everything["mf_rates"], group="all")["mf"] == 38


@pytest.mark.django_db
def test_a_filter_matching_no_case_gives_an_empty_but_valid_report(registry):
    empty = build_report(load_analysis_data(centre="no-such-centre"))
    assert empty["n_cases"] == 0
    assert by(empty["mf_rates"], group="all")["rate"] is None
    assert empty["flow"]["attempts"] == 0 and empty["cohorts"]["control"] == 0
    json.dumps(empty, allow_nan=False)


@pytest.mark.django_db
def test_recompute_reports_sync_json_conforms_to_the_contract(registry, tmp_path):
    path = tmp_path / "report.json"
    call_command("recompute_reports", "--sync", "--json", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["n_cases"] == 981 and written["cohorts"]["control"] == 38
    export = tmp_path / "analysis.csv"
    call_command("export_analysis", str(export), stdout=open("/dev/null", "w"))  # noqa: SIM115
    done = subprocess.run([sys.executable, str(CHECK_CONTRACT), "--export", str(export), "--report", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.mark.django_db
def test_recompute_reports_fails_with_a_clear_message_and_nonzero_status(registry, tmp_path):
    with pytest.raises(CommandError, match="Cannot write") as failure:
        call_command("recompute_reports", "--sync", "--json", str(tmp_path / "missing" / "report.json"),
                     stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert failure.value.returncode != 0


@pytest.mark.django_db
def test_apheresis_labs_medians_and_rank_tests_per_cohort(report):
    labs = {row["lab"]: row for row in report["apheresis_labs"]}
    assert {"wbc", "neutrophils", "lymphocytes", "platelets", "cd3_per_ul", "ldh", "crp"} <= set(labs)
    wbc = labs["wbc"]
    groups = {g["cohort"]: g for g in wbc["groups"]}
    assert set(groups) == {"mf", "oos_infused", "delayed_infused", "mf_not_infused", "control"}
    assert groups["mf"]["n"] <= 38 and groups["control"]["n"] <= 38 and groups["mf"]["n"] > 30
    assert groups["mf"]["q1"] <= groups["mf"]["median"] <= groups["mf"]["q3"]
    # R's rule picks the method: exact only for fewer than 50 values per group and no ties
    assert wbc["wilcoxon_mf_vs_control"]["method"] in ("exact", "normal")
    assert 0 < wbc["wilcoxon_mf_vs_control"]["p"] <= 1
    assert wbc["kruskal_cohorts"]["df"] == 3 and 0 < wbc["kruskal_cohorts"]["p"] <= 1


@pytest.mark.django_db
def test_apheresis_labs_equal_the_rank_tests_on_the_dataset(registry):
    import numpy as np

    from analytics import stats

    data = load_analysis_data(labs=True)
    joined = data.cases.merge(data.labs, on="case_id", how="left")
    mf = joined.loc[joined["mf"] == 1, "crp"].dropna().to_numpy(float)
    control = joined.loc[joined["cohort"] == "control", "crp"].dropna().to_numpy(float)
    built = {r["lab"]: r for r in build_report(data)["apheresis_labs"]}["crp"]
    assert built["wilcoxon_mf_vs_control"] == stats.rank_sum(mf, control)
    assert {g["cohort"]: g["median"] for g in built["groups"]}["mf"] == float(np.median(mf))
