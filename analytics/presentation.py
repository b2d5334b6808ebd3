"""The report JSON as the paper's tables: one list of sections shared by the page, the PDF and the XLSX.

Numbers are formatted here (rates as %, times in months, p to 3 significant places) so the three
renderings always agree; the JSON itself stays unrounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analytics.plots import DAYS_PER_MONTH, LABELS

DASH = "–"
COHORT_LABELS = {**LABELS, "mf": "All MF cases"}
TABLE1_LABELS = {
    ("prior_bendamustine", "any"): "Prior bendamustine (any vs none)", ("sex", "F"): "Female sex",
    ("comorbidity", "1"): "Comorbidity", ("prior_lines_3plus", "1"): "≥ 3 prior lines",
    ("holding_therapy", "1"): "Holding therapy", ("ecog", ">=1"): "ECOG ≥ 1",
}
FISHER_LABELS = {
    "transplant_by_mf": "Prior transplant (none / auto / allo), MF vs controls",
    "response_by_infused_cohort": "Best response (CR / PR / SD / PD) by infused cohort",
    "crs_any_oos_vs_control": "CRS any grade, OOS infused vs infused controls",
    "crs_grade3plus_oos_vs_control": "CRS grade ≥ 3, OOS infused vs infused controls",
    "icans_any_oos_vs_control": "ICANS any grade, OOS infused vs infused controls",
    "icans_grade3plus_oos_vs_control": "ICANS grade ≥ 3, OOS infused vs infused controls",
}
RESPONSE_TOXICITY = ("response_by_infused_cohort", "crs_any_oos_vs_control", "crs_grade3plus_oos_vs_control",
                     "icans_any_oos_vs_control", "icans_grade3plus_oos_vs_control")


@dataclass
class Section:
    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    empty: str = "No data for these filters."


def p_value(p) -> str:
    if p is None:
        return DASH
    if p < 0.001:
        return "<0.001"
    return f"{p:.3g}" if p < 0.1 else f"{p:.2f}"


def number(value, digits=2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def ci(value, lower, upper, digits=2, scale=1.0, suffix="") -> str:
    if value is None:
        return DASH
    text = f"{value * scale:.{digits}f}{suffix}"
    if lower is None or upper is None:
        return text
    return f"{text} ({lower * scale:.{digits}f}{DASH}{upper * scale:.{digits}f})"


def months(days) -> str:
    return "not reached" if days is None else f"{days / DAYS_PER_MONTH:.1f}"


def _median_ci(row) -> str:
    if row["median"] is None:
        return "not reached"
    lower = months(row["median_lower"]) if row["median_lower"] is not None else DASH
    upper = months(row["median_upper"]) if row["median_upper"] is not None else "NR"
    return f"{months(row['median'])} ({lower}{DASH}{upper})"


def _landmark(row, days) -> tuple[str, str]:
    at = next((a for a in row["at"] if abs(a["days"] - days) < 1e-9), None)
    if at is None:
        return DASH, DASH
    return ci(at["surv"], at["lower"], at["upper"], digits=1, scale=100, suffix="%"), str(at["n_risk"])


def _group_label(group: str) -> str:
    if group == "all":
        return "All cases"
    if group.startswith("era:"):
        return f"Era {group[4:]}"
    return group


def _comparison(row) -> str:
    cohort, reference = row["cohort"], row["reference"]
    return f"{COHORT_LABELS.get(cohort, cohort)} vs {COHORT_LABELS.get(reference, reference)}"


def sections(report: dict) -> list[Section]:
    tests = {t["name"]: t for t in report["mf_rate_tests"]}
    era_p = tests.get("era", {}).get("fisher_p")
    out = [Section(
        "mf_rates", "Manufacturing failure rate by product and era",
        ["Group", "Cases", "MF", "Rate % (exact 95% CI)"],
        [[_group_label(r["group"]), str(r["cases"]), str(r["mf"]),
          ci(r["rate"], r["lower"], r["upper"], digits=1, scale=100)] for r in report["mf_rates"]],
        [f"Fisher's exact test, product x MF: p = {p_value(tests.get('product', {}).get('fisher_p'))}; "
         f"era x MF: p = {p_value(era_p)}.",
         "The paper prints P = 0.74 for the era comparison (17/462 vs 21/519); that value does not follow from "
         f"its own counts. The stated method (two-sided Fisher exact test) gives p = {number(era_p, 3)} here, "
         "and that is what is reported."])]
    flow = report["flow"]
    out.append(Section(
        "flow", "Figure 1 – manufacturing attempts of the MF cases",
        ["Attempt", "Out of specification", "No product", "In specification"],
        [[str(r["attempt"]), str(r["oos"]), str(r["no_product"]), str(r["in_spec"])] for r in flow["by_attempt"]]
        + ([["All", str(flow["oos"]), str(flow["no_product"]), str(flow["in_spec_after_remanufacture"])]]
           if flow["by_attempt"] else []),
        [f"{flow['attempts']} attempts in all."]))
    cohorts = report["cohorts"]
    out.append(Section("cohorts", "Cohorts", ["Cohort", "Cases"],
                       [[COHORT_LABELS[k], str(cohorts[k])] for k in ("oos_infused", "delayed_infused",
                                                                       "mf_not_infused", "control")]
                       + [["Matched controls infused", str(cohorts["control_infused"])]]))
    out.append(Section("reasons", "Failure reasons", ["Reason", "Failed attempts", "of which OOS"],
                       [[r.get("label") or r["reason"], str(r["n"]), str(r.get("n_oos", DASH))]
                        for r in report["reasons"]], empty="No failed attempt."))
    fisher = {e["name"]: e for e in report["fisher"]}
    transplant = fisher.get("transplant_by_mf")
    trend = report["trend"][0] if report["trend"] else None
    notes = []
    if trend:
        notes.append(f"Chi-square test for trend of MF over prior bendamustine ({' < '.join(trend['categories'])}): "
                     f"χ² = {number(trend['chisq'])}, p = {p_value(trend['p'])} (linear-by-linear association).")
    if transplant:
        notes.append(f"Prior transplant (none / auto / allo) x MF: {transplant['method']} p = "
                     f"{p_value(transplant['p'])}; table {transplant['table']}.")
    out.append(Section(
        "table1", "Table 1 – MF cases vs matched controls (univariable logistic regression)",
        ["Characteristic", "MF cases", "Controls", "OR (95% CI)", "p"],
        [[TABLE1_LABELS.get((r["variable"], r["level"]), f"{r['variable']} {r['level']}"), str(r["mf_n"]),
          str(r["control_n"]), ci(r["or"], r["lower"], r["upper"]), p_value(r["p"])] for r in report["table1"]],
        notes))
    out.append(Section(
        "km", "Kaplan–Meier estimates (months)",
        ["Endpoint", "Cohort", "n", "Events", "Median (95% CI)", "6 months % (95% CI)", "At risk 6 m",
         "12 months % (95% CI)", "At risk 12 m"],
        [[r["endpoint"].upper(), COHORT_LABELS.get(r["cohort"], r["cohort"]), str(r["n"]), str(r["events"]),
          _median_ci(r), *_landmark(r, 182.6), *_landmark(r, 365.25)] for r in report["km"]],
        ["NR: upper limit not reached. A landmark beyond a cohort's last follow-up shows –."]))
    out.append(Section("logrank", "Log-rank tests", ["Endpoint", "Groups", "χ²", "df", "p"],
                       [[r["endpoint"].upper(), ", ".join(COHORT_LABELS.get(g, g) for g in r["groups"]),
                         number(r["chisq"]), str(max(len(r["groups"]) - 1, 0)), p_value(r["p"])]
                        for r in report["logrank"]]))
    ph = {(r["endpoint"], r["cohort"], r["reference"]): r for r in report["ph_test"]}
    out.append(Section(
        "cox", "Cox proportional hazards (pairwise, Efron ties)",
        ["Endpoint", "Comparison", "HR (95% CI)", "p", "PH test χ²", "PH test p"],
        [[r["endpoint"].upper(), _comparison(r), ci(r["hr"], r["lower"], r["upper"]), p_value(r["p"]),
          number(ph.get((r["endpoint"], r["cohort"], r["reference"]), {}).get("chisq")),
          p_value(ph.get((r["endpoint"], r["cohort"], r["reference"]), {}).get("p"))] for r in report["cox"]],
        ["PH test: R cox.zph (transform = \"km\"); a small p suggests the hazard ratio changes over time."]))
    out.append(Section(
        "response_toxicity", "Response and toxicity comparisons",
        ["Comparison", "Table (rows × columns)", "Test", "p"],
        [[FISHER_LABELS.get(name, name), _table_text(fisher[name]), fisher[name]["method"], p_value(fisher[name]["p"])]
         for name in RESPONSE_TOXICITY if name in fisher]))
    labs = report.get("apheresis_labs") or []
    cohort_order = ("mf", "oos_infused", "delayed_infused", "mf_not_infused", "control")
    out.append(Section(
        "apheresis_labs", "Apheresis labs – median (IQR)",
        ["Lab", *(COHORT_LABELS[k] for k in cohort_order), "Wilcoxon p (MF vs controls)", "Kruskal–Wallis p"],
        [[lab["label"], *(_iqr(next(g for g in lab["groups"] if g["cohort"] == k)) for k in cohort_order),
          p_value(lab["wilcoxon_mf_vs_control"]["p"]), p_value(lab["kruskal_cohorts"]["p"])] for lab in labs],
        ["First apheresis collection of each case. Kruskal–Wallis across the four cohorts."]))
    return out


def _iqr(group) -> str:
    if not group["n"]:
        return DASH
    return f"{group['median']:.3g} ({group['q1']:.3g}{DASH}{group['q3']:.3g}), n={group['n']}"


def _table_text(entry) -> str:
    rows = entry.get("rows") or [str(i + 1) for i in range(len(entry["table"]))]
    return "; ".join(f"{COHORT_LABELS.get(r, r)}: {' / '.join(str(v) for v in values)}"
                     for r, values in zip(rows, entry["table"], strict=False))


METHOD_TITLES = {"cohort": "Cases", "mf": "Manufacturing failure", "cohorts": "Cohorts", "era": "Eras",
                 "mf_rates": "MF rates", "mf_rate_tests": "Rate comparisons", "flow": "Attempt flow",
                 "reasons": "Failure reasons", "os": "Overall survival", "pfs": "Progression-free survival",
                 "missing_follow_up": "Missing follow-up", "km": "Kaplan–Meier", "cox": "Cox models",
                 "logrank": "Log-rank", "ph_test": "Proportional hazards", "table1": "Table 1",
                 "prior_bendamustine": "Bendamustine timing", "trend": "Trend test",
                 "apheresis_labs": "Apheresis labs", "fisher": "Contingency tables"}


def methods(report: dict) -> list[tuple[str, str]]:
    return [(METHOD_TITLES.get(k, k), v) for k, v in report.get("methods", {}).items()]
