"""The paper's cohorts and derived baseline categories, one case at a time.

The derivations are plain functions of a case's values so the dataset loader, the report and the
tests share one definition; only ``current_control_case_ids`` touches the database.
"""

from __future__ import annotations

import datetime as dt

OOS_INFUSED = "oos_infused"
DELAYED_INFUSED = "delayed_infused"
MF_NOT_INFUSED = "mf_not_infused"
CONTROL = "control"
OTHER = "other"
MF_COHORTS = (OOS_INFUSED, DELAYED_INFUSED, MF_NOT_INFUSED)
OS_COHORTS = (*MF_COHORTS, CONTROL)
# PFS starts at infusion, so only infused cases have it; "control" then means the infused controls.
PFS_COHORTS = (OOS_INFUSED, DELAYED_INFUSED, CONTROL)

FAILED_OUTCOMES = frozenset({"oos", "no_product"})

# Time from the last bendamustine dose to the first apheresis. The demo registry keeps its gaps
# clear of these cuts (cases/demo/design.py BENDAMUSTINE_GAP_DAYS: <3m 30-75 days, 3-6m 110-165,
# >6m 240+), and CONTRACT.md fixes 6 months = 182.6 days, so 3 months = 91.3 days (half of it).
THREE_MONTHS_DAYS = 91.3
SIX_MONTHS_DAYS = 182.6
BENDAMUSTINE_CATEGORIES = ("none", ">6m", "<6m", "<3m")  # the trend test's order, scores 1..4


def is_mf(attempt_outcomes) -> bool:
    """Manufacturing failure: any attempt out of specification or with no product."""
    return any(outcome in FAILED_OUTCOMES for outcome in attempt_outcomes)


def cohort_of(*, mf: bool, infused_outcome: str | None, is_control: bool) -> str:
    """The paper's cohort of a case; ``infused_outcome`` is the outcome of the infused attempt (None if not infused)."""
    if mf:
        if infused_outcome is None:
            return MF_NOT_INFUSED
        return OOS_INFUSED if infused_outcome == "oos" else DELAYED_INFUSED
    return CONTROL if is_control else OTHER


def era_of(approval_date: dt.date, boundary: dt.date) -> int:
    """Era 1 before the boundary (settings.ERA_BOUNDARY), era 2 from it on."""
    return 1 if approval_date < boundary else 2


def bendamustine_category(prior: bool | None, last_dose: dt.date | None, first_apheresis: dt.date | None) -> str:
    """none / >6m / <6m (3-6 months) / <3m before the first apheresis; "" when unknown."""
    if prior is None:
        return ""
    if not prior:
        return "none"
    if last_dose is None or first_apheresis is None:
        return ""
    gap = (first_apheresis - last_dose).days
    if gap < THREE_MONTHS_DAYS:
        return "<3m"
    if gap < SIX_MONTHS_DAYS:
        return "<6m"
    return ">6m"


def flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def prior_lines_3plus(prior_lines: int | None) -> int | None:
    return None if prior_lines is None else int(prior_lines >= 3)


def holding_flag(holding_therapy: str | None) -> int | None:
    """1 for any holding therapy, 0 for "none", None when not recorded (blank)."""
    if not holding_therapy:
        return None
    return int(holding_therapy != "none")


def current_control_case_ids() -> set[int]:
    """Primary keys of the control cases of the current matched control set (empty when none)."""
    from analytics.models import MatchedControlPair

    return set(MatchedControlPair.objects.filter(control_set__is_current=True)
               .values_list("control_case_id", flat=True))


def match_controls(mf_cases, candidates, seed: int) -> list[tuple]:
    """1:1 matched controls: for each MF case the unused candidate of the same group (product and
    indication) with the nearest approval date; equally near candidates are ordered by the seed.

    ``mf_cases`` and ``candidates`` are iterables of (id, group, approval_date). MF cases are taken
    in approval-date order (then id), so the same inputs and seed always give the same pairs.
    Returns [(mf_id, control_id)]; an MF case with no candidate left is not paired.
    """
    import bisect
    import random

    rng = random.Random(f"controls:{seed}")
    by_group: dict = {}
    for case_id, group, approval in sorted(candidates, key=lambda r: (r[2], r[0])):
        by_group.setdefault(group, []).append((approval.toordinal(), rng.random(), case_id))
    for rows in by_group.values():
        rows.sort()
    used: set = set()
    pairs = []
    for mf_id, group, approval in sorted(mf_cases, key=lambda r: (r[2], r[0])):
        rows = by_group.get(group, [])
        day = approval.toordinal()
        start = bisect.bisect_left(rows, (day,))
        best = None
        left, right = start - 1, start
        # Walk outwards from the approval date; stop once both sides are farther than the best found.
        while left >= 0 or right < len(rows):
            left_dist = day - rows[left][0] if left >= 0 else None
            right_dist = rows[right][0] - day if right < len(rows) else None
            nearest = min(d for d in (left_dist, right_dist) if d is not None)
            if best is not None and nearest > best[0]:
                break
            if left_dist is not None and left_dist == nearest:
                if rows[left][2] not in used:
                    best = min(best or (left_dist, 2.0, None), (left_dist, rows[left][1], rows[left][2]))
                left -= 1
            if right_dist is not None and right_dist == nearest:
                if rows[right][2] not in used:
                    best = min(best or (right_dist, 2.0, None), (right_dist, rows[right][1], rows[right][2]))
                right += 1
        if best is not None and best[2] is not None:
            used.add(best[2])
            pairs.append((mf_id, best[2]))
    return pairs
