"""Draw the registry rows of one planned case: patient, case, apheresis, attempts, results, outcome.

Every value is drawn from the seeded ``random.Random``; dates respect the model validation
(approval ≤ apheresis ≤ manufacture ≤ result ≤ infusion ≤ progression ≤ death, last contact ≤ death).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from cases import dosing
from cases.demo import design as d

DAY = dt.timedelta(days=1)
# Table 2 of the paper: median and IQR of the apheresis labs, MF cases vs controls.
LABS = {  # field: (MF median, q1, q3), (control median, q1, q3), clamp
    "wbc": ((4.9, 3.0, 7.8), (5.8, 3.7, 8.7), (0.5, 40)),
    "neutrophils": ((2.9, 1.3, 5.8), (3.8, 2.4, 6.1), (0.2, 30)),
    "lymphocytes": ((0.7, 0.3, 1.0), (0.7, 0.4, 1.0), (0.03, 9)),
    "platelets": ((156, 104, 209), (167, 137, 237), (10, 1200)),
    "cd3_per_ul": ((480, 215.9, 1137), (460, 380, 950), (10, 7500)),
    "ldh": ((344, 283, 666), (337, 250, 395), (120, 2500)),
    "crp": ((33.5, 11, 72), (27, 7, 55.1), (0.5, 300)),
    "volume_processed_l": ((11.8, 9.2, 12.5), (11.7, 10.0, 13.0), (6, 19)),
}
DIAGNOSIS_MIX = {"dlbcl": 70, "tfl": 14, "pmbcl": 5, "hgbl": 6, "richter": 3, "tnlphl": 2}
CRS_WEIGHTS = (15, 45, 30, 7, 3)
ICANS_WEIGHTS = (55, 15, 13, 12, 5)
CYTOPENIA_WEIGHTS = {30: (25, 15, 15, 20, 25), 90: (50, 20, 15, 10, 5)}
PASS_TEXT = {"sterility": "Sterile", "mycoplasma": "Not detected", "rcr": "Not detected"}
NON_PD_DEATHS = ("Infection", "CRS", "ICANS", "COVID-19", "Unknown", "MDS / secondary malignancy", "Cardiac")
TURNAROUND = {d.AXI: (16, 24), d.TISA: (24, 36)}


@dataclass(slots=True)
class Parameter:
    id: int
    kind: str
    comparator: str
    limit: float | None
    unit: str


def lognormal(rng: random.Random, median: float, q1: float, q3: float, low: float, high: float) -> float:
    sigma = math.log(q3 / q1) / 1.349
    return round(min(high, max(low, median * math.exp(rng.gauss(0, sigma)))), 2)


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


def release_value(rng: random.Random, parameter: Parameter, *, passing: bool, per_kg_dose: float | None):
    """(value_numeric, value_text, within_spec) for one certificate-of-analysis line."""
    if parameter.comparator == "pass":
        return None, PASS_TEXT.get(parameter.kind, "Pass"), True
    limit = parameter.limit
    if parameter.kind == "car_t_dose" and per_kg_dose is not None:
        value = per_kg_dose
    elif parameter.comparator == "gte":
        if parameter.unit == "%":
            value = limit + (100 - limit) * rng.uniform(0.15, 0.8) if passing else limit * rng.uniform(0.7, 0.96)
        else:
            value = limit * (rng.uniform(1.2, 4.0) if passing else rng.uniform(0.3, 0.9))
    else:
        value = limit * (rng.uniform(0.1, 0.7) if passing else rng.uniform(1.15, 1.8))
    value = sig3(value)
    met = value >= limit if parameter.comparator == "gte" else value <= limit
    if met != passing:
        # A drawn dose can land on the wrong side of a per-kg limit; the certificate must agree
        # with the attempt's outcome, so move the value clearly across.
        value = sig3(limit * (1.2 if passing == (parameter.comparator == "gte") else 0.8))
        met = passing
    return value, "", met


class Doses:
    """Drawn viable CAR+ T-cell doses within (or, for a low-dose OOS product, below) the SmPC range."""

    def __init__(self, rules_by_product: dict[str, list]):
        self.rules = {code: [dosing.DoseRuleSpec.from_object(r) for r in rules]
                      for code, rules in rules_by_product.items()}

    def draw(self, rng: random.Random, product: str, indication: str, weight: float, *, low_dose: bool) -> float:
        rules = [r for r in self.rules.get(product, []) if r.covers(indication, weight)]
        if not rules:
            return sig3(rng.uniform(1e8, 2e8))
        low, high, _ = dosing.dose_range(rules[0], weight)
        low = low or 0.0
        high = high or low * 2 or 2e8
        if low_dose:
            return sig3(max(low, 1e7) * rng.uniform(0.55, 0.85))
        if high <= low:
            return sig3(low)
        return sig3(low + (high - low) * rng.uniform(0.5, 0.95))


def patient_values(rng: random.Random, case: d.CasePlan) -> dict:
    profile = case.profile
    male = profile.male if profile else rng.random() < 0.62
    if case.role == "extra":
        mean, sd = {"MM": (63, 9), "MCL": (66, 8), "B-ALL": (40, 15)}.get(case.indication, (62, 11))
        age = min(84, max(18, round(rng.gauss(mean, sd))))
        if case.centre == "gosh":
            age = rng.randint(16, 24)
    else:
        mean = 60 if case.role != "control" else 58.5
        age = min(82, max(19, round(rng.gauss(mean, 11))))
    height = rng.gauss(176, 7) if male else rng.gauss(163, 6)
    group = profile.bmi_group if profile else None
    bmi = {"normal": (19.0, 24.8), "over": (25.2, 29.8), "obese": (30.2, 37.0)}.get(group)
    bmi = rng.uniform(*bmi) if bmi else min(42, max(17, rng.gauss(26.5, 4.5)))
    weight = round(min(160.0, bmi * (height / 100) ** 2), 1)
    known_height = group != "" and (profile is not None or rng.random() > 0.03)
    return {"sex": "M" if male else "F", "birth_year": case.approval_date.year - age, "weight": weight,
            "height": round(height, 1) if known_height else None}


def baseline_values(rng: random.Random, case: d.CasePlan, first_apheresis: dt.date) -> dict:
    profile = case.profile
    if profile:
        lines, ecog, comorbidity = profile.prior_lines, profile.ecog, profile.comorbidity
        transplant, cytarabine, bendamustine = profile.transplant, profile.cytarabine, profile.bendamustine
        holding = rng.choice(d.HOLDING_THERAPIES) if profile.holding else "none"
        diagnosis = profile.diagnosis
    else:
        lines = rng.choices((2, 3, 4, 5), weights=(60, 25, 10, 5))[0]
        ecog = rng.choices((0, 1, 2), weights=(40, 55, 5))[0]
        comorbidity = rng.random() < 0.5
        transplant = rng.choices(("none", "auto", "allo", ""), weights=(74, 21, 3, 2))[0]
        cytarabine = rng.random() < 0.25
        bendamustine = rng.choices(("none", ">6m", "3-6m", "<3m"), weights=(88, 6, 3, 3))[0]
        holding = rng.choices(("none",) + d.HOLDING_THERAPIES, weights=(30, 10, 12, 30, 10, 8))[0]
        diagnosis = case.diagnosis or rng.choices(list(DIAGNOSIS_MIX), weights=list(DIAGNOSIS_MIX.values()))[0]
    last_dose = None
    if bendamustine != "none":
        last_dose = first_apheresis - rng.randint(*d.BENDAMUSTINE_GAP_DAYS[bendamustine]) * DAY
    return {"diagnosis": diagnosis, "treatment_line": lines + 1, "ecog": ecog, "prior_lines": lines,
            "prior_transplant": transplant, "prior_bendamustine": bendamustine != "none",
            "bendamustine_last_dose_date": last_dose,
            "bendamustine_cycles": rng.randint(1, 6) if last_dose else None,
            "prior_high_dose_cytarabine": cytarabine, "comorbidity": comorbidity, "holding_therapy": holding,
            "ldh_at_approval": lognormal(rng, 340, 250, 480, 100, 3000),
            "stage": rng.choices((1, 2, 3, 4), weights=(5, 15, 30, 50))[0]}


def labs(rng: random.Random, mf: bool) -> dict:
    values = {name: lognormal(rng, *(spec[0] if mf else spec[1]), *spec[2]) for name, spec in LABS.items()}
    values["neutrophils"] = min(values["neutrophils"], round(values["wbc"] * 0.9, 2))
    values["haemoglobin"] = round(min(160, max(65, rng.gauss(106, 15))))
    return values


def outcome_dates(rng: random.Random, *, approval: dt.date, infusion: dt.date | None, last_activity: dt.date,
                  pfs_event_12m: bool, os_dead_12m: bool, designed: bool) -> dict:
    """Progression, death (with cause) and last contact, shaped by the two 12-month flags."""
    cut = d.DATA_CUT
    progression = death = None

    def between(lo: dt.date, hi: dt.date) -> dt.date | None:
        return lo + rng.randint(0, (hi - lo).days) * DAY if lo <= hi else None

    year_from_approval = approval + 350 * DAY
    if infusion:
        if pfs_event_12m and os_dead_12m and infusion + 20 * DAY <= year_from_approval:
            death = between(max(infusion + 20 * DAY, approval + 40 * DAY), year_from_approval)
            if rng.random() < 0.85:
                progression = between(infusion + 14 * DAY, death)
        elif pfs_event_12m:
            progression = between(infusion + 20 * DAY, min(infusion + 340 * DAY, cut - DAY))
            if rng.random() < 0.6:
                death = between(max(progression + 30 * DAY, approval + 380 * DAY),
                                max(progression + 30 * DAY, approval + 380 * DAY) + 400 * DAY)
        else:
            if rng.random() < 0.25:
                progression = between(infusion + 380 * DAY, infusion + 900 * DAY)
            if progression and rng.random() < 0.6:
                death = between(progression + 30 * DAY, progression + 330 * DAY)
            elif not progression and rng.random() < 0.05:
                death = between(max(infusion, approval + 15 * DAY) + 380 * DAY, infusion + 1300 * DAY)
    else:
        start = max(last_activity + 5 * DAY, approval + 20 * DAY)
        if os_dead_12m:
            death = between(start, max(start, year_from_approval))
        elif rng.random() < 0.5:
            death = between(max(start, approval + 380 * DAY), approval + 900 * DAY)
        if death and rng.random() < 0.7:
            progression = between(max(approval, death - 60 * DAY), death)
    if progression and progression > cut:
        progression = death = None
    if death and death > cut:
        death = None
    cause = ""
    if death:
        cause = "Progressive disease" if progression and rng.random() < 0.9 else rng.choice(NON_PD_DEATHS)
        last_contact = death
    else:
        floor = max(x for x in (approval, infusion, progression, last_activity) if x)
        if designed:
            last_contact = cut
        elif rng.random() < 0.02:
            last_contact = between(floor, cut)
        else:
            last_contact = max(floor, cut - rng.randint(0, 60) * DAY)
    return {"progression": progression, "death": death, "cause": cause, "last_contact": last_contact}
