"""The shape of the demo registry, taken from the UK OOS CAR-T panel paper (Blood Cancer J 2025).

Pure Python, no Django import: what cases exist, which failed manufacture and how, and the
baseline profiles of the manufacturing-failure (MF) cases and their matched controls. The
profiles are built so that the paper's Table 1 (MF vs controls) and the infused subgroups of its
Table 4 come out exactly for the default 981 cases; other sizes repeat the same profiles in
proportion. Everything random comes from the ``random.Random`` passed in, never the global one.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from dataclasses import dataclass, field

AXI, TISA = "axi-cel", "tisa-cel"
PAPER_PRODUCTS = (AXI, TISA)
PAPER_INDICATION = "LBCL"
# The paper's cohort: LBCL approved for axi-cel or tisa-cel from January 2019 to January 2023.
PAPER_WINDOW = (dt.date(2019, 1, 1), dt.date(2023, 1, 31))
DEFAULT_SIZE = 981
PAPER_COUNTS = {"cases": 981, AXI: 805, "era1": 462, "mf": 38, "mf_" + AXI: 28, "mf_era1": 17}
# Follow-up is censored here: every date of the registry is on or before it.
DATA_CUT = dt.date(2024, 6, 30)
EXTRA_WINDOW = (dt.date(2023, 2, 1), dt.date(2024, 3, 31))
# Cases of other products and indications, for realism; none of them is in the paper's cohort.
EXTRA_MIX = (  # product, indication, diagnosis, how many in the default registry
    ("brexu-cel", "MCL", "mcl", 10),
    ("liso-cel", "LBCL", "dlbcl", 10),
    ("cilta-cel", "MM", "mm", 8),
    ("ide-cel", "MM", "mm", 5),
    ("obe-cel", "B-ALL", "b_all", 7),
)
DEFAULT_EXTRAS = sum(row[3] for row in EXTRA_MIX)

CENTRES = (  # code, name, share of the LBCL cases
    ("uhb", "University Hospitals Birmingham", 0.16),
    ("kch", "King's College Hospital, London", 0.17),
    ("uclh", "University College London Hospitals", 0.15),
    ("bri", "University Hospitals Bristol and Weston", 0.08),
    ("ncl", "Newcastle upon Tyne Hospitals", 0.09),
    ("man", "The Christie, Manchester", 0.14),
    ("gosh", "Great Ormond Street Hospital for Children", 0.0),
    ("lds", "Leeds Teaching Hospitals", 0.11),
    ("gla", "Queen Elizabeth University Hospital, Glasgow", 0.10),
)

OOS, IN_SPEC, NO_PRODUCT = "oos", "in_spec", "no_product"
OOS_INFUSED, DELAYED_INFUSED, MF_NOT_INFUSED, CONTROL = "oos_infused", "delayed_infused", "mf_not_infused", "control"

# Per-patient attempt sequences (outcome of attempts 1..n, the attempt infused or None) and how many
# of the 38 MF patients follow each. Attempts stop at the first in-spec product or an infused OOS one.
# By attempt: 1st 18 OOS + 20 none; 2nd 2 OOS + 11 in spec + 5 none; 3rd 1 in spec + 1 none; 4th 1 in
# spec: 59 attempts, 20 OOS (13 infused), 13 in spec after remanufacture (11 infused), 26 no product.
MF_SEQUENCES = (
    ((OOS,), 1, 11),
    ((NO_PRODUCT, OOS), 2, 2),
    ((OOS,), None, 3),
    ((NO_PRODUCT,), None, 6),
    ((OOS, IN_SPEC), 2, 3),
    ((OOS, NO_PRODUCT), None, 1),
    ((NO_PRODUCT, IN_SPEC), 2, 7),
    ((NO_PRODUCT, IN_SPEC), None, 1),
    ((NO_PRODUCT, NO_PRODUCT), None, 2),
    ((NO_PRODUCT, NO_PRODUCT, IN_SPEC), 3, 1),
    ((NO_PRODUCT, NO_PRODUCT, NO_PRODUCT, IN_SPEC), None, 1),
)

# Failure reasons, one per failed attempt (46): the paper's top five over all failed attempts are
# viability 8, T-cell purity 8, poor growth 6, IFN-γ 6, CAR-T dose 4; over OOS attempts viability 5,
# IFN-γ 5, purity 4. The low-dose OOS products go mostly to patients not infused, because the panel
# approves an OOS product when its dose is within the SmPC (all but one OOS-infused in the paper).
OOS_REASON_POOL = {"low_viability": 5, "low_ifn_gamma": 5, "low_t_cell_purity": 4, "low_car_expression": 1,
                   "high_vcn": 2}
OOS_INFUSED_LOW_DOSE, OOS_NOT_INFUSED_LOW_DOSE = 1, 2
NO_PRODUCT_REASONS = {"low_viability": 3, "low_t_cell_purity": 4, "poor_growth": 6, "low_ifn_gamma": 1,
                      "low_car_t_dose": 1, "failed_manufacture": 3, "contamination": 3, "other": 3,
                      "low_car_expression": 2}
REASON_CODES = ("low_viability", "low_t_cell_purity", "poor_growth", "low_ifn_gamma", "low_car_t_dose",
                "low_car_expression", "high_vcn", "contamination", "failed_manufacture", "other")
# The release parameter an OOS reason fails (its ReleaseParameter.kind).
REASON_PARAMETER = {"low_viability": "viability", "low_ifn_gamma": "ifn_gamma", "low_t_cell_purity": "cd3_purity",
                    "low_car_t_dose": "car_t_dose", "low_car_expression": "car_expression", "high_vcn": "vcn"}

# Baseline counts per cohort: Table 1 totals split by Table 4's infused subgroups (MF-not-infused
# and non-infused controls get the remainder). Keys: count of the level within the cohort.
MF_COHORTS = {
    OOS_INFUSED: {"n": 13, "tisa": 4, "male": 9, "ecog0": 7, "lines3": 6, "comorbid": 7,
                  "transplant": {"none": 9, "auto": 2, "": 2},
                  "diagnosis": {"dlbcl": 5, "pmbcl": 1, "tfl": 5, "richter": 2},
                  "bmi": {"normal": 5, "over": 6, "obese": 2},
                  "os_dead_12m": 6, "pfs_event_12m": 7},
    DELAYED_INFUSED: {"n": 11, "tisa": 2, "male": 7, "ecog0": 4, "lines3": 2, "comorbid": 7,
                      "transplant": {"none": 9, "auto": 1, "allo": 1},
                      "diagnosis": {"dlbcl": 7, "pmbcl": 1, "tfl": 2, "richter": 1},
                      "bmi": {"normal": 5, "over": 3, "obese": 3},
                      "os_dead_12m": 6, "pfs_event_12m": 8},
    MF_NOT_INFUSED: {"n": 14, "tisa": 4, "male": 11, "ecog0": 2, "lines3": 8, "comorbid": 8,
                     "transplant": {"none": 10, "auto": 2, "allo": 2},
                     "diagnosis": {"dlbcl": 9, "tfl": 4, "tnlphl": 1},
                     "bmi": {"normal": 5, "over": 6, "obese": 2, "": 1},
                     "os_dead_12m": 11, "pfs_event_12m": 0},
}
MF_OVERALL = {"bendamustine": {">6m": 2, "3-6m": 2, "<3m": 7, "none": 27}, "cytarabine": 9, "holding": 14}
CONTROL_COHORTS = {
    True: {"n": 29, "tisa": 6, "male": 17, "ecog0": 12, "lines3": 8, "comorbid": 14,
           "transplant": {"none": 23, "auto": 6},
           "diagnosis": {"dlbcl": 23, "pmbcl": 1, "tfl": 4, "richter": 1},
           "bmi": {"normal": 14, "over": 10, "obese": 5},
           "os_dead_12m": 9, "pfs_event_12m": 17},
    False: {"n": 9, "tisa": 4, "male": 5, "ecog0": 2, "lines3": 7, "comorbid": 6,
            "transplant": {"none": 9},
            "diagnosis": {"dlbcl": 8, "tfl": 1},
            "bmi": {"normal": 1, "over": 4, "obese": 2, "": 2},
            "os_dead_12m": 6, "pfs_event_12m": 0},
}
CONTROL_OVERALL = {"bendamustine": {">6m": 3, "none": 35}, "cytarabine": 11, "holding": 10}
# Days from the last bendamustine dose to the first apheresis, kept clear of the 3- and 6-month cuts.
BENDAMUSTINE_GAP_DAYS = {"<3m": (30, 75), "3-6m": (110, 165), ">6m": (240, 900)}
HOLDING_THERAPIES = ("steroids", "rt", "intensive", "low_dose", "cmt")


@dataclass(slots=True)
class Profile:
    """Designed baseline, manufacturing and outcome plan of one MF case or matched control."""

    product: str
    cohort: str
    infused: bool
    male: bool
    ecog: int
    prior_lines: int
    comorbidity: bool
    transplant: str
    diagnosis: str
    bmi_group: str
    bendamustine: str
    cytarabine: bool
    holding: bool
    os_dead_12m: bool
    pfs_event_12m: bool
    sequence: tuple = ()
    infused_attempt: int | None = None
    reasons: list = field(default_factory=list)


@dataclass(slots=True)
class CasePlan:
    """One case of the registry before it is written: the decisions the rows are drawn from."""

    product: str
    indication: str
    approval_date: dt.date
    centre: str
    role: str  # "mf", "control", "regular" or "extra"
    diagnosis: str = ""
    profile: Profile | None = None
    matched_index: int | None = None  # for an MF case: the index of its control in the plan


def _spread(rng: random.Random, counts: dict, n: int) -> list:
    values = [key for key, k in counts.items() for _ in range(k)]
    assert len(values) == n, (counts, n)
    rng.shuffle(values)
    return values


def _flags(rng: random.Random, k: int, n: int) -> list[bool]:
    return _spread(rng, {True: k, False: n - k}, n)


def _cohort_profiles(rng: random.Random, spec: dict, cohort: str, infused: bool) -> list[Profile]:
    n = spec["n"]
    products = _spread(rng, {TISA: spec["tisa"], AXI: n - spec["tisa"]}, n)
    male, ecog0 = _flags(rng, spec["male"], n), _flags(rng, spec["ecog0"], n)
    lines3, comorbid = _flags(rng, spec["lines3"], n), _flags(rng, spec["comorbid"], n)
    transplant, diagnosis = _spread(rng, spec["transplant"], n), _spread(rng, spec["diagnosis"], n)
    bmi = _spread(rng, spec["bmi"], n)
    pfs = _flags(rng, spec["pfs_event_12m"], n)
    # Death within a year of approval implies an event within a year of infusion, so the infused
    # deaths are drawn from the PFS events.
    if infused:
        event_idx = [i for i in range(n) if pfs[i]]
        dead_idx = set(rng.sample(event_idx, spec["os_dead_12m"]))
        dead = [i in dead_idx for i in range(n)]
    else:
        dead = _flags(rng, spec["os_dead_12m"], n)
    return [
        Profile(product=products[i], cohort=cohort, infused=infused, male=male[i], ecog=0 if ecog0[i] else 1,
                prior_lines=rng.choice((3, 3, 3, 4, 5)) if lines3[i] else 2, comorbidity=comorbid[i],
                transplant=transplant[i], diagnosis=diagnosis[i], bmi_group=bmi[i], bendamustine="none",
                cytarabine=False, holding=False, os_dead_12m=dead[i], pfs_event_12m=pfs[i])
        for i in range(n)
    ]


def _apply_overall(rng: random.Random, profiles: list[Profile], overall: dict) -> None:
    n = len(profiles)
    bendamustine = _spread(rng, overall["bendamustine"], n)
    cytarabine, holding = _flags(rng, overall["cytarabine"], n), _flags(rng, overall["holding"], n)
    for profile, b, c, h in zip(profiles, bendamustine, cytarabine, holding, strict=True):
        profile.bendamustine, profile.cytarabine, profile.holding = b, c, h


def _sequences_for(cohort: str) -> list[tuple]:
    rows = []
    for sequence, infused_attempt, k in MF_SEQUENCES:
        if infused_attempt is None:
            kind = MF_NOT_INFUSED
        else:
            kind = OOS_INFUSED if sequence[infused_attempt - 1] == OOS else DELAYED_INFUSED
        if kind == cohort:
            rows.extend([(sequence, infused_attempt)] * k)
    return rows


def mf_template(rng: random.Random) -> list[Profile]:
    """The 38 MF profiles of the paper, with attempt sequences and one failure reason per failed attempt."""
    profiles = []
    for cohort, spec in MF_COHORTS.items():
        cohort_profiles = _cohort_profiles(rng, spec, cohort, infused=cohort != MF_NOT_INFUSED)
        sequences = _sequences_for(cohort)
        rng.shuffle(sequences)
        for profile, (sequence, infused_attempt) in zip(cohort_profiles, sequences, strict=True):
            profile.sequence, profile.infused_attempt = sequence, infused_attempt
        profiles.extend(cohort_profiles)
    _apply_overall(rng, profiles, MF_OVERALL)
    pool = _spread(rng, OOS_REASON_POOL, sum(OOS_REASON_POOL.values()))
    infused_oos = ["low_car_t_dose"] * OOS_INFUSED_LOW_DOSE + pool[:13 - OOS_INFUSED_LOW_DOSE]
    other_oos = ["low_car_t_dose"] * OOS_NOT_INFUSED_LOW_DOSE + pool[13 - OOS_INFUSED_LOW_DOSE:]
    rng.shuffle(infused_oos)
    rng.shuffle(other_oos)
    no_product = _spread(rng, NO_PRODUCT_REASONS, sum(NO_PRODUCT_REASONS.values()))
    for profile in profiles:
        for number, outcome in enumerate(profile.sequence, start=1):
            if outcome == OOS:
                source = infused_oos if profile.infused_attempt == number else other_oos
                profile.reasons.append(source.pop())
            elif outcome == NO_PRODUCT:
                profile.reasons.append(no_product.pop())
            else:
                profile.reasons.append(None)
    assert not infused_oos and not other_oos and not no_product
    return profiles


def control_template(rng: random.Random) -> list[Profile]:
    """The 38 matched-control profiles of the paper (29 infused)."""
    profiles = []
    for infused, spec in CONTROL_COHORTS.items():
        cohort_profiles = _cohort_profiles(rng, spec, CONTROL, infused=infused)
        for profile in cohort_profiles:
            profile.sequence, profile.infused_attempt = (IN_SPEC,), 1 if infused else None
            profile.reasons = [None]
        profiles.extend(cohort_profiles)
    _apply_overall(rng, profiles, CONTROL_OVERALL)
    return profiles


def _scaled(rng: random.Random, build, needs: dict[str, int]) -> dict[str, list[Profile]]:
    """Profiles per product: whole copies of the paper's template, then a sample of one more copy.

    One template serves every product, so the default registry gets exactly the paper's counts.
    """
    out: dict[str, list[Profile]] = {product: [] for product in needs}
    while any(len(out[p]) < k for p, k in needs.items()):
        batch = build(rng)
        for product, k in needs.items():
            part = [p for p in batch if p.product == product]
            missing = k - len(out[product])
            out[product].extend(part if len(part) <= missing else rng.sample(part, missing))
    for profiles in out.values():
        rng.shuffle(profiles)
    return out


def _dates(rng: random.Random, n: int, start: dt.date, end: dt.date) -> list[dt.date]:
    span = (end - start).days
    return [start + dt.timedelta(days=rng.randint(0, span)) for _ in range(n)]


def _counts(size: int) -> dict:
    def share(total: int, part: int, whole: int) -> int:
        return round(total * part / whole)

    mf = share(size, 38, 981)
    mf_axi = share(mf, 28, 38)
    mf_era1 = share(mf, 17, 38)
    mf_axi_era1 = min(mf_axi, mf_era1, share(mf_era1, mf_axi, mf) if mf else 0)
    return {"axi": share(size, 805, 981), "era1": share(size, 462, 981), "mf": mf,
            (AXI, 1): mf_axi_era1, (AXI, 2): mf_axi - mf_axi_era1,
            (TISA, 1): mf_era1 - mf_axi_era1, (TISA, 2): mf - mf_axi - (mf_era1 - mf_axi_era1),
            "extras": DEFAULT_EXTRAS if size == DEFAULT_SIZE else max(5, share(size, DEFAULT_EXTRAS, 981))}


def _match_controls(rng: random.Random, plan: list[CasePlan]) -> None:
    """1:1 greedy matching in approval order: same product, nearest approval date, ties by the seed."""
    pools: dict[str, list[tuple[int, int]]] = {}
    for index, case in enumerate(plan):
        if case.role == "regular":
            pools.setdefault(case.product, []).append((case.approval_date.toordinal(), index))
    for pool in pools.values():
        pool.sort()
    for case in plan:
        if case.role != "mf":
            continue
        pool = pools.get(case.product) or []
        if not pool:
            continue
        day = case.approval_date.toordinal()
        at = bisect.bisect_left(pool, (day, -1))
        best = min(abs(pool[i][0] - day) for i in (at - 1, at) if 0 <= i < len(pool))
        lo, hi = at, at
        while lo > 0 and abs(pool[lo - 1][0] - day) <= best:
            lo -= 1
        while hi < len(pool) and abs(pool[hi][0] - day) <= best:
            hi += 1
        tied = [i for i in range(lo, hi) if abs(pool[i][0] - day) == best]
        chosen = pool.pop(rng.choice(tied))
        case.matched_index = chosen[1]
        plan[chosen[1]].role = "control"


def _pick_centre(rng: random.Random, weighted: tuple) -> str:
    return rng.choices(weighted[0], weights=weighted[1])[0]


def build_plan(*, seed: int, size: int = DEFAULT_SIZE, era_boundary: dt.date) -> list[CasePlan]:
    """Every case of the demo registry, sorted by approval date; deterministic for (seed, size)."""
    rng = random.Random(seed)
    counts = _counts(size)
    lbcl_centres = ([c for c, _, w in CENTRES if w], [w for _, _, w in CENTRES if w])
    products = [AXI] * counts["axi"] + [TISA] * (size - counts["axi"])
    eras = [1] * counts["era1"] + [2] * (size - counts["era1"])
    rng.shuffle(products)
    rng.shuffle(eras)
    start, end = PAPER_WINDOW
    era1_dates = iter(_dates(rng, counts["era1"], start, era_boundary - dt.timedelta(days=1)))
    era2_dates = iter(_dates(rng, size - counts["era1"], era_boundary, end))
    plan = [CasePlan(product=p, indication=PAPER_INDICATION, approval_date=next(era1_dates if e == 1 else era2_dates),
                     centre=_pick_centre(rng, lbcl_centres), role="regular")
            for p, e in zip(products, eras, strict=True)]
    groups: dict[tuple, list[int]] = {}
    for index, (product, era) in enumerate(zip(products, eras, strict=True)):
        groups.setdefault((product, era), []).append(index)
    mf_slots: dict[str, list[int]] = {AXI: [], TISA: []}
    for key in ((AXI, 1), (AXI, 2), (TISA, 1), (TISA, 2)):
        available = groups.get(key, [])
        mf_slots[key[0]].extend(rng.sample(available, min(counts[key], len(available))))
    mf_profiles = _scaled(rng, mf_template, {product: len(slots) for product, slots in mf_slots.items()})
    for product, slots in mf_slots.items():
        rng.shuffle(slots)
        for index, profile in zip(slots, mf_profiles[product], strict=True):
            plan[index].role, plan[index].profile = "mf", profile
            plan[index].diagnosis = profile.diagnosis
    for product, _, diagnosis, k in EXTRA_MIX:
        n = k if counts["extras"] == DEFAULT_EXTRAS else max(1, round(counts["extras"] * k / DEFAULT_EXTRAS))
        for day in _dates(rng, n, *EXTRA_WINDOW):
            centre = "gosh" if product == "obe-cel" and rng.random() < 0.3 else _pick_centre(rng, lbcl_centres)
            indication = next(ind for p, ind, _, _ in EXTRA_MIX if p == product)
            plan.append(CasePlan(product=product, indication=indication, approval_date=day, centre=centre,
                                 role="extra", diagnosis=diagnosis))
    # Sorting by approval date gives public ids in registration order; the sort is stable, so
    # equal dates keep the seeded order.
    plan.sort(key=lambda case: case.approval_date)
    _match_controls(rng, plan)
    controls = _scaled(rng, control_template, {
        product: sum(1 for c in plan if c.role == "mf" and c.product == product and c.matched_index is not None)
        for product in PAPER_PRODUCTS})
    for case in plan:
        if case.role == "mf" and case.matched_index is not None:
            control = plan[case.matched_index]
            control.profile = controls[control.product].pop()
            control.diagnosis = control.profile.diagnosis
    return plan


def in_paper_cohort(product: str, indication: str, approval_date: dt.date) -> bool:
    """The paper's cohort filter in plain Python (the ORM form is ``cases.demo.paper_cohort_q``)."""
    return (indication == PAPER_INDICATION and product in PAPER_PRODUCTS
            and PAPER_WINDOW[0] <= approval_date <= PAPER_WINDOW[1])
