"""Kaplan-Meier, log-rank, two-group Cox (Efron) and the cox.zph score test, written to equal R's survival.

Everything is vectorised over unique times (np.unique + bincount + cumulative sums), so 100k rows cost
a sort and a handful of array passes; there is no Python loop over rows or over event times.
Values R reports as NA are None here.
"""

import math

import numpy as np
import pandas as pd
from scipy import stats

LANDMARKS = (182.6, 365.25)
_Z975 = stats.norm.ppf(0.975)
# survival:::quantile.survfit's default tolerance for "exactly 0.5".
_QUANTILE_TOL = math.sqrt(np.finfo(float).eps)


def _as_arrays(time, event):
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    if time.shape != event.shape:
        raise ValueError("time and event must have the same length")
    return time, event


def _none_if_nan(value):
    value = float(value)
    return None if math.isnan(value) else value


def _km_curve(time, event):
    """The survfit step function at every unique time (censored ones included, as survfit keeps them)."""
    utime, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=utime.size)
    leaving = np.bincount(inverse, minlength=utime.size).astype(float)
    at_risk = time.size - np.concatenate(([0.0], np.cumsum(leaving)[:-1]))
    surv = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Greenwood; a step where everyone at risk dies makes it infinite, as in survfit.
        term = np.where(deaths > 0, deaths / (at_risk * (at_risk - deaths)), 0.0)
    std_err = np.sqrt(np.cumsum(term))
    lower, upper = _loglog_ci(surv, std_err)
    return utime, at_risk, surv, lower, upper


def _loglog_ci(surv, std_err):
    """survival:::survfit_confint(conf.type="log-log"): NA where S = 0, [1, 1] where S = 1."""
    lower = np.full(surv.shape, np.nan)
    upper = np.full(surv.shape, np.nan)
    inside = (surv > 0) & (surv < 1)
    log_s = np.log(surv[inside])
    half = _Z975 * std_err[inside] / log_s
    lower[inside] = np.exp(-np.exp(np.log(-log_s) - half))
    upper[inside] = np.exp(-np.exp(np.log(-log_s) + half))
    lower[surv == 1] = 1.0
    upper[surv == 1] = 1.0
    return lower, upper


def _findq(x, y, p=0.5, tol=_QUANTILE_TOL):
    """survival:::findq: x = c(0, times), y = c(0, 1 - curve) with NaN where the curve is NA."""
    if not np.any(~np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    valid = ~np.isnan(y)

    def first_at_least(shift):
        # approx(y + shift, 1:n, p, method="constant", f=1): the first knot at or above p, NA past the end.
        hits = np.flatnonzero(valid & (y + shift >= p))
        return int(hits[0]) if hits.size else None

    i1, i2 = first_at_least(tol), first_at_least(-tol)
    if i1 is not None and not np.isnan(y[-1]) and abs(p - y[-1]) < tol:
        return float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


def km_summary(time, event, landmarks=LANDMARKS):
    """Kaplan-Meier summary as a report "km" entry (without endpoint/cohort).

    Greenwood variance, log-log 95% CI, median by R's quantile.survfit rule (midpoint of a plateau
    at exactly 0.5) with the CI from the confidence curves. At a landmark beyond the last follow-up
    time surv/lower/upper are None; n_risk counts subjects with time >= landmark. An empty cohort
    gives n = 0, events = 0 and None everywhere else.
    """
    time, event = _as_arrays(time, event)
    if time.size == 0:
        return {"n": 0, "events": 0, "median": None, "median_lower": None, "median_upper": None,
                "at": [{"days": d, "surv": None, "lower": None, "upper": None, "n_risk": 0} for d in landmarks]}
    utime, _, surv, lower, upper = _km_curve(time, event)
    x = np.concatenate(([0.0], utime))
    at = []
    sorted_time = np.sort(time)
    for days in landmarks:
        n_risk = int(time.size - np.searchsorted(sorted_time, days, side="left"))
        if days > utime[-1]:
            at.append({"days": days, "surv": None, "lower": None, "upper": None, "n_risk": n_risk})
            continue
        idx = np.searchsorted(utime, days, side="right") - 1
        if idx < 0:
            values = (1.0, 1.0, 1.0)
        else:
            values = (surv[idx], lower[idx], upper[idx])
        at.append({"days": days, "surv": float(values[0]), "lower": _none_if_nan(values[1]),
                   "upper": _none_if_nan(values[2]), "n_risk": n_risk})
    return {
        "n": int(time.size),
        "events": int(event.sum()),
        "median": _findq(x, np.concatenate(([0.0], 1 - surv))),
        # The lower confidence curve reaches 0.5 first, so it gives the lower limit of the median.
        "median_lower": _findq(x, np.concatenate(([0.0], 1 - lower))),
        "median_upper": _findq(x, np.concatenate(([0.0], 1 - upper))),
        "at": at,
    }


def logrank(time, event, groups):
    """R survdiff (rho = 0): chi-square over the groups with expected > 0, df = those groups - 1."""
    time, event = _as_arrays(time, event)
    labels, gidx = np.unique(np.asarray(groups), return_inverse=True)
    if labels.size < 2 or event.sum() == 0:
        return {"chisq": None, "p": None}
    utime, tidx = np.unique(time, return_inverse=True)
    k = labels.size
    cell = tidx * k + gidx
    leaving = np.bincount(cell, minlength=utime.size * k).reshape(utime.size, k).astype(float)
    deaths_g = np.bincount(cell, weights=event, minlength=utime.size * k).reshape(utime.size, k)
    # Number at risk per group at each time = those leaving at this time or later.
    at_risk_g = np.cumsum(leaving[::-1], axis=0)[::-1]
    at_risk = at_risk_g.sum(axis=1)
    deaths = deaths_g.sum(axis=1)
    share = at_risk_g / at_risk[:, None]
    observed = deaths_g.sum(axis=0)
    expected = (deaths[:, None] * share).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 1, deaths * (at_risk - deaths) / (at_risk - 1), 0.0)
    var = np.diag((factor[:, None] * share).sum(axis=0)) - (share * factor[:, None]).T @ share
    keep = expected > 0
    if keep.sum() < 2:
        return {"chisq": None, "p": None}
    diff = (observed - expected)[keep][1:]
    vv = var[np.ix_(keep, keep)][1:, 1:]
    chisq = float(diff @ np.linalg.solve(vv, diff))
    return {"chisq": chisq, "p": float(stats.chi2.sf(chisq, int(keep.sum()) - 1))}


class _EfronData:
    """Risk-set bookkeeping for one binary/numeric covariate, shared by the Cox fit and cox.zph."""

    def __init__(self, time, event, x):
        self.x = x - x.mean()  # R centres covariates; it only steadies exp() and cancels out
        self.event = event
        utime, self.tidx = np.unique(time, return_inverse=True)
        self.utime = utime
        self.deaths = np.bincount(self.tidx, weights=event, minlength=utime.size)
        has_death = self.deaths > 0
        self.death_times = np.flatnonzero(has_death)
        d = self.deaths[has_death].astype(int)
        # One row per event, Efron's tie fraction (k+1)/d of the tied deaths counted in the risk set.
        self.row_time = np.repeat(self.death_times, d)
        starts = np.repeat(np.cumsum(d) - d, d)
        self.row_frac = (np.arange(d.sum()) - starts + 1) / np.repeat(d, d)
        self.n_events = int(d.sum())

    def _sums(self, values):
        """Per unique time: sum over the risk set without that time's deaths, and over the deaths."""
        n = self.utime.size
        total = np.bincount(self.tidx, weights=values, minlength=n)
        dead = np.bincount(self.tidx, weights=values * self.event, minlength=n)
        risk = np.cumsum(total[::-1])[::-1]
        return (risk - dead)[self.row_time], dead[self.row_time]

    def moments(self, beta):
        """Efron-weighted risk-set mean and variance of x, one value per event row."""
        w = np.exp(beta * self.x)
        (c0, d0), (c1, d1), (c2, d2) = (self._sums(w), self._sums(w * self.x), self._sums(w * self.x**2))
        f = self.row_frac
        s0, s1, s2 = c0 + f * d0, c1 + f * d1, c2 + f * d2
        mean = s1 / s0
        return s0, mean, s2 / s0 - mean**2

    def loglik_score_info(self, beta):
        s0, mean, var = self.moments(beta)
        dead_x = self.x[self.event == 1]
        loglik = beta * dead_x.sum() - np.log(s0).sum()
        return float(loglik), float(dead_x.sum() - mean.sum()), float(var.sum())


def _coxph_fit(data, max_iter=20, eps=1e-9):
    """R coxfit6's Newton-Raphson with step halving and its stopping rule, so beta matches R's output."""
    beta = 0.0
    loglik, score, info = data.loglik_score_info(beta)
    new_beta = beta + score / info
    halving = False
    for _ in range(max_iter):
        new_loglik, new_score, new_info = data.loglik_score_info(new_beta)
        if not math.isfinite(new_loglik):
            new_loglik = -math.inf
        if not halving and abs(1 - loglik / new_loglik) <= eps:
            return new_beta, new_info
        if new_loglik < loglik:
            halving = True
            new_beta = (new_beta + beta) / 2
        else:
            halving = False
            beta, loglik, score, info = new_beta, new_loglik, new_score, new_info
            new_beta = beta + score / info
    return beta, info


def _two_group_data(time, event, group):
    time, event = _as_arrays(time, event)
    group = np.asarray(group, dtype=float)
    if group.shape != time.shape:
        raise ValueError("group must have the same length as time")
    # An arm that is empty or has no event makes the MLE infinite (R warns and returns a huge beta).
    for arm in (0.0, 1.0):
        if event[group == arm].sum() == 0:
            return None
    if not np.isin(group, (0.0, 1.0)).all():
        raise ValueError("group must be a 0/1 indicator (1 = cohort, 0 = reference)")
    return _EfronData(time, event, group)


def cox_pair(time, event, group):
    """Cox model on a 0/1 indicator (1 = cohort): HR with Wald 95% CI and Wald p, Efron ties (R coxph).

    None values when either arm has no event (the estimate is infinite).
    """
    data = _two_group_data(time, event, group)
    if data is None:
        return {"hr": None, "lower": None, "upper": None, "p": None}
    beta, info = _coxph_fit(data)
    se = math.sqrt(1 / info)
    return {"hr": math.exp(beta), "lower": math.exp(beta - _Z975 * se), "upper": math.exp(beta + _Z975 * se),
            "p": float(2 * stats.norm.sf(abs(beta / se)))}


def ph_test(time, event, group):
    """R >= 3.0 cox.zph(fit, transform="km") for the same two-group model: score test for beta(t) = a + b g(t).

    g(t) = 1 - KM(t-) over all subjects, centred on its mean over the events; the score for b and the
    2x2 information are taken at (beta_hat, 0), as survival's zph1.c does.
    """
    data = _two_group_data(time, event, group)
    if data is None:
        return {"chisq": None, "p": None}
    beta, _ = _coxph_fit(data)
    time, event = _as_arrays(time, event)
    utime, _, surv, _, _ = _km_curve(time, event)
    surv_left = np.concatenate(([1.0], surv[:-1]))  # KM just before each unique time
    g_time = 1.0 - surv_left
    g = g_time[data.row_time]
    g = g - g.mean()
    _, mean, var = data.moments(beta)
    dead_x = data.x[data.event == 1]
    # Event rows are ordered by time; sort the dead subjects the same way to pair x with g(t).
    dead_x = dead_x[np.argsort(data.tidx[data.event == 1], kind="stable")]
    u = float((g * (dead_x - mean)).sum())
    i11, i12, i22 = float(var.sum()), float((g * var).sum()), float((g * g * var).sum())
    det = i11 * i22 - i12 * i12
    if det <= 0:
        return {"chisq": None, "p": None}
    chisq = u * u * i11 / det
    return {"chisq": chisq, "p": float(stats.chi2.sf(chisq, 1))}


def km_curve(time, event):
    """The Kaplan-Meier step function for plotting: (times, survival) at every unique time, empty when no data."""
    time, event = _as_arrays(time, event)
    if time.size == 0:
        return np.array([]), np.array([])
    utime, _, surv, _, _ = _km_curve(time, event)
    return utime, surv
