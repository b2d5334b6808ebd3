"""Rank tests with R's choices (wilcox.test, kruskal.test)."""

import math

import numpy as np
from scipy import stats

# wilcox.test's default: exact only when both samples have fewer than 50 values and there are no ties.
_EXACT_MAX_N = 50


def _clean(values):
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def rank_sum(a, b):
    """Wilcoxon rank-sum test of a vs b as R's wilcox.test(a, b) defaults.

    w is R's W (rank sum of a minus n_a(n_a+1)/2); method "exact" or "normal" (with tie and
    continuity corrections). None values when a sample is empty.
    """
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return {"w": None, "p": None, "method": None}
    pooled = np.concatenate((a, b))
    exact = a.size < _EXACT_MAX_N and b.size < _EXACT_MAX_N and np.unique(pooled).size == pooled.size
    method = "exact" if exact else "normal"
    res = stats.mannwhitneyu(a, b, alternative="two-sided", use_continuity=True,
                             method="exact" if exact else "asymptotic")
    p = float(res.pvalue)
    return {"w": float(res.statistic), "p": None if math.isnan(p) else p, "method": method}


def kruskal(*groups):
    """Kruskal-Wallis rank-sum test (R kruskal.test), empty groups left out; None with fewer than two
    groups or when every value is tied."""
    groups = [g for g in (_clean(g) for g in groups) if g.size]
    if len(groups) < 2:
        return {"chisq": None, "df": None, "p": None}
    if np.unique(np.concatenate(groups)).size == 1:
        return {"chisq": None, "df": len(groups) - 1, "p": None}
    res = stats.kruskal(*groups)
    return {"chisq": float(res.statistic), "df": len(groups) - 1, "p": float(res.pvalue)}
