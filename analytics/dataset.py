"""The analysis dataset (CONTRACT.md): one row per case, loaded with ``values_list`` into pandas.

Rows come from a handful of flat queries (cases with their one-to-one infusion and outcome, the
first apheresis, attempts, the current control set), never one ORM object per case, so 100k cases
load in about a second. ``AnalysisData`` also carries the attempt-level rows the report's flow and
failure-reason sections need.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
from django.conf import settings
from django.db.models import Min, OuterRef, Q, Subquery

from analytics import cohorts as c
from cases.demo import paper_cohort_q
from cases.models import Apheresis, Case, ManufacturingAttempt

COLUMNS = [
    "case_id", "product", "centre", "approval_date", "infusion_date", "era", "mf", "cohort", "infused",
    "attempts", "os_days", "os_event", "pfs_days", "pfs_event", "prior_bendamustine", "sex", "comorbidity",
    "prior_lines_3plus", "holding_therapy", "ecog", "transplant", "response", "crs_grade", "icans_grade",
    "vein_to_vein_days",
]
INT_COLUMNS = ["era", "mf", "infused", "attempts", "os_days", "os_event", "pfs_days", "pfs_event", "comorbidity",
               "prior_lines_3plus", "holding_therapy", "ecog", "crs_grade", "icans_grade", "vein_to_vein_days"]
ATTEMPT_COLUMNS = ["case_id", "number", "outcome"]
REASON_COLUMNS = ["case_id", "number", "outcome", "reason", "label"]
# Apheresis labs of the paper's Table 2, taken from each case's first collection.
LAB_FIELDS = {
    "wbc": "WBC (×10⁹/L)", "neutrophils": "Neutrophils (×10⁹/L)", "lymphocytes": "ALC (×10⁹/L)",
    "cd3_per_ul": "CD3+ (cells/µL)", "haemoglobin": "Hb (g/L)", "platelets": "Platelets (×10⁹/L)",
    "ldh": "LDH (U/L)", "crp": "CRP (mg/L)", "volume_processed_l": "Blood volume processed (L)",
}

_CASE_FIELDS = (
    "id", "public_id", "product__code", "centre__code", "approval_date", "patient__sex", "ecog", "prior_lines",
    "prior_transplant", "prior_bendamustine", "bendamustine_last_dose_date", "comorbidity", "holding_therapy",
    "infusion__date", "infusion__attempt__outcome", "outcome__progression_date", "outcome__death_date",
    "outcome__last_contact_date", "outcome__best_response", "outcome__crs_grade", "outcome__icans_grade",
    "first_apheresis",
)


@dataclass(frozen=True)
class AnalysisData:
    cases: pd.DataFrame  # exactly COLUMNS, one row per case
    attempts: pd.DataFrame  # ATTEMPT_COLUMNS, one row per manufacturing attempt of those cases
    reasons: pd.DataFrame  # REASON_COLUMNS, one row per (failed attempt, failure reason)
    filters: dict
    labs: pd.DataFrame | None = None  # case_id + LAB_FIELDS of the first apheresis, when loaded


def case_filter(*, paper_cohort: bool = True, product: str | None = None, indication: str | None = None,
                era: int | None = None, centre: str | None = None) -> Q:
    """The cases an analysis covers: the paper's cohort by default, narrowed by the optional filters."""
    q = paper_cohort_q() if paper_cohort else Q()
    if product:
        q &= Q(product__code=product)
    if indication:
        q &= Q(indication=indication)
    if centre:
        q &= Q(centre__code=centre)
    if era is not None:
        if int(era) not in (1, 2):
            raise ValueError("era must be 1 or 2")
        boundary = settings.ERA_BOUNDARY
        q &= Q(approval_date__lt=boundary) if int(era) == 1 else Q(approval_date__gte=boundary)
    return q


def _days(end, start):
    return (end - start).days


def _survival(row, infusion_date):
    """(os_days, os_event, pfs_days, pfs_event) of one case row."""
    approval = row["approval_date"]
    progression, death, last_contact = (row["outcome__progression_date"], row["outcome__death_date"],
                                        row["outcome__last_contact_date"])
    # A case with no follow-up recorded yet is censored at the latest date it is known alive.
    known_alive = last_contact or max(d for d in (approval, infusion_date) if d)
    os_days, os_event = (_days(death, approval), 1) if death else (_days(known_alive, approval), 0)
    if infusion_date is None:
        return os_days, os_event, None, None
    events = [d for d in (progression, death) if d]
    if events:
        return os_days, os_event, _days(min(events), infusion_date), 1
    return os_days, os_event, _days(max(known_alive, infusion_date), infusion_date), 0


def _rows(case_rows, outcomes_by_case, controls, boundary):
    for values in case_rows:
        row = dict(zip(_CASE_FIELDS, values, strict=True))
        outcomes = outcomes_by_case.get(row["id"], [])
        mf = c.is_mf(outcomes)
        infusion_date = row["infusion__date"]
        infused = infusion_date is not None
        os_days, os_event, pfs_days, pfs_event = _survival(row, infusion_date)
        first_apheresis = row["first_apheresis"]
        yield {
            "case_id": row["public_id"], "product": row["product__code"], "centre": row["centre__code"],
            "approval_date": row["approval_date"].isoformat(),
            "infusion_date": infusion_date.isoformat() if infused else None,
            "era": c.era_of(row["approval_date"], boundary), "mf": int(mf),
            "cohort": c.cohort_of(mf=mf, infused_outcome=row["infusion__attempt__outcome"] if infused else None,
                                  is_control=row["id"] in controls),
            "infused": int(infused), "attempts": len(outcomes),
            "os_days": os_days, "os_event": os_event, "pfs_days": pfs_days, "pfs_event": pfs_event,
            "prior_bendamustine": c.bendamustine_category(row["prior_bendamustine"],
                                                          row["bendamustine_last_dose_date"], first_apheresis),
            "sex": row["patient__sex"] or None, "comorbidity": c.flag(row["comorbidity"]),
            "prior_lines_3plus": c.prior_lines_3plus(row["prior_lines"]),
            "holding_therapy": c.holding_flag(row["holding_therapy"]), "ecog": row["ecog"],
            "transplant": row["prior_transplant"] or None,
            "response": (row["outcome__best_response"] or None) if infused else None,
            "crs_grade": row["outcome__crs_grade"] if infused else None,
            "icans_grade": row["outcome__icans_grade"] if infused else None,
            "vein_to_vein_days": _days(infusion_date, first_apheresis) if infused and first_apheresis else None,
        }


def _load_labs(cases) -> pd.DataFrame:
    """One row per case with an apheresis: the labs of its first collection (lowest number)."""
    rows = (Apheresis.objects.filter(case__in=cases.values("pk")).order_by("case_id", "number")
            .values_list("case__public_id", *LAB_FIELDS))
    frame = pd.DataFrame(list(rows), columns=["case_id", *LAB_FIELDS])
    return frame.drop_duplicates("case_id", keep="first").reset_index(drop=True)


def load_analysis_data(*, labs: bool = False, **filters) -> AnalysisData:
    """The dataset and attempt rows of the cases ``case_filter(**filters)`` selects (and, with
    ``labs``, their first apheresis labs: one query more)."""
    q = case_filter(**filters)
    cases = Case.objects.filter(q)
    first_apheresis = (Apheresis.objects.filter(case=OuterRef("pk")).values("case")
                       .annotate(first=Min("date")).values("first"))
    case_rows = list(cases.annotate(first_apheresis=Subquery(first_apheresis)).order_by("approval_date", "id")
                     .values_list(*_CASE_FIELDS))
    attempt_qs = ManufacturingAttempt.objects.filter(case__in=cases.values("pk"))
    attempt_rows = list(attempt_qs.order_by("case_id", "number").values_list("case_id", "case__public_id",
                                                                            "number", "outcome"))
    outcomes_by_case: dict[int, list[str]] = defaultdict(list)
    for case_pk, _, _, outcome in attempt_rows:
        outcomes_by_case[case_pk].append(outcome)
    reason_rows = list(attempt_qs.filter(outcome__in=c.FAILED_OUTCOMES, failure_reasons__isnull=False)
                       .order_by("case_id", "number", "failure_reasons__order")
                       .values_list("case__public_id", "number", "outcome", "failure_reasons__code",
                                    "failure_reasons__label"))
    frame = pd.DataFrame(list(_rows(case_rows, outcomes_by_case, c.current_control_case_ids(),
                                    settings.ERA_BOUNDARY)), columns=COLUMNS)
    for column in INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    attempts = pd.DataFrame([(pid, n, o) for _, pid, n, o in attempt_rows], columns=ATTEMPT_COLUMNS)
    reasons = pd.DataFrame(reason_rows, columns=REASON_COLUMNS)
    return AnalysisData(cases=frame, attempts=attempts, reasons=reasons, filters=dict(filters),
                        labs=_load_labs(cases) if labs else None)


def load_dataset(**filters) -> pd.DataFrame:
    return load_analysis_data(**filters).cases


def write_csv(frame: pd.DataFrame, path) -> int:
    """Write the dataset as CONTRACT.md's CSV (empty cells where unknown); returns the number of rows."""
    frame[COLUMNS].to_csv(path, index=False, na_rep="", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    return len(frame)
