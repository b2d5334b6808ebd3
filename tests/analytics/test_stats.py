"""analytics.stats against the values R computed (tests/reference/expected.json) and the paper's numbers."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import stats

REF = Path(__file__).resolve().parents[1] / "reference"
EXPECTED = json.loads((REF / "expected.json").read_text())
REL, ABS = 1e-6, 1e-6


def assert_same(actual, expected, path="value"):
    """Every number within 1e-6 (relative where large), None exactly where R gave NA."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif expected is None or isinstance(expected, str):
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual is not None, f"{path}: None, R gave {expected}"
        assert math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS), f"{path}: {actual!r} != R {expected!r}"


def _survival():
    return pd.read_csv(REF / "survival.csv")


def _tables():
    long = pd.read_csv(REF / "tables.csv")
    out = {}
    for name, t in long.groupby("name", sort=False):
        m = np.zeros((t["row"].max(), t["col"].max()), dtype=int)
        m[t["row"] - 1, t["col"] - 1] = t["count"]
        out[name] = m
    return out


# --- Kaplan-Meier ---------------------------------------------------------------------------

def _km_cases():
    df = _survival()
    cases = []
    for name, d in df.groupby("dataset", sort=False):
        cases.append((name, d))
        if d["group"].nunique() > 1:
            cases += [(f"{name}:{g}", dg) for g, dg in d.groupby("group")]
    return cases


@pytest.mark.parametrize(("name", "data"), _km_cases(), ids=[c[0] for c in _km_cases()])
def test_km_summary_matches_r(name, data):
    assert_same(stats.km_summary(data["time"], data["event"]), EXPECTED["km"][name], f"km.{name}")


def test_km_reference_covers_the_awkward_cases():
    # Guard the datasets themselves: the cases the issue asks for are present in R's answers.
    km = EXPECTED["km"]
    assert km["plateau"]["median"] == 150  # midpoint of the plateau at exactly 0.5 on [100, 200)
    assert km["zero"]["at"][1]["surv"] == 0 and km["zero"]["at"][1]["lower"] is None
    assert km["short"]["median"] is None and km["short"]["at"][0]["surv"] is None
    assert km["ties"]["at"][0]["n_risk"] == 11  # two subjects censored exactly at 182.6 still at risk


def test_km_empty_cohort():
    assert stats.km_summary([], []) == {
        "n": 0, "events": 0, "median": None, "median_lower": None, "median_upper": None,
        "at": [{"days": 182.6, "surv": None, "lower": None, "upper": None, "n_risk": 0},
               {"days": 365.25, "surv": None, "lower": None, "upper": None, "n_risk": 0}],
    }


def test_km_differs_from_first_crossing_rule_on_plateau():
    # lifelines would say 100 (first t with S <= 0.5); R says the midpoint 150.
    d = _survival().query("dataset == 'plateau'")
    assert stats.km_summary(d["time"], d["event"])["median"] == 150


# --- Log-rank, Cox, cox.zph -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED["logrank"]))
def test_logrank_matches_r(name):
    d = _survival().query("dataset == @name")
    assert_same(stats.logrank(d["time"], d["event"], d["group"]), EXPECTED["logrank"][name], name)


def _pair(name):
    df = _survival()
    if name == "threegroup:2v0":
        d = df.query("dataset == 'threegroup' and group in (0, 2)")
        return d["time"], d["event"], (d["group"] == 2).astype(int)
    d = df.query("dataset == @name")
    return d["time"], d["event"], d["group"]


@pytest.mark.parametrize("name", sorted(EXPECTED["cox"]))
def test_cox_pair_matches_r(name):
    assert_same(stats.cox_pair(*_pair(name)), EXPECTED["cox"][name], name)


@pytest.mark.parametrize("name", sorted(EXPECTED["ph_test"]))
def test_ph_test_matches_r(name):
    assert_same(stats.ph_test(*_pair(name)), EXPECTED["ph_test"][name], name)


def test_cox_without_events_in_an_arm_is_none():
    assert stats.cox_pair([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1]) == {
        "hr": None, "lower": None, "upper": None, "p": None}
    assert stats.ph_test([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1]) == {"chisq": None, "p": None}


def test_logrank_single_group_is_none():
    assert stats.logrank([1, 2, 3], [1, 0, 1], ["a", "a", "a"]) == {"chisq": None, "p": None}


# --- Tables, rates, logistic, trend ---------------------------------------------------------

@pytest.mark.parametrize("name", list(EXPECTED["fisher"]))
def test_fisher_matches_r(name):
    assert_same(stats.fisher(_tables()[name]), EXPECTED["fisher"][name], name)


def test_fisher_switches_to_chisq_above_200_cases_only_for_rxc():
    assert EXPECTED["fisher"]["large_three_by_four"]["method"] == "chisq"
    assert stats.fisher(_tables()["large_two_by_two"])["method"] == "fisher"
    assert stats.drop_empty(_tables()["empty_row"]).tolist() == [[4, 2], [1, 5]]
    assert stats.fisher([[3, 0], [0, 0]]) == {"method": "fisher", "p": None}


def test_fisher_rxc_is_symmetric_in_orientation_and_bounded_in_memory():
    from analytics.stats.fisher_exact import TableTooLarge, fisher_exact_rxc

    t = _tables()["three_by_four"]
    assert math.isclose(fisher_exact_rxc(t.T), EXPECTED["fisher"]["three_by_four"]["p"], rel_tol=1e-9)
    with pytest.raises(TableTooLarge):
        fisher_exact_rxc(t, max_live=10)


@pytest.mark.parametrize("name", list(EXPECTED["binomial"]))
def test_binomial_rate_matches_r(name):
    row = pd.read_csv(REF / "binomial.csv").set_index("name").loc[name]
    assert_same(stats.binomial_rate(row["k"], row["n"]), EXPECTED["binomial"][name], name)


def test_binomial_rate_empty():
    assert stats.binomial_rate(0, 0) == {"rate": None, "lower": None, "upper": None}


@pytest.mark.parametrize("name", list(EXPECTED["logistic"]))
def test_logistic_or_matches_r(name):
    d = pd.read_csv(REF / "logistic.csv").query("name == @name")
    assert_same(stats.logistic_or(d["x"], d["y"]), EXPECTED["logistic"][name], name)


def test_logistic_or_with_an_empty_cell_is_none():
    assert stats.logistic_or([1, 1, 0, 0], [1, 1, 1, 0])["or"] is None


@pytest.mark.parametrize("name", list(EXPECTED["trend"]))
def test_trend_matches_r(name):
    d = pd.read_csv(REF / "trend.csv").query("name == @name")
    assert_same(stats.trend_test(d["score"], d["mf"]), EXPECTED["trend"][name], name)


@pytest.mark.parametrize("name", list(EXPECTED["rank_sum"]))
def test_rank_sum_matches_r(name):
    d = pd.read_csv(REF / "ranks.csv").query("name == @name")
    assert_same(stats.rank_sum(d.query("group == 'a'")["value"], d.query("group == 'b'")["value"]),
                EXPECTED["rank_sum"][name], name)


@pytest.mark.parametrize("name", list(EXPECTED["kruskal"]))
def test_kruskal_matches_r(name):
    d = pd.read_csv(REF / "ranks.csv").query("name == @name")
    groups = [g["value"] for _, g in d.groupby("group")]
    assert_same(stats.kruskal(*groups), EXPECTED["kruskal"][name], name)


# --- The paper's published numbers -----------------------------------------------------------

def test_paper_bendamustine_odds_ratio():
    x = [1] * 11 + [0] * 27 + [1] * 3 + [0] * 35
    y = [1] * 38 + [0] * 38
    res = stats.logistic_or(x, y)
    assert (round(res["or"], 2), round(res["lower"], 2), round(res["upper"], 2), round(res["p"], 3)) == (
        4.75, 1.21, 18.74, 0.026)


def test_paper_bendamustine_trend():
    counts = [(27, 35), (2, 3), (2, 0), (7, 0)]  # none / >6m / <6m / <3m: MF vs controls
    scores, mf = [], []
    for score, (cases, controls) in enumerate(counts, start=1):
        scores += [score] * (cases + controls)
        mf += [1] * cases + [0] * controls
    assert round(stats.trend_test(scores, mf)["p"], 4) == 0.0029


@pytest.mark.parametrize(("name", "k", "n", "percent"),
                         [("mf_axicel", 28, 805, 3.5), ("mf_tisacel", 10, 176, 5.7), ("mf_all", 38, 981, 3.9)])
def test_paper_mf_rates_with_binom_test_ci(name, k, n, percent):
    res = stats.binomial_rate(k, n)
    assert round(100 * res["rate"], 1) == percent
    assert_same(res, EXPECTED["binomial"][name], name)  # R binom.test's exact interval
    assert res["lower"] < res["rate"] < res["upper"]


def test_stats_module_has_no_django_import():
    code = "import sys, analytics.stats; print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REF.parents[1], env={**os.environ, "DJANGO_SETTINGS_MODULE": ""})
    assert out.stdout.strip() == "False"


# --- expected.json is what R says today ---------------------------------------------------------

def test_expected_json_is_current(tmp_path):
    if shutil.which("Rscript") is None:
        if os.environ.get("REQUIRE_R"):
            pytest.fail("REQUIRE_R is set but Rscript is not installed")
        pytest.skip("Rscript not installed (set REQUIRE_R=1 to make this a failure)")
    out = tmp_path / "expected.json"
    subprocess.run(["Rscript", str(REF / "reference.R"), str(out)], check=True, capture_output=True)
    assert_same(json.loads(out.read_text()), EXPECTED, "expected.json")
