"""Exact two-sided Fisher test for r x c tables, equal to R's fisher.test (FEXACT) on small tables.

scipy only does r x c by Monte Carlo, so this is a network algorithm in the spirit of Mehta & Patel:
columns are filled one at a time; a node is (next column, remaining row totals). The p-value sums
P(table) over tables no more probable than the observed one. Because
P(table) = K * prod 1/x_ij!, that is Q = sum log x_ij! >= Q_obs, and Q adds up over columns. Each
node keeps the distinct partial sums Q reached so far with their multiplicity; a partial sum whose
every completion is decided (by bounds on the remaining Q) is added or dropped in one step, using
the closed-form total probability of all completions. Only used for tables up to 200 cases (see
CONTRACT.md), where it runs in well under a second.
"""

from collections import defaultdict
from functools import cache

import numpy as np
from scipy.special import gammaln

# Live partial sums allowed at one column before giving up (about 100 MB of arrays); beyond it
# the caller falls back to chi-square rather than exhausting memory.
MAX_LIVE_PARTIAL_SUMS = 3_000_000

# R compares table probabilities with a relative tolerance of 1e-7 (fisher.test's relErr).
_LOG_TOL = 1e-7


def _min_fill(total, caps, lf):
    """Smallest sum of log x! over x with sum x = total, 0 <= x <= caps: spread as evenly as caps allow."""
    value = 0.0
    remaining = total
    caps = sorted(caps)
    for i, cap in enumerate(caps):
        cells = len(caps) - i
        if cap <= remaining // cells:
            value += lf[cap]
            remaining -= cap
            continue
        q, r = divmod(remaining, cells)
        return value + r * lf[q + 1] + (cells - r) * lf[q]
    return value


def _max_fill(total, caps, lf):
    """Largest sum of log x!: fill the biggest cells first (sum of a convex function is Schur-convex)."""
    value = 0.0
    remaining = total
    for cap in sorted(caps, reverse=True):
        take = min(cap, remaining)
        value += lf[take]
        remaining -= take
        if remaining == 0:
            break
    return value


class TableTooLarge(Exception):
    """The enumeration would need more than MAX_LIVE_PARTIAL_SUMS partial sums at one column."""


def fisher_exact_rxc(table, max_live=MAX_LIVE_PARTIAL_SUMS):
    """Two-sided exact p-value of an r x c table of counts (no empty row or column).

    Raises TableTooLarge when the network outgrows max_live (wide tables near 200 cases).
    """
    t = np.asarray(table, dtype=np.int64)
    if t.shape[0] > t.shape[1]:
        t = t.T  # fewer rows = smaller node state
    rows = tuple(int(v) for v in t.sum(axis=1))
    cols = [int(v) for v in sorted(t.sum(axis=0), reverse=True)]
    n = int(t.sum())
    lf = gammaln(np.arange(n + 2) + 1.0)
    lf_list = lf.tolist()
    q_obs = float(lf[t].sum())
    log_k = float(lf[list(rows)].sum() + lf[cols].sum() - lf[n])
    target = q_obs - _LOG_TOL
    ncol = len(cols)
    suffix_lf = [float(lf[cols[j:]].sum()) for j in range(ncol)]

    @cache
    def bounds(j, remaining):
        """(min Q, max Q, log of the summed prod 1/x! of all completions) for columns j.. ."""
        rest = cols[j:]
        q_min = max(sum(_min_fill(c, remaining, lf_list) for c in rest),
                    sum(_min_fill(r, rest, lf_list) for r in remaining))
        q_max = min(sum(_max_fill(c, remaining, lf_list) for c in rest),
                    sum(_max_fill(r, rest, lf_list) for r in remaining))
        log_total = lf_list[sum(remaining)] - sum(lf_list[r] for r in remaining) - suffix_lf[j]
        return q_min, q_max, log_total

    @cache
    def column_fills(total, remaining):
        """Every way to put `total` into the rows: {(new remaining rows sorted, Q of the column): count}."""
        out = defaultdict(int)

        def walk(i, left, taken, q):
            if i == len(remaining) - 1:
                if left <= remaining[i]:
                    new = tuple(sorted(taken + (remaining[i] - left,)))
                    out[(new, q + lf_list[left])] += 1
                return
            for x in range(min(left, remaining[i]) + 1):
                walk(i + 1, left - x, taken + (remaining[i] - x,), q + lf_list[x])

        walk(0, total, (), 0.0)
        return tuple(out.items())

    p = 0.0
    # Per node: arrays of distinct partial sums Q and their multiplicities.
    level = {tuple(sorted(rows)): [(np.zeros(1), np.ones(1))]}
    for j in range(ncol):
        following = defaultdict(list)
        live = 0
        for remaining, parts in level.items():
            q = np.concatenate([part[0] for part in parts])
            count = np.concatenate([part[1] for part in parts])
            if len(parts) > 1:
                # Merge equal partial sums (to 1e-9) so the work tracks distinct values, not paths.
                keys, inverse = np.unique(np.round(q, 9), return_inverse=True)
                count = np.bincount(inverse, weights=count, minlength=keys.size)
                q = np.bincount(inverse, weights=q, minlength=keys.size) / np.bincount(inverse, minlength=keys.size)
            q_min, q_max, log_total = bounds(j, remaining)
            decided_in = q + q_min >= target
            if decided_in.any():
                p += float((count[decided_in] * np.exp(log_k - q[decided_in] + log_total)).sum())
            open_ = ~decided_in & (q + q_max >= target)
            if not open_.any():
                continue
            q, count = q[open_], count[open_]
            fills = column_fills(cols[j], remaining)
            live += q.size * len(fills)
            if live > max_live:
                raise TableTooLarge(f"more than {max_live} partial sums at column {j + 1}")
            for (new_remaining, q_col), ways in fills:
                following[new_remaining].append((q + q_col, count * ways))
        level = following
    return min(p, 1.0)
