"""Write the small reference datasets that reference.R and tests/analytics/test_stats.py share.

Run once (`python tests/reference/make_datasets.py`) and commit the CSVs; the seed is fixed so a
rerun reproduces them byte for byte. Each dataset holds the awkward cases the report depends on:
tied times, censoring exactly at the 182.6 / 365.25-day landmarks, survival reaching 0, a median
on a plateau at exactly 0.5, the paper's bendamustine numbers.
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20240607


def _write(name, header, rows):
    with open(HERE / name, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def survival_rows(rng):
    rows = []
    # Ties everywhere and censoring exactly at both landmarks.
    ties = [(30, 1), (30, 1), (30, 0), (60, 1), (60, 1), (90, 0), (120, 1), (182.6, 0), (182.6, 1),
            (182.6, 0), (200, 1), (250, 0), (300, 1), (300, 1), (365.25, 0), (365.25, 0), (400, 1), (500, 0)]
    rows += [("ties", t, e, 0) for t, e in ties]
    # Survival reaches 0 at the last time (an event), landmarks before and after it.
    zero = [(10, 1), (50, 0), (100, 1), (150, 1), (150, 0), (190, 1), (365.25, 1)]
    rows += [("zero", t, e, 0) for t, e in zero]
    # Six subjects, three events before day 100: S = 0.5 exactly on [100, 200).
    plateau = [(40, 1), (70, 1), (100, 1), (150, 0), (200, 1), (420, 1)]
    rows += [("plateau", t, e, 0) for t, e in plateau]
    # Curve that ends on a plateau at exactly 0.5 (last observation censored).
    lastplateau = [(20, 1), (60, 0), (80, 1), (120, 0)]
    rows += [("lastplateau", t, e, 0) for t, e in lastplateau]
    # Few events: the median does not exist, landmarks beyond the last follow-up.
    short = [(5, 0), (12, 1), (40, 0), (90, 0), (150, 0)]
    rows += [("short", t, e, 0) for t, e in short]
    # Two groups with rounded (tied) times and non-proportional hazards, for Cox / log-rank / zph.
    n = 160
    group = np.repeat([0, 1], n // 2)
    scale = np.where(group == 1, 260.0, 420.0)
    shape = np.where(group == 1, 0.7, 1.4)
    t_event = scale * rng.weibull(shape)
    t_cens = rng.uniform(100, 900, size=n)
    time = np.round(np.minimum(t_event, t_cens) / 7) * 7 + 1  # weekly visits: many ties
    event = (t_event <= t_cens).astype(int)
    time[:3] = 182.6
    event[:3] = 0
    rows += [("twogroup", float(t), int(e), int(g)) for t, e, g in zip(time, event, group, strict=True)]
    # Three groups for the k-group log-rank.
    n = 90
    group = np.repeat([0, 1, 2], n // 3)
    scale = np.array([300.0, 380.0, 520.0])[group]
    t_event = scale * rng.weibull(1.1, size=n)
    t_cens = rng.uniform(150, 800, size=n)
    time = np.round(np.minimum(t_event, t_cens))
    event = (t_event <= t_cens).astype(int)
    rows += [("threegroup", float(t), int(e), int(g)) for t, e, g in zip(time, event, group, strict=True)]
    return rows


TABLES = {
    "mf_by_era": [[17, 445], [21, 498]],  # the paper's era 1 vs era 2 counts
    "two_by_two": [[11, 27], [3, 35]],
    "two_by_two_zero": [[0, 9], [6, 4]],
    "three_by_three": [[8, 3, 1], [2, 7, 4], [1, 2, 9]],
    "three_by_four": [[12, 9, 5, 4], [3, 6, 7, 2], [9, 8, 3, 5]],
    "empty_row": [[4, 2, 0], [0, 0, 0], [1, 5, 0]],
    "near_limit_three_by_four": [[20, 15, 12, 10], [14, 18, 16, 12], [22, 17, 20, 19]],
    "large_three_by_four": [[40, 31, 22, 10], [18, 25, 17, 9], [30, 12, 16, 20]],
    "large_two_by_two": [[150, 40], [120, 75]],
}

BINOMIAL = {"mf_axicel": (28, 805), "mf_tisacel": (10, 176), "mf_all": (38, 981), "none": (0, 12), "all": (9, 9)}


def logistic_rows(rng):
    rows = []
    # The paper's bendamustine exposure: 11 of 38 MF cases vs 3 of 38 matched controls.
    rows += [("bendamustine", 1, 1)] * 11 + [("bendamustine", 0, 1)] * 27
    rows += [("bendamustine", 1, 0)] * 3 + [("bendamustine", 0, 0)] * 35
    # A continuous predictor.
    x = rng.normal(size=120)
    y = (rng.uniform(size=120) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(int)
    rows += [("continuous", float(round(v, 4)), int(o)) for v, o in zip(x, y, strict=True)]
    return rows


def trend_rows():
    # none / >6m / <6m / <3m scored 1..4: MF 27/2/2/7, controls 35/3/0/0 (the paper's P=0.0029).
    rows = []
    for score, (mf, ctrl) in enumerate([(27, 35), (2, 3), (2, 0), (7, 0)], start=1):
        rows += [("bendamustine", score, 1)] * mf + [("bendamustine", score, 0)] * ctrl
    for score, (mf, ctrl) in enumerate([(10, 14), (6, 7), (5, 3)], start=1):
        rows += [("three_levels", score, 1)] * mf + [("three_levels", score, 0)] * ctrl
    return rows


def rank_rows(rng):
    rows = []
    a = rng.normal(10, 3, size=12).round(3)
    b = rng.normal(13, 3, size=15).round(3)
    rows += [("exact", "a", v) for v in a] + [("exact", "b", v) for v in b]
    a = rng.integers(1, 8, size=20)
    b = rng.integers(2, 10, size=18)
    rows += [("ties", "a", int(v)) for v in a] + [("ties", "b", int(v)) for v in b]
    a = rng.normal(0, 1, size=60).round(4)
    b = rng.normal(0.4, 1, size=55).round(4)
    rows += [("large", "a", v) for v in a] + [("large", "b", v) for v in b]
    for g, mu in zip("abc", [1.0, 1.5, 2.5], strict=True):
        rows += [("kw", g, int(v)) for v in rng.poisson(mu * 3, size=14)]
    return rows


def main():
    rng = np.random.default_rng(SEED)
    _write("survival.csv", ["dataset", "time", "event", "group"], survival_rows(rng))
    _write("tables.csv", ["name", "row", "col", "count"],
           [(name, i + 1, j + 1, c) for name, t in TABLES.items() for i, r in enumerate(t) for j, c in enumerate(r)])
    _write("binomial.csv", ["name", "k", "n"], [(name, k, n) for name, (k, n) in BINOMIAL.items()])
    _write("logistic.csv", ["name", "x", "y"], logistic_rows(rng))
    _write("trend.csv", ["name", "score", "mf"], trend_rows())
    _write("ranks.csv", ["name", "group", "value"], rank_rows(rng))


if __name__ == "__main__":
    main()
