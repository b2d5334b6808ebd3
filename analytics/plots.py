"""SVG figures of a report, written as text: Figure 1's attempt flow, Kaplan-Meier curves with the
numbers at risk under the axis, and a forest plot of the Cox hazard ratios.

Presentation attributes only (no style attributes or scripts), so the figures render under a strict
Content-Security-Policy when inlined in the page; every figure has a <title> and <desc>.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from analytics import cohorts as c
from analytics import stats

FONT = 'font-family="system-ui, sans-serif"'
COLOURS = {c.OOS_INFUSED: "#c62828", c.DELAYED_INFUSED: "#ef6c00", c.MF_NOT_INFUSED: "#6a1b9a",
           c.CONTROL: "#1565c0"}
LABELS = {c.OOS_INFUSED: "OOS infused", c.DELAYED_INFUSED: "Delayed infused", c.MF_NOT_INFUSED: "MF not infused",
          c.CONTROL: "Matched controls"}
ENDPOINTS = {"os": "Overall survival (from panel approval)", "pfs": "Progression-free survival (from infusion)"}
DAYS_PER_MONTH = 365.25 / 12


def _svg(width, height, title, desc, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-labelledby="t d">'
            f'<title id="t">{escape(title)}</title><desc id="d">{escape(desc)}</desc>'
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>{"".join(body)}</svg>')


def _text(x, y, content, *, size=12, anchor="start", weight="normal", fill="#212121"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" {FONT} font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(str(content))}</text>')


def _box(x, y, w, h, lines, *, fill="#f5f5f5", stroke="#616161"):
    body = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}"/>']
    top = y + h / 2 - (len(lines) - 1) * 8 + 4
    for i, line in enumerate(lines):
        body.append(_text(x + w / 2, top + i * 16, line, anchor="middle", weight="bold" if i == 0 else "normal"))
    return body


def _arrow(x1, y1, x2, y2):
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#616161" stroke-width="1.5" '
            f'marker-end="url(#arrow)"/>')


_ARROW_DEF = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
              'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#616161"/></marker></defs>')


def flow_svg(report: dict) -> str:
    """Figure 1: cases → manufacturing failures → attempts by number and outcome → the three MF cohorts."""
    rates = {r["group"]: r for r in report["mf_rates"]}
    everyone = rates.get("all", {"cases": 0, "mf": 0})
    flow, cohorts = report["flow"], report["cohorts"]
    width = 760
    body = [_ARROW_DEF]
    body += _box(255, 10, 250, 46, [f"{everyone['cases']} cases", "panel-approved"])
    body.append(_arrow(380, 56, 380, 80))
    body += _box(255, 80, 250, 46, [f"{everyone['mf']} manufacturing failures",
                                    f"{flow['attempts']} attempts"], fill="#ffebee", stroke="#c62828")
    by_attempt = flow["by_attempt"] or []
    columns = max(len(by_attempt), 1)
    col_w = min(180, (width - 20) / columns - 10)
    y = 160
    for i, row in enumerate(by_attempt):
        x = 10 + i * (col_w + 10) + ((width - 20) - columns * (col_w + 10)) / 2
        body.append(_arrow(380, 126, x + col_w / 2, y))
        body += _box(x, y, col_w, 70, [f"Attempt {row['attempt']}", f"OOS {row['oos']} · no product "
                                       f"{row['no_product']}", f"in specification {row['in_spec']}"])
    if not by_attempt:
        body.append(_text(380, y + 35, "No manufacturing failure in these cases", anchor="middle", fill="#757575"))
    y2 = 270
    names = (c.OOS_INFUSED, c.DELAYED_INFUSED, c.MF_NOT_INFUSED)
    for i, name in enumerate(names):
        x = 30 + i * 240
        body.append(_arrow(380, 230, x + 100, y2))
        body += _box(x, y2, 200, 46, [LABELS[name], f"n = {cohorts.get(name, 0)}"], fill="#fff",
                     stroke=COLOURS[name])
    body.append(_text(380, y2 + 70, f"Matched controls: {cohorts.get(c.CONTROL, 0)} "
                                    f"({cohorts.get('control_infused', 0)} infused)", anchor="middle"))
    desc = (f"{everyone['cases']} cases, {everyone['mf']} with manufacturing failure over {flow['attempts']} attempts; "
            + ", ".join(f"{LABELS[n]} {cohorts.get(n, 0)}" for n in names))
    return _svg(width, y2 + 85, "Figure 1: manufacturing attempts of the MF cases", desc, body)


def _nice_max_months(max_days):
    months = max(max_days / DAYS_PER_MONTH, 6)
    return int(math.ceil(months / 6) * 6)


def km_svg(endpoint: str, curves: dict, km_rows: list) -> str:
    """Kaplan-Meier curves of one endpoint; ``curves`` maps cohort -> (time, event) arrays."""
    width, left, right, top = 800, 140, 20, 30
    plot_h = 260
    cohorts = [k for k in curves if len(curves[k][0])]
    max_days = max((float(np.max(curves[k][0])) for k in cohorts), default=365.25)
    x_max = _nice_max_months(max_days)
    plot_w = width - left - right
    step = 6 if x_max <= 36 else 12
    ticks = list(range(0, x_max + 1, step))
    table_top = top + plot_h + 45
    height = table_top + 22 * (len(curves) + 1) + 10

    def px(days):
        return left + plot_w * (days / DAYS_PER_MONTH) / x_max

    def py(surv):
        return top + plot_h * (1 - surv)

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bdbdbd"/>']
    for value in (0, 0.25, 0.5, 0.75, 1):
        body.append(f'<line x1="{left}" y1="{py(value):.1f}" x2="{left + plot_w}" y2="{py(value):.1f}" '
                    f'stroke="#eeeeee"/>')
        body.append(_text(left - 6, py(value) + 4, f"{value:.2f}", size=11, anchor="end"))
    for tick in ticks:
        x = px(tick * DAYS_PER_MONTH)
        body.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}" stroke="#616161"/>')
        body.append(_text(x, top + plot_h + 18, tick, size=11, anchor="middle"))
    body.append(_text(left + plot_w / 2, top + plot_h + 34, "Months", size=12, anchor="middle"))
    body.append(_text(left - 40, top - 10, "Survival", size=12, anchor="middle"))
    body.append(_text(left, 18, ENDPOINTS.get(endpoint, endpoint), size=13, weight="bold"))
    n_by_cohort = {r["cohort"]: r for r in km_rows if r["endpoint"] == endpoint}
    for i, cohort in enumerate(cohorts):
        time, event = curves[cohort]
        utime, surv = stats.km_curve(time, event)
        points = [f"M{px(0):.1f},{py(1):.1f}"]
        previous = 1.0
        for t, s in zip(utime, surv, strict=True):
            if s != previous:
                points.append(f"H{px(t):.1f}V{py(s):.1f}")
                previous = s
        points.append(f"H{px(utime[-1]):.1f}")
        colour = COLOURS.get(cohort, "#424242")
        body.append(f'<path d="{"".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(time) <= 500:  # censoring marks stay readable on registry-sized cohorts only
            censored = np.asarray(time)[np.asarray(event) == 0]
            for t in np.unique(censored):
                s = surv[np.searchsorted(utime, t, side="right") - 1]
                body.append(f'<line x1="{px(t):.1f}" y1="{py(s) - 4:.1f}" x2="{px(t):.1f}" y2="{py(s) + 4:.1f}" '
                            f'stroke="{colour}"/>')
        row = n_by_cohort.get(cohort, {})
        body.append(f'<rect x="{width - 230}" y="{top + 10 + i * 18}" width="12" height="3" fill="{colour}"/>')
        body.append(_text(width - 212, top + 15 + i * 18, f"{LABELS.get(cohort, cohort)} "
                                                          f"(n={row.get('n', len(time))})", size=11))
    body.append(_text(10, table_top, "Number at risk", size=11, weight="bold"))
    for i, cohort in enumerate(curves):
        time = np.sort(np.asarray(curves[cohort][0], dtype=float))
        y = table_top + 20 * (i + 1)
        body.append(_text(10, y, LABELS.get(cohort, cohort), size=11, fill=COLOURS.get(cohort, "#424242")))
        for tick in ticks:
            at_risk = int(time.size - np.searchsorted(time, tick * DAYS_PER_MONTH, side="left"))
            body.append(_text(px(tick * DAYS_PER_MONTH), y, at_risk, size=11, anchor="middle"))
    desc = "; ".join(f"{LABELS.get(k, k)}: n={n_by_cohort.get(k, {}).get('n', 0)}, median "
                     f"{_fmt_days(n_by_cohort.get(k, {}).get('median'))}" for k in curves)
    return _svg(width, height, f"Kaplan-Meier: {ENDPOINTS.get(endpoint, endpoint)}", desc, body)


def _fmt_days(days):
    return "not reached" if days is None else f"{days / DAYS_PER_MONTH:.1f} months"


def forest_svg(cox_rows: list) -> str:
    """Forest plot of the pairwise Cox hazard ratios (log scale) with 95% CIs."""
    rows = [r for r in cox_rows if r.get("hr") is not None]
    width, label_w, right_w = 760, 270, 170
    top, row_h = 40, 26
    height = top + row_h * max(len(cox_rows), 1) + 50
    plot_l, plot_r = label_w, width - right_w
    values = [v for r in rows for v in (r["lower"], r["upper"]) if v and v > 0]
    lo = min([0.5, *values])
    hi = max([2.0, *values])
    lo_exp, hi_exp = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    lo_exp, hi_exp = max(lo_exp, -10), min(hi_exp, 10)

    def px(value):
        value = min(max(value, 2.0 ** lo_exp), 2.0 ** hi_exp)
        return plot_l + (plot_r - plot_l) * (math.log2(value) - lo_exp) / (hi_exp - lo_exp)

    body = [_text(10, 22, "Cox hazard ratios (95% CI, Efron ties)", size=13, weight="bold"),
            _text(width - 10, 22, "HR (95% CI), p", size=11, anchor="end", weight="bold")]
    body.append(f'<line x1="{px(1):.1f}" y1="{top - 8}" x2="{px(1):.1f}" y2="{height - 40}" stroke="#9e9e9e" '
                f'stroke-dasharray="4 3"/>')
    for i, row in enumerate(cox_rows):
        y = top + row_h * i + row_h / 2
        label = (f"{row['endpoint'].upper()}: {LABELS.get(row['cohort'], row['cohort'])} vs "
                 f"{LABELS.get(row['reference'], row['reference']).lower()}")
        body.append(_text(10, y + 4, label, size=11))
        if row.get("hr") is None:
            body.append(_text(width - 10, y + 4, "not estimable", size=11, anchor="end", fill="#757575"))
            continue
        colour = COLOURS.get(row["cohort"], "#424242")
        body.append(f'<line x1="{px(row["lower"]):.1f}" y1="{y:.1f}" x2="{px(row["upper"]):.1f}" y2="{y:.1f}" '
                    f'stroke="{colour}" stroke-width="2"/>')
        body.append(f'<rect x="{px(row["hr"]) - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{colour}"/>')
        body.append(_text(width - 10, y + 4, f"{row['hr']:.2f} ({row['lower']:.2f}-{row['upper']:.2f}), "
                                             f"p={_fmt_p(row['p'])}", size=11, anchor="end"))
    axis_y = height - 40
    body.append(f'<line x1="{plot_l}" y1="{axis_y}" x2="{plot_r}" y2="{axis_y}" stroke="#616161"/>')
    for e in range(lo_exp, hi_exp + 1):
        x = px(2.0 ** e)
        body.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" stroke="#616161"/>')
        body.append(_text(x, axis_y + 18, f"{2.0 ** e:g}", size=11, anchor="middle"))
    body.append(_text((plot_l + plot_r) / 2, axis_y + 34, "Hazard ratio (log scale); > 1: higher hazard than "
                                                          "the reference", size=11, anchor="middle"))
    desc = "; ".join(f"{r['endpoint']} {r['cohort']} vs {r['reference']}: HR "
                     + ("n/a" if r.get("hr") is None else f"{r['hr']:.2f}") for r in cox_rows)
    return _svg(width, height, "Forest plot of Cox hazard ratios", desc, body)


def _fmt_p(p):
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def build_plots(data, report: dict) -> dict:
    """Every figure of the report, by name, as SVG text."""
    cases = data.cases
    plots = {"flow": flow_svg(report), "forest": forest_svg(report["cox"])}
    for endpoint, cohorts in (("os", c.OS_COHORTS), ("pfs", c.PFS_COHORTS)):
        frame = cases[cases["cohort"].isin(cohorts) & cases[f"{endpoint}_days"].notna()]
        if endpoint == "pfs":
            frame = frame[frame["infused"] == 1]
        curves = {}
        for cohort in cohorts:
            part = frame[frame["cohort"] == cohort]
            curves[cohort] = (part[f"{endpoint}_days"].astype(float).to_numpy(),
                              part[f"{endpoint}_event"].astype(float).to_numpy())
        plots[f"km_{endpoint}"] = km_svg(endpoint, curves, report["km"])
    return plots
