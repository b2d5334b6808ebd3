"""The analysis dataset (CONTRACT.md): one row per case, loaded with ``values_list`` into pandas.

Rows come from a handful of flat queries (cases with their one-to-one infusion and outcome, the
first apheresis, attempts, the current control set), never one ORM object per case, so 100k cases
load in about a second. ``AnalysisData`` also carries the attempt-level rows the report's flow and
failure-reason sections need.
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from psycopg import pq

from analytics import cohorts as c
from analytics.models import MatchedControlPair
from cases.demo import paper_cohort_q
from cases.models import Apheresis, Case, Infusion, ManufacturingAttempt, Outcome, Patient

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

# The case columns the dataset is computed from, read one table at a time (joins of 100k rows cost the
# database more than pandas' index lookups) and assembled by primary key in ``_raw_cases``.
_CASE_FIELDS = ("id", "public_id", "product__code", "centre__code", "patient_id", "approval_date", "ecog",
                "prior_lines", "prior_transplant", "prior_bendamustine", "bendamustine_last_dose_date", "comorbidity",
                "holding_therapy")
_INFUSION_FIELDS = ("case_id", "date", "attempt_id")
_OUTCOME_FIELDS = ("case_id", "progression_date", "death_date", "last_contact_date", "best_response", "crs_grade",
                   "icans_grade")
# From this share of the registry on, a child table is read whole and narrowed in pandas: a sequential
# scan costs the database about half of the semi-join ``case_id IN (the selected cases)``.
WHOLE_TABLE_SHARE = 0.5


@dataclass(frozen=True)
class AnalysisData:
    cases: pd.DataFrame  # exactly COLUMNS, one row per case
    attempts: pd.DataFrame  # ATTEMPT_COLUMNS, one row per manufacturing attempt of those cases
    reasons: pd.DataFrame  # REASON_COLUMNS, one row per (failed attempt, failure reason)
    filters: dict
    # case_id + LAB_FIELDS of the first apheresis collection of the MF and control cases (OS_COHORTS)
    labs: pd.DataFrame | None = None


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


def _copy_csv(queryset) -> io.BytesIO:
    """The queryset's rows as CSV, streamed from PostgreSQL with ``COPY (query) TO STDOUT``.

    psycopg opens the COPY (and the transaction, under ``atomic``) and closes it; the rows are read in
    between straight from libpq, because ``Copy.read()`` costs a Python generator round trip per row
    (about 3 µs: a second per 300k rows) where ``get_copy_data`` costs a C call. Errors surface as
    Django's database errors, as from any query.
    """
    sql, params = queryset.query.sql_with_params()
    buffer, error = io.BytesIO(), None
    with connection.wrap_database_errors, connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params):
            pgconn = cursor.cursor.connection.pgconn
            while (received := pgconn.get_copy_data(0))[0] > 0:
                buffer.write(received[1])
            if received[0] == -2:
                error = psycopg.OperationalError(pgconn.get_error_message())
            # The COPY's own result: COMMAND_OK, or the error that ended it (e.g. division by zero).
            while (result := pgconn.get_result()) is not None:
                if result.status != pq.ExecStatus.COMMAND_OK:
                    error = error or psycopg.errors.error_from_result(result)
        if error is not None:
            raise error
    buffer.seek(0)
    return buffer


def query_frame(queryset, columns, *, numeric=(), booleans=()) -> pd.DataFrame:
    """The rows of a ``values_list`` queryset as a DataFrame with ``columns``: the ``numeric`` columns as
    numbers, ``booleans`` as True/False, the others as text or ``datetime.date`` (``_dates`` reads both);
    NULL and "" are both missing.

    On PostgreSQL the rows come by COPY into pandas' C CSV parser, no Python object per value (100k cases'
    tables: about a third of the time of fetching rows); elsewhere (the SQLite demo) as ``values_list`` rows.
    """
    columns = list(columns)
    if connection.vendor != "postgresql":
        return pd.DataFrame.from_records(list(queryset), columns=columns)
    buffer = _copy_csv(queryset)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame({column: pd.Series(dtype=float if column in numeric else object) for column in columns})
    # Only an empty field is missing: "NA" or "None" would be values (keep_default_na=False).
    frame = pd.read_csv(buffer, header=None, names=columns, keep_default_na=False, na_values=[""],
                        dtype={column: object for column in columns if column not in numeric})
    for column in booleans:
        frame[column] = frame[column].map({"t": True, "f": False})
    return frame


def _lookup(keys: pd.Series, table: pd.DataFrame, key: str = "case_pk") -> pd.DataFrame:
    """``table``'s row for each of ``keys`` (``key`` is unique in it), missing where it has none."""
    return table.set_index(key).reindex(keys.to_numpy()).reset_index(drop=True)


def _dates(frame, column):
    return pd.to_datetime(frame[column], errors="coerce")


def _iso(dates: pd.Series) -> pd.Series:
    """YYYY-MM-DD text of a datetime column, None where missing (numpy's formatting, not one call per value)."""
    text = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(str)
    return pd.Series(text, index=dates.index, dtype=object).where(dates.notna(), None)


def _latest(a: pd.Series, b: pd.Series) -> pd.Series:
    """The later of two date columns, row by row, skipping a missing one (missing only if both are)."""
    return a.where(b.isna() | (a >= b), b)


def _earliest(a: pd.Series, b: pd.Series) -> pd.Series:
    return a.where(b.isna() | (a <= b), b)


def _days(end, start):
    return (end - start).dt.days.astype("Float64")


def _text(values: pd.Series) -> pd.Series:
    return values.where(values.notna() & (values != ""), None)


def _flag(values: pd.Series, test) -> pd.Series:
    """A nullable 0/1 column: ``test`` of the known values, missing where the value is unknown ("" or None)."""
    known = _text(values).notna()
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    out[known] = test(values[known]).astype(int)
    return out


def _frame(raw: dict[str, pd.Series], attempts: pd.DataFrame, controls, boundary) -> pd.DataFrame:
    """The dataset columns of the raw case columns (``_raw_cases``), computed column-wise."""
    failed_pks = set(attempts.loc[attempts["outcome"].isin(c.FAILED_OUTCOMES), "case_pk"])
    n_attempts = attempts.groupby("case_pk").size()
    approval, infusion = _dates(raw, "approval_date"), _dates(raw, "infusion__date")
    progression, death = _dates(raw, "outcome__progression_date"), _dates(raw, "outcome__death_date")
    last_contact, first_apheresis = _dates(raw, "outcome__last_contact_date"), _dates(raw, "first_apheresis")
    last_dose = _dates(raw, "bendamustine_last_dose_date")
    infused = infusion.notna()
    mf = raw["id"].isin(failed_pks)
    # A case with no follow-up recorded yet is censored at the latest date it is known alive.
    known_alive = last_contact.fillna(_latest(approval, infusion))
    died = death.notna()
    os_days = _days(death.where(died, known_alive), approval)
    pfs_event_date = _earliest(progression, death)
    has_pfs_event = pfs_event_date.notna()
    pfs_end = pfs_event_date.where(has_pfs_event, _latest(known_alive, infusion))
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

    columns = {
        "case_id": raw["public_id"], "product": raw["product__code"], "centre": raw["centre__code"],
        "approval_date": _iso(approval), "infusion_date": _iso(infusion),
        "era": np.where(approval < pd.Timestamp(boundary), 1, 2), "mf": mf.astype(int),
        "cohort": cohort, "infused": infused.astype(int),
        "attempts": raw["id"].map(n_attempts).fillna(0).astype(int),
        "os_days": os_days, "os_event": died.astype(int),
        "pfs_days": pfs_days, "pfs_event": has_pfs_event.astype("Float64").where(infused),
        "prior_bendamustine": bendamustine,
        "sex": _text(raw["patient__sex"]),
        "comorbidity": _flag(raw["comorbidity"], lambda v: v.astype(bool)),
        "prior_lines_3plus": _flag(raw["prior_lines"], lambda v: v.astype(float) >= 3),
        "holding_therapy": _flag(raw["holding_therapy"], lambda v: v != "none"),
        "ecog": raw["ecog"],
        "transplant": _text(raw["prior_transplant"]),
        "response": _text(raw["outcome__best_response"]).where(infused, None),
        "crs_grade": raw["outcome__crs_grade"].where(infused),
        "icans_grade": raw["outcome__icans_grade"].where(infused),
        "vein_to_vein_days": _days(infusion, first_apheresis).where(infused & first_apheresis.notna()),
    }
    for column in INT_COLUMNS:
        columns[column] = pd.Series(pd.to_numeric(columns[column], errors="coerce"), copy=False).astype("Int64")
    frame = pd.DataFrame(columns, columns=COLUMNS, copy=False)
    return frame


def _children(model, cases, whole: bool):
    """``model``'s rows of the selected cases: the whole table (``_lookup`` narrows it) when the selection is
    most of the registry, else those whose case is among ``cases`` (a semi-join in the database)."""
    rows = model.objects.all() if whole else model.objects.filter(case__in=cases.values("pk"))
    return rows.order_by()  # no model ordering: it would sort (and join) in the database for nothing


def _raw_cases(cases, raw: pd.DataFrame, whole: bool) -> tuple[dict[str, pd.Series], pd.DataFrame]:
    """The case columns completed with sex, infusion, outcome and first apheresis date (aligned with
    ``raw``'s rows), and the cases' attempts (case_pk, id, number, outcome) in case and attempt-number order."""
    patients = Patient.objects.all() if whole else Patient.objects.filter(pk__in=cases.values("patient_id"))
    sex = query_frame(patients.order_by().values_list("id", "sex"), ["patient_pk", "patient__sex"],
                      numeric=["patient_pk"])
    infusions = query_frame(_children(Infusion, cases, whole).values_list(*_INFUSION_FIELDS),
                            ["case_pk", "infusion__date", "attempt_id"], numeric=["case_pk", "attempt_id"])
    outcomes = query_frame(_children(Outcome, cases, whole).values_list(*_OUTCOME_FIELDS),
                           ["case_pk", *(f"outcome__{field}" for field in _OUTCOME_FIELDS[1:])],
                           numeric=["case_pk", "outcome__crs_grade", "outcome__icans_grade"])
    first = query_frame(_children(Apheresis, cases, whole).values("case_id").annotate(first=Min("date"))
                        .values_list("case_id", "first"), ["case_pk", "first_apheresis"], numeric=["case_pk"])
    attempts = query_frame(_children(ManufacturingAttempt, cases, whole).values_list("case_id", "id", "number",
                                                                                     "outcome"),
                           ["case_pk", "id", "number", "outcome"], numeric=["case_pk", "id", "number"])
    attempts = attempts[attempts["case_pk"].isin(raw["id"])].sort_values(["case_pk", "number"], kind="stable")
    attempts = attempts.reset_index(drop=True)
    infusions["infusion__attempt__outcome"] = infusions["attempt_id"].map(attempts.set_index("id")["outcome"])
    columns = dict(raw)
    columns.update(_lookup(raw["patient_id"], sex, key="patient_pk"))
    for child in (infusions.drop(columns="attempt_id"), outcomes, first):
        columns.update(_lookup(raw["id"], child))
    return columns, attempts


def _first_labs(compared: pd.Series) -> pd.DataFrame:
    """The labs of the first apheresis collection (the lowest number) of each of the ``compared`` case
    pks, read for the cases with a failed attempt or in the current control set (a superset of them)."""
    failed = ManufacturingAttempt.objects.filter(outcome__in=c.FAILED_OUTCOMES).values("case_id")
    controls = MatchedControlPair.objects.filter(control_set__is_current=True).values("control_case_id")
    rows = query_frame(Apheresis.objects.filter(Q(case__in=failed) | Q(case__in=controls)).order_by("case_id", "number")
                       .values_list("case_id", *LAB_FIELDS), ["case_pk", *LAB_FIELDS],
                       numeric=["case_pk", *LAB_FIELDS])
    rows = rows[rows["case_pk"].isin(compared)].drop_duplicates("case_pk", keep="first").reset_index(drop=True)
    for field in LAB_FIELDS:
        rows[field] = pd.to_numeric(rows[field], errors="coerce").astype(float)
    return rows


@contextmanager
def consistent_snapshot():
    """A read-only REPEATABLE READ transaction on PostgreSQL: every query inside sees the registry as of
    one moment, however long the reads take and whatever is written meanwhile.

    Only a transaction of its own can set its isolation: inside an outer atomic block (a recompute's
    snapshot, a test) the reads join that transaction as it is.
    """
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(savepoint=False):  # reads only: nested, no savepoint round trips
        if connection.vendor == "postgresql" and own_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def load_analysis_data(*, labs: bool = True, **filters) -> AnalysisData:
    """The dataset, attempt and failure-reason rows of the cases ``case_filter(**filters)`` selects and, with
    ``labs``, the first-apheresis labs of the cases the report compares (manufacturing failures and
    controls), from flat ``values_list`` queries, one per table, all read in one ``consistent_snapshot``."""
    with consistent_snapshot():
        return _read_analysis_data(labs=labs, filters=filters)


def _read_analysis_data(*, labs: bool, filters: dict) -> AnalysisData:
    cases = Case.objects.filter(case_filter(**filters))
    raw = query_frame(cases.order_by().values_list(*_CASE_FIELDS), _CASE_FIELDS,
                      numeric=("id", "patient_id", "ecog", "prior_lines"),
                      booleans=("prior_bendamustine", "comorbidity"))
    # The dataset's order, approval date then id, sorted here: the database would sort 100k rows on disk
    # (default work_mem) in about four times as long.
    order = np.lexsort((raw["id"].to_numpy(), _dates(raw, "approval_date").to_numpy()))
    raw = raw.take(order).reset_index(drop=True)
    whole = len(raw) > 0 and len(raw) >= WHOLE_TABLE_SHARE * Case.objects.count()
    raw, attempt_rows = _raw_cases(cases, raw, whole)
    public_ids = pd.Series(raw["public_id"].to_numpy(), index=raw["id"].to_numpy())
    failed = ManufacturingAttempt.objects.filter(case__in=cases.values("pk"), outcome__in=c.FAILED_OUTCOMES,
                                                 failure_reasons__isnull=False)
    reasons = query_frame(failed.order_by("case_id", "number", "failure_reasons__order")
                          .values_list("case__public_id", "number", "outcome", "failure_reasons__code",
                                       "failure_reasons__label"), REASON_COLUMNS, numeric=["number"])
    frame = _frame(raw, attempt_rows, c.current_control_case_ids(), settings.ERA_BOUNDARY)
    attempts = pd.DataFrame({"case_id": attempt_rows["case_pk"].map(public_ids), "number": attempt_rows["number"],
                             "outcome": attempt_rows["outcome"]}, columns=ATTEMPT_COLUMNS)
    lab_frame = None
    if labs:
        compared = raw["id"][frame["cohort"].isin(c.OS_COHORTS)]
        lab_frame = _first_labs(compared).assign(case_pk=lambda f: f["case_pk"].map(public_ids)).rename(
            columns={"case_pk": "case_id"})
    return AnalysisData(cases=frame, attempts=attempts, reasons=reasons, filters=dict(filters), labs=lab_frame)


def load_dataset(**filters) -> pd.DataFrame:
    return load_analysis_data(**filters).cases


def write_csv(frame: pd.DataFrame, path) -> int:
    """Write the dataset as CONTRACT.md's CSV (empty cells where unknown); returns the number of rows."""
    frame[COLUMNS].to_csv(path, index=False, na_rep="", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    return len(frame)
