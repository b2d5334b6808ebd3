"""How the analysis dataset is read: COPY on PostgreSQL gives what ``values_list`` gives, and reading a
child table whole or through the semi-join gives the same dataset."""

import datetime as dt

import pandas as pd
import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ExpressionWrapper, F, IntegerField, Value

from analytics import dataset
from analytics.dataset import load_analysis_data, query_frame
from cases.models import Case
from tests.factories import CaseFactory, PatientFactory

FIELDS = ("id", "public_id", "approval_date", "ecog", "prior_bendamustine", "comorbidity", "holding_therapy",
          "bendamustine_last_dose_date", "patient__sex")


def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's; elsewhere query_frame is values_list itself")


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Both readings in one form: dates as ISO text, missing as None, numbers as floats."""
    out = frame.copy()
    for column in ("approval_date", "bendamustine_last_dose_date"):
        out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    for column in ("id", "ecog"):
        out[column] = out[column].astype(float)
    out = out.astype(object).where(out.notna() & (out != ""), None)
    return out.sort_values("id").reset_index(drop=True)


@pytest.mark.django_db
def test_copy_reads_the_values_values_list_returns():
    _postgresql()
    # Unknown flags, an empty choice, a text value that CSV readers take for missing, a comma, a quote.
    CaseFactory(public_id="NA", ecog=None, prior_bendamustine=None, comorbidity=None, holding_therapy="")
    CaseFactory(public_id='odd,"id"', ecog=0, prior_bendamustine=True, comorbidity=False,
                holding_therapy="steroids", bendamustine_last_dose_date=dt.date(2021, 12, 31))
    CaseFactory(public_id="None", ecog=4, prior_bendamustine=False, comorbidity=True, holding_therapy="none",
                patient=PatientFactory(sex="F"))
    queryset = Case.objects.order_by("id").values_list(*FIELDS)
    copied = query_frame(queryset, FIELDS, numeric=("id", "ecog"), booleans=("prior_bendamustine", "comorbidity"))
    fetched = pd.DataFrame.from_records(list(queryset), columns=FIELDS)
    assert list(copied["public_id"]) == ["NA", 'odd,"id"', "None"]
    assert list(copied["prior_bendamustine"].astype(object).where(copied["prior_bendamustine"].notna(), None)) == [
        None, True, False]
    pd.testing.assert_frame_equal(_normalised(copied), _normalised(fetched))


@pytest.mark.django_db
def test_copy_of_no_rows_has_the_columns():
    _postgresql()
    frame = query_frame(Case.objects.filter(pk=-1).values_list("id", "public_id"), ["id", "public_id"],
                        numeric=["id"])
    assert list(frame.columns) == ["id", "public_id"] and frame.empty


@pytest.mark.django_db
def test_a_copy_failing_on_the_server_raises_a_database_error_and_the_connection_goes_on():
    _postgresql()
    CaseFactory(ecog=1)
    failing = Case.objects.annotate(
        broken=ExpressionWrapper(Value(1) / (F("ecog") - F("ecog")), output_field=IntegerField()))
    with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
        query_frame(failing.values_list("id", "broken"), ["id", "broken"], numeric=["id", "broken"])
    assert list(query_frame(Case.objects.values_list("ecog"), ["ecog"], numeric=["ecog"])["ecog"]) == [1]


def _frames(data):
    return {"cases": data.cases, "attempts": data.attempts, "reasons": data.reasons, "labs": data.labs}


@pytest.mark.django_db
@pytest.mark.parametrize("filters", [{}, {"centre": "kch"}, {"product": "tisa-cel", "era": 2}])
def test_whole_tables_and_the_semi_join_read_the_same_dataset(registry, monkeypatch, filters):
    monkeypatch.setattr(dataset, "WHOLE_TABLE_SHARE", 0.0)  # always read the child tables whole
    whole = _frames(load_analysis_data(**filters))
    monkeypatch.setattr(dataset, "WHOLE_TABLE_SHARE", 2.0)  # never: filter them in the database
    joined = _frames(load_analysis_data(**filters))
    assert len(whole["cases"]) > 0
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), joined[name].reset_index(drop=True),
                                      obj=name)
