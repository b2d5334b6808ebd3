"""Rates, contingency tables, univariable logistic regression and the linear-by-linear trend test (R stats)."""

import math

import numpy as np
from scipy import stats

from .fisher_exact import TableTooLarge, fisher_exact_rxc

_Z975 = stats.norm.ppf(0.975)
# CONTRACT.md: exact r x c enumeration only up to this many cases, Pearson chi-square above.
EXACT_RXC_MAX_CASES = 200


def binomial_rate(k, n):
    """k / n with the exact Clopper-Pearson 95% CI (R binom.test). n = 0 gives None values."""
    k, n = int(k), int(n)
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    if n == 0:
        return {"rate": None, "lower": None, "upper": None}
    lower = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
    return {"rate": k / n, "lower": lower, "upper": upper}


def drop_empty(table):
    """The table without all-zero rows and columns (as the report's "table" shows it)."""
    t = np.asarray(table, dtype=np.int64)
    if t.ndim != 2:
        raise ValueError("table must be two-dimensional")
    if (t < 0).any():
        raise ValueError("counts must be non-negative")
    return t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]


def fisher(table):
    """Two-sided test of independence as CONTRACT.md fixes it, after dropping empty rows and columns.

    2x2, or r x c with at most 200 cases: exact (R fisher.test), method "fisher". Larger r x c:
    Pearson chi-square without continuity correction (R chisq.test(correct=FALSE)), method "chisq".
    Fewer than two non-empty rows or columns: nothing to test, p None. An r x c table too wide for
    the exact enumeration's memory budget also falls back to the chi-square (method says so).
    """
    t = drop_empty(table)
    if t.shape[0] < 2 or t.shape[1] < 2:
        return {"method": "fisher", "p": None}
    if t.shape == (2, 2):
        return {"method": "fisher", "p": float(stats.fisher_exact(t).pvalue)}
    if t.sum() <= EXACT_RXC_MAX_CASES:
        try:
            return {"method": "fisher", "p": fisher_exact_rxc(t)}
        except TableTooLarge:
            # Wide tables near the limit (e.g. 3x5 with ~200 cases) would take minutes and gigabytes;
            # the method field tells the reader the chi-square was used instead.
            pass
    return {"method": "chisq", "p": float(stats.chi2_contingency(t, correction=False).pvalue)}


def logistic_or(x, y):
    """Univariable logistic regression of y (0/1) on x: OR per unit of x, Wald 95% CI
    (R confint.default) and Wald p (R summary.glm).

    None values where the MLE does not exist: x or y constant, or x separating y (for a 0/1 level
    indicator: any empty cell of the 2x2 table). R would return a non-converged huge estimate.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError("x and y must have the same length")
    none = {"or": None, "lower": None, "upper": None, "p": None}
    if x.size == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return none
    x1, x0 = x[y == 1], x[y == 0]
    if x1.max() <= x0.min() or x0.max() <= x1.min():
        return none
    design = np.column_stack((np.ones_like(x), x))
    beta = np.zeros(2)
    for _ in range(100):
        prob = 1 / (1 + np.exp(-(design @ beta)))
        info = design.T @ (design * (prob * (1 - prob))[:, None])
        step = np.linalg.solve(info, design.T @ (y - prob))
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    prob = 1 / (1 + np.exp(-(design @ beta)))
    info = design.T @ (design * (prob * (1 - prob))[:, None])
    se = math.sqrt(np.linalg.inv(info)[1, 1])
    b = float(beta[1])
    return {"or": math.exp(b), "lower": math.exp(b - _Z975 * se), "upper": math.exp(b + _Z975 * se),
            "p": float(2 * stats.norm.sf(abs(b / se)))}


def trend_test(scores, mf):
    """Linear-by-linear association (N-1)·r², 1 df; r = Pearson correlation of the per-case score and
    the MF indicator (the statistic SPSS reports as the chi-square test for trend).
    None when either variable is constant.
    """
    scores = np.asarray(scores, dtype=float)
    mf = np.asarray(mf, dtype=float)
    if scores.shape != mf.shape:
        raise ValueError("scores and mf must have the same length")
    if scores.size < 2 or np.ptp(scores) == 0 or np.ptp(mf) == 0:
        return {"chisq": None, "p": None}
    r = np.corrcoef(scores, mf)[0, 1]
    chisq = float((scores.size - 1) * r * r)
    return {"chisq": chisq, "p": float(stats.chi2.sf(chisq, 1))}
