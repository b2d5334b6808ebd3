"""The report JSON of CONTRACT.md, built from the analysis dataset.

``build_report`` is pure: data frames in, a JSON-ready dict out (numbers unrounded, None for
values that do not exist). ``report_from_db`` loads the data and builds it. The statistics
themselves are analytics.stats, each equal to the R call CONTRACT.md names.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from django.utils import timezone

from analytics import cohorts as c
from analytics import stats
from analytics.dataset import LAB_FIELDS, AnalysisData, load_analysis_data

METHODS = {
    "cohort": ("the paper's cohort by default (LBCL, axi-cel or tisa-cel, panel approval January 2019 - "
               "January 2023), narrowed by the filters shown in 'filters'"),
    "mf": "manufacturing failure: any attempt out of specification (oos) or with no product",
    "cohorts": ("oos_infused: infused attempt out of specification; delayed_infused: MF, infused attempt in "
                "specification; mf_not_infused: MF, never infused; control: non-MF case of the current matched "
                "control set (1:1, same product, nearest approval date)"),
    "era": "era 1: panel approval before settings.ERA_BOUNDARY (2021-02-01 by default), era 2 from then on",
    "mf_rates": "exact Clopper-Pearson 95% CI (R binom.test)",
    "mf_rate_tests": ("two-sided Fisher exact test of product (or era) x MF over all cases (R fisher.test). The "
                      "paper reports P=0.74 for era 1 (17/462) vs era 2 (21/519); that value is not "
                      "reproducible from its counts: Fisher's exact test gives about 0.87"),
    "flow": ("attempts of the MF cases; in_spec_after_remanufacture: in-specification attempts of MF cases "
             "(necessarily after a failed one); by_attempt counts each attempt number's outcomes"),
    "reasons": "failure reasons over all failed attempts (out of specification or no product), most frequent first",
    "os": "days from panel approval to death (event) or last contact (censored)",
    "pfs": "days from infusion to progression or death, whichever first (event), or last contact (censored)",
    "missing_follow_up": "a case with no outcome recorded is censored at its latest known date (approval or infusion)",
    "km": ("Kaplan-Meier, Greenwood variance, 95% CI with conf.type='log-log' (R survfit); landmarks 182.6 and "
           "365.25 days; median by R's quantile rule (midpoint of a plateau at exactly 0.5). OS over the four "
           "cohorts (controls: all matched controls), PFS over infused cases (control = infused controls)"),
    "cox": ("one Cox model per pair on two-cohort data, Efron ties, Wald 95% CI and Wald p (R coxph); pairs: "
            "each MF cohort vs control and oos_infused vs delayed_infused (PFS: infused cohorts only)"),
    "logrank": "R survdiff (rho = 0) over all the endpoint's cohorts, df = groups - 1",
    "ph_test": "R cox.zph(fit, transform='km') on the same pairwise Cox models",
    "table1": ("MF cases vs matched controls; univariable logistic regression of MF on the level indicator, Wald "
               "95% CI (R glm binomial + confint.default) and Wald p; cases missing the variable left out"),
    "prior_bendamustine": ("last bendamustine dose to first apheresis: <3m under 91.3 days, <6m 91.3 to under "
                           "182.6 days, >6m 182.6 days or more (6 months = 182.6 days as in CONTRACT.md)"),
    "trend": ("chi-square test for trend (linear-by-linear association (N-1)r^2, 1 df, as SPSS) of MF over "
              "none < >6m < <6m < <3m, scores 1..4 by position; categories with no case left out"),
    "apheresis_labs": ("first apheresis collection; median and IQR (R quantile type 7) per cohort and for all MF "
                       "cases; MF vs controls: Wilcoxon rank-sum (R wilcox.test: exact when both groups have fewer "
                       "than 50 values and no ties, else normal approximation with continuity correction); across "
                       "the four cohorts: Kruskal-Wallis (R kruskal.test)"),
    "fisher": ("empty rows/columns left out; 2x2 and r x c with at most 200 cases: two-sided exact (R fisher.test); "
               "larger r x c: Pearson chi-square without continuity correction (R chisq.test(correct=FALSE))"),
}
TABLE1_ROWS = (  # variable, level, indicator of the level (None where the variable is missing)
    ("prior_bendamustine", "any", lambda s: s.map(lambda v: None if v in ("", None) or pd.isna(v)
                                                   else int(v != "none"))),
    ("sex", "F", lambda s: s.map(lambda v: None if v in ("", None) or pd.isna(v) else int(v == "F"))),
    ("comorbidity", "1", lambda s: s),
    ("prior_lines_3plus", "1", lambda s: s),
    ("holding_therapy", "1", lambda s: s),
    ("ecog", ">=1", lambda s: s.map(lambda v: None if pd.isna(v) else int(v >= 1))),
)
RESPONSES = ("CR", "PR", "SD", "PD")
TRANSPLANTS = ("none", "auto", "allo")


def _num(value):
    """Plain Python numbers for the JSON: numpy scalars converted, NaN as None."""
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) else value
    return value


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _num(obj)


def _mf_rates(cases):
    groups = [(product, cases[cases["product"] == product]) for product in sorted(cases["product"].unique())]
    groups += [(f"era:{era}", cases[cases["era"] == era]) for era in (1, 2)]
    groups.append(("all", cases))
    rows = []
    for name, part in groups:
        k, n = int(part["mf"].sum()), len(part)
        rows.append({"group": name, "cases": n, "mf": k, **stats.binomial_rate(k, n)})
    return rows


def _by_mf_table(cases, column):
    table = pd.crosstab(cases[column], cases["mf"]).reindex(columns=[1, 0], fill_value=0)
    return table.to_numpy().tolist()


def _mf_rate_tests(cases):
    rows = []
    for name, column in (("product", "product"), ("era", "era")):
        result = stats.fisher(_by_mf_table(cases, column)) if len(cases) else {"method": "fisher", "p": None}
        rows.append({"name": name, "fisher_p": result["p"], "method": result["method"]})
    return rows


def _flow(cases, attempts):
    mf_ids = set(cases.loc[cases["mf"] == 1, "case_id"])
    mf_attempts = attempts[attempts["case_id"].isin(mf_ids)]
    by_attempt = []
    for number in sorted(mf_attempts["number"].unique()):
        at = mf_attempts[mf_attempts["number"] == number]["outcome"]
        by_attempt.append({"attempt": int(number), "oos": int((at == "oos").sum()),
                           "in_spec": int((at == "in_spec").sum()), "no_product": int((at == "no_product").sum())})
    outcomes = mf_attempts["outcome"]
    return {"attempts": len(mf_attempts), "oos": int((outcomes == "oos").sum()),
            "in_spec_after_remanufacture": int((outcomes == "in_spec").sum()),
            "no_product": int((outcomes == "no_product").sum()), "by_attempt": by_attempt}


def _reasons(cases, reasons):
    part = reasons[reasons["case_id"].isin(set(cases["case_id"]))]
    counts = part.groupby(["reason", "label"]).size().reset_index(name="n")
    counts = counts.sort_values(["n", "reason"], ascending=[False, True])
    oos = part[part["outcome"] == "oos"].groupby("reason").size()
    return [{"reason": row.reason, "label": row.label, "n": int(row.n), "n_oos": int(oos.get(row.reason, 0))}
            for row in counts.itertuples()]


def _endpoint_frames(cases):
    os_frame = cases[cases["cohort"].isin(c.OS_COHORTS) & cases["os_days"].notna()]
    pfs_frame = cases[cases["cohort"].isin(c.PFS_COHORTS) & (cases["infused"] == 1) & cases["pfs_days"].notna()]
    return {"os": (os_frame, c.OS_COHORTS), "pfs": (pfs_frame, c.PFS_COHORTS)}


def _arrays(frame, endpoint):
    return (frame[f"{endpoint}_days"].astype(float).to_numpy(), frame[f"{endpoint}_event"].astype(float).to_numpy())


def _survival_sections(cases):
    km, cox, logrank, ph = [], [], [], []
    for endpoint, (frame, cohorts) in _endpoint_frames(cases).items():
        for cohort in cohorts:
            time, event = _arrays(frame[frame["cohort"] == cohort], endpoint)
            km.append({"endpoint": endpoint, "cohort": cohort, **stats.km_summary(time, event)})
        pairs = [(cohort, c.CONTROL) for cohort in cohorts if cohort != c.CONTROL]
        pairs.append((c.OOS_INFUSED, c.DELAYED_INFUSED))
        for cohort, reference in pairs:
            two = frame[frame["cohort"].isin((cohort, reference))]
            time, event = _arrays(two, endpoint)
            group = (two["cohort"] == cohort).astype(float).to_numpy()
            key = {"endpoint": endpoint, "cohort": cohort, "reference": reference}
            cox.append({**key, **stats.cox_pair(time, event, group)})
            ph.append({**key, **stats.ph_test(time, event, group)})
        present = [cohort for cohort in cohorts if (frame["cohort"] == cohort).any()]
        in_groups = frame[frame["cohort"].isin(present)]
        time, event = _arrays(in_groups, endpoint)
        logrank.append({"endpoint": endpoint, "groups": present,
                        **stats.logrank(time, event, in_groups["cohort"].to_numpy())})
    return {"km": km, "cox": cox, "logrank": logrank, "ph_test": ph}


def _mf_vs_controls(cases):
    return cases[(cases["mf"] == 1) | (cases["cohort"] == c.CONTROL)]


def _table1(cases):
    data = _mf_vs_controls(cases)
    rows = []
    for variable, level, indicator in TABLE1_ROWS:
        x = pd.to_numeric(indicator(data[variable].astype(object)), errors="coerce")
        known = x.notna()
        xs, ys = x[known].astype(float).to_numpy(), data.loc[known, "mf"].astype(float).to_numpy()
        rows.append({"variable": variable, "level": level, "mf_n": int(((xs == 1) & (ys == 1)).sum()),
                     "control_n": int(((xs == 1) & (ys == 0)).sum()), **stats.logistic_or(xs, ys)})
    return rows


def _trend(cases):
    data = _mf_vs_controls(cases)
    data = data[data["prior_bendamustine"].isin(c.BENDAMUSTINE_CATEGORIES)]
    present = [cat for cat in c.BENDAMUSTINE_CATEGORIES if (data["prior_bendamustine"] == cat).any()]
    scores = data["prior_bendamustine"].map({cat: i for i, cat in enumerate(c.BENDAMUSTINE_CATEGORIES, 1)})
    result = stats.trend_test(scores.astype(float).to_numpy(), data["mf"].astype(float).to_numpy())
    return [{"variable": "prior_bendamustine", "categories": present, **result}]


def _fisher_entry(name, table, rows, columns):
    result = stats.fisher(table)
    kept = stats.drop_empty(table)
    t = np.asarray(table)
    return {"name": name, "table": kept.tolist(),
            "rows": [r for r, keep in zip(rows, t.sum(axis=1) > 0, strict=True) if keep],
            "columns": [col for col, keep in zip(columns, t.sum(axis=0) > 0, strict=True) if keep], **result}


def _count_table(frame, row_column, row_levels, col_values):
    """Counts of frame rows per (row level, column predicate)."""
    return [[int(((frame[row_column] == level) & pred(frame)).sum()) for _, pred in col_values] for level in row_levels]


def _fisher(cases):
    entries = []
    mfc = _mf_vs_controls(cases).assign(group=lambda f: np.where(f["mf"] == 1, "mf", c.CONTROL))
    transplant = [[int(((mfc["group"] == g) & (mfc["transplant"] == t)).sum()) for t in TRANSPLANTS]
                  for g in ("mf", c.CONTROL)]
    entries.append(_fisher_entry("transplant_by_mf", transplant, ["mf", c.CONTROL], list(TRANSPLANTS)))
    infused = cases[(cases["infused"] == 1) & cases["cohort"].isin(c.PFS_COHORTS)]
    response = [[int(((infused["cohort"] == g) & (infused["response"] == r)).sum()) for r in RESPONSES]
                for g in c.PFS_COHORTS]
    entries.append(_fisher_entry("response_by_infused_cohort", response, list(c.PFS_COHORTS), list(RESPONSES)))
    pair = infused[infused["cohort"].isin((c.OOS_INFUSED, c.CONTROL))]
    for name, column, threshold in (("crs_any_oos_vs_control", "crs_grade", 1),
                                    ("crs_grade3plus_oos_vs_control", "crs_grade", 3),
                                    ("icans_any_oos_vs_control", "icans_grade", 1),
                                    ("icans_grade3plus_oos_vs_control", "icans_grade", 3)):
        known = pair[pair[column].notna()]
        cols = [("yes", lambda f, col=column, t=threshold: f[col] >= t),
                ("no", lambda f, col=column, t=threshold: f[col] < t)]
        table = _count_table(known, "cohort", (c.OOS_INFUSED, c.CONTROL), cols)
        entries.append(_fisher_entry(name, table, [c.OOS_INFUSED, c.CONTROL], [f"{column}>={threshold}",
                                                                            f"{column}<{threshold}"]))
    return entries


def _labs(cases, labs):
    """Apheresis labs (first collection): median and IQR per cohort, MF vs controls by Wilcoxon rank-sum
    (the paper's Table 2) and across the four cohorts by Kruskal-Wallis (R wilcox.test, kruskal.test)."""
    if labs is None or labs.empty:
        labs = pd.DataFrame(columns=["case_id", *LAB_FIELDS])
    # Every MF case is in one of the MF cohorts, so the four cohorts hold all the cases compared here.
    data = cases.loc[cases["cohort"].isin(c.OS_COHORTS), ["case_id", "cohort", "mf"]].merge(labs, on="case_id",
                                                                                            how="left")
    rows = []
    for field, label in LAB_FIELDS.items():
        values = pd.to_numeric(data[field], errors="coerce")
        groups = []
        by_cohort = {}
        for name, mask in (("mf", data["mf"] == 1), *((cohort, data["cohort"] == cohort) for cohort in c.OS_COHORTS)):
            part = values[mask.fillna(False).astype(bool)].dropna().to_numpy(dtype=float)
            by_cohort[name] = part
            quartiles = np.percentile(part, [25, 50, 75]) if part.size else (None, None, None)
            groups.append({"cohort": name, "n": int(part.size), "median": quartiles[1], "q1": quartiles[0],
                           "q3": quartiles[2]})
        rows.append({"lab": field, "label": label, "groups": groups,
                     "wilcoxon_mf_vs_control": stats.rank_sum(by_cohort["mf"], by_cohort[c.CONTROL]),
                     "kruskal_cohorts": {"groups": [g for g in c.OS_COHORTS if by_cohort[g].size],
                                         **stats.kruskal(*(by_cohort[g] for g in c.OS_COHORTS))}})
    return rows


# Sections in the order they are computed, with the share of the work done once each is finished.
_SECTIONS = (
    ("rates and flow", 15), ("survival", 70), ("Table 1 and trend", 80), ("contingency tables", 88),
    ("apheresis labs", 95),
)


def build_report(data: AnalysisData, *, generated_at=None, progress=None) -> dict:
    """The CONTRACT.md report dict of the cases in ``data`` (already filtered by the loader).

    ``progress(percent, message)``, when given, is called after each section. Keys beyond the
    contract (``filters``, ``apheresis_labs``, the extra ``rows``/``columns`` of fisher entries) are
    additions, never replacements.
    """
    def step(index):
        if progress is not None:
            name, percent = _SECTIONS[index]
            progress(percent, f"Computed {name}")

    cases = data.cases
    # Everything past the rates compares the MF cohorts and the controls: select them once, not per table
    # from every case (every MF case is in one of the MF cohorts).
    compared = cases[cases["cohort"].isin(c.OS_COHORTS)]
    counts = cases["cohort"].value_counts()
    cohort_counts = {name: int(counts.get(name, 0)) for name in (*c.MF_COHORTS, c.CONTROL)}
    cohort_counts["control_infused"] = int(((cases["cohort"] == c.CONTROL) & (cases["infused"] == 1)).sum())
    report = {
        "generated_at": (generated_at or timezone.now()).isoformat(),
        "n_cases": len(cases),
        "filters": data.filters,
        "methods": METHODS,
        "mf_rates": _mf_rates(cases),
        "mf_rate_tests": _mf_rate_tests(cases),
        "flow": _flow(compared, data.attempts),
        "cohorts": cohort_counts,
        "reasons": _reasons(compared, data.reasons),
    }
    step(0)
    report.update(_survival_sections(compared))
    step(1)
    report["table1"] = _table1(compared)
    report["trend"] = _trend(compared)
    step(2)
    report["fisher"] = _fisher(compared)
    step(3)
    report["apheresis_labs"] = _labs(compared, data.labs)
    step(4)
    return _clean(report)


def report_from_db(**filters) -> dict:
    """Load the analysis data (the paper's cohort unless ``paper_cohort=False``) and build the report."""
    return build_report(load_analysis_data(**filters))
