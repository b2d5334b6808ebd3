"""The analysis dataset (CONTRACT.md): one row per case, loaded with ``values_list`` into pandas.

Rows come from a handful of flat queries (cases with their one-to-one infusion and outcome, the
first apheresis, attempts, the current control set), never one ORM object per case, so 100k cases
load in about a second. ``AnalysisData`` also carries the attempt-level rows the report's flow and
failure-reason sections need.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Q

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
    labs: pd.DataFrame | None = None  # case_id + LAB_FIELDS of the first apheresis collection


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


def _dates(frame, column):
    return pd.to_datetime(frame[column], errors="coerce")


def _days(end, start):
    return (end - start).dt.days.astype("Float64")


def _flags(values, convert):
    """A nullable 0/1 (or small int) column: None where the value is unknown."""
    return pd.array([None if v is None else convert(v) for v in values], dtype="Int64")


def _frame(case_rows, attempt_rows, controls, boundary) -> pd.DataFrame:
    """The dataset columns of the case rows, computed column-wise (no Python work per case beyond flags)."""
    raw = pd.DataFrame.from_records(case_rows, columns=list(_CASE_FIELDS))
    attempts = pd.DataFrame.from_records(attempt_rows, columns=["case_pk", "number", "outcome"])
    failed_pks = set(attempts.loc[attempts["outcome"].isin(c.FAILED_OUTCOMES), "case_pk"])
    n_attempts = attempts.groupby("case_pk").size()
    approval, infusion = _dates(raw, "approval_date"), _dates(raw, "infusion__date")
    progression, death = _dates(raw, "outcome__progression_date"), _dates(raw, "outcome__death_date")
    last_contact, first_apheresis = _dates(raw, "outcome__last_contact_date"), _dates(raw, "first_apheresis")
    last_dose = _dates(raw, "bendamustine_last_dose_date")
    infused = infusion.notna()
    mf = raw["id"].isin(failed_pks)
    # A case with no follow-up recorded yet is censored at the latest date it is known alive.
    known_alive = last_contact.fillna(pd.concat([approval, infusion], axis=1).max(axis=1))
    died = death.notna()
    os_days = _days(death.where(died, known_alive), approval)
    pfs_event_date = pd.concat([progression, death], axis=1).min(axis=1)
    has_pfs_event = pfs_event_date.notna()
    pfs_end = pfs_event_date.where(has_pfs_event, pd.concat([known_alive, infusion], axis=1).max(axis=1))
    pfs_days = _days(pfs_end, infusion).where(infused)
    infused_oos = raw["infusion__attempt__outcome"] == "oos"
    cohort = np.select(
        [mf & ~infused, mf & infused & infused_oos, mf & infused, raw["id"].isin(controls)],
        [c.MF_NOT_INFUSED, c.OOS_INFUSED, c.DELAYED_INFUSED, c.CONTROL], default=c.OTHER)
    gap = (first_apheresis - last_dose).dt.days
    prior = raw["prior_bendamustine"]
    bendamustine = np.select(
        [prior.isna(), prior == False, gap.isna(), gap < c.THREE_MONTHS_DAYS, gap < c.SIX_MONTHS_DAYS],  # noqa: E712
        ["", "none", "", "<3m", "<6m"], default=">6m")

    def when_infused(column):
        return raw[column].where(infused & raw[column].notna() & (raw[column] != ""), None)

    frame = pd.DataFrame({
        "case_id": raw["public_id"], "product": raw["product__code"], "centre": raw["centre__code"],
        "approval_date": approval.dt.strftime("%Y-%m-%d"),
        "infusion_date": infusion.dt.strftime("%Y-%m-%d").where(infused, None),
        "era": np.where(approval < pd.Timestamp(boundary), 1, 2), "mf": mf.astype(int),
        "cohort": cohort, "infused": infused.astype(int),
        "attempts": raw["id"].map(n_attempts).fillna(0).astype(int),
        "os_days": os_days, "os_event": died.astype(int),
        "pfs_days": pfs_days, "pfs_event": has_pfs_event.astype("Float64").where(infused),
        "prior_bendamustine": bendamustine,
        "sex": raw["patient__sex"].where(raw["patient__sex"].notna() & (raw["patient__sex"] != ""), None),
        "comorbidity": _flags(raw["comorbidity"].astype(object).where(raw["comorbidity"].notna(), None),
                              lambda v: int(bool(v))),
        "prior_lines_3plus": _flags(raw["prior_lines"].astype(object).where(raw["prior_lines"].notna(), None),
                                    lambda v: int(v >= 3)),
        "holding_therapy": _flags([v or None for v in raw["holding_therapy"]], lambda v: int(v != "none")),
        "ecog": raw["ecog"],
        "transplant": raw["prior_transplant"].where(raw["prior_transplant"].notna()
                                                    & (raw["prior_transplant"] != ""), None),
        "response": when_infused("outcome__best_response"),
        "crs_grade": raw["outcome__crs_grade"].where(infused),
        "icans_grade": raw["outcome__icans_grade"].where(infused),
        "vein_to_vein_days": _days(infusion, first_apheresis).where(infused & first_apheresis.notna()),
    }, columns=COLUMNS)
    for column in INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    return frame


def _apheresis(cases):
    """{case pk: first apheresis date} and the labs of each case's first collection (lowest number), from
    one flat query over the apheresis table."""
    rows = list(Apheresis.objects.filter(case__in=cases.values("pk")).order_by("case_id", "number")
                .values_list("case_id", "date", *LAB_FIELDS))
    first_date: dict[int, object] = {}
    first_labs: dict[int, tuple] = {}
    for case_pk, date, *labs in rows:
        if case_pk not in first_labs:
            first_labs[case_pk] = tuple(labs)
            first_date[case_pk] = date
        elif date < first_date[case_pk]:
            first_date[case_pk] = date
    return first_date, first_labs


def load_analysis_data(*, labs: bool = True, **filters) -> AnalysisData:
    """The dataset, attempt, failure-reason and (``labs``) first-apheresis lab rows of the cases
    ``case_filter(**filters)`` selects, in five flat queries."""
    q = case_filter(**filters)
    cases = Case.objects.filter(q)
    case_rows = list(cases.order_by("approval_date", "id").values_list(*_CASE_FIELDS[:-1]))
    public_ids = {row[0]: row[1] for row in case_rows}
    first_date, first_labs = _apheresis(cases)
    attempt_qs = ManufacturingAttempt.objects.filter(case__in=cases.values("pk"))
    attempt_rows = list(attempt_qs.order_by("case_id", "number").values_list("case_id", "number", "outcome"))
    reason_rows = list(attempt_qs.filter(outcome__in=c.FAILED_OUTCOMES, failure_reasons__isnull=False)
                       .order_by("case_id", "number", "failure_reasons__order")
                       .values_list("case__public_id", "number", "outcome", "failure_reasons__code",
                                    "failure_reasons__label"))
    with_first = [(*row, first_date.get(row[0])) for row in case_rows]
    frame = _frame(with_first, attempt_rows, c.current_control_case_ids(), settings.ERA_BOUNDARY)
    attempts = pd.DataFrame([(public_ids[pk], n, o) for pk, n, o in attempt_rows], columns=ATTEMPT_COLUMNS)
    reasons = pd.DataFrame(reason_rows, columns=REASON_COLUMNS)
    lab_frame = None
    if labs:
        lab_frame = pd.DataFrame([(public_ids[pk], *values) for pk, values in first_labs.items()],
                                 columns=["case_id", *LAB_FIELDS])
    return AnalysisData(cases=frame, attempts=attempts, reasons=reasons, filters=dict(filters), labs=lab_frame)


def load_dataset(**filters) -> pd.DataFrame:
    return load_analysis_data(**filters).cases


def write_csv(frame: pd.DataFrame, path) -> int:
    """Write the dataset as CONTRACT.md's CSV (empty cells where unknown); returns the number of rows."""
    frame[COLUMNS].to_csv(path, index=False, na_rep="", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    return len(frame)
