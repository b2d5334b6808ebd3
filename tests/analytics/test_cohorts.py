"""Cohorts, derived categories and the analysis dataset, on the demo registry and in isolation."""

import csv
import datetime as dt
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from analytics import cohorts as c
from analytics.dataset import COLUMNS, load_analysis_data, load_dataset
from cases.models import Case
from tests.analytics.conftest import CHECK_CONTRACT

DAY = dt.timedelta(days=1)


# --- pure derivations -------------------------------------------------------------------------

@pytest.mark.parametrize(("mf", "infused_outcome", "is_control", "expected"), [
    (True, "oos", False, c.OOS_INFUSED),
    (True, "in_spec", False, c.DELAYED_INFUSED),
    (True, None, False, c.MF_NOT_INFUSED),
    (True, None, True, c.MF_NOT_INFUSED),  # an MF case is never a control
    (False, "in_spec", True, c.CONTROL),
    (False, None, True, c.CONTROL),
    (False, "in_spec", False, c.OTHER),
])
def test_cohort_of(mf, infused_outcome, is_control, expected):
    assert c.cohort_of(mf=mf, infused_outcome=infused_outcome, is_control=is_control) == expected


def test_mf_is_any_failed_attempt():
    assert c.is_mf(["no_product", "in_spec"])
    assert c.is_mf(["oos"])
    assert not c.is_mf(["in_spec"])
    assert not c.is_mf(["pending"])
    assert not c.is_mf([])


def test_era_boundary_day_belongs_to_era_2():
    boundary = dt.date(2021, 2, 1)
    assert c.era_of(boundary - DAY, boundary) == 1
    assert c.era_of(boundary, boundary) == 2


@pytest.mark.parametrize(("gap_days", "expected"), [
    (0, "<3m"), (91, "<3m"), (92, "<6m"), (182, "<6m"), (183, ">6m"), (900, ">6m"),
])
def test_bendamustine_category_cuts_at_91_3_and_182_6_days(gap_days, expected):
    apheresis = dt.date(2022, 6, 1)
    assert c.bendamustine_category(True, apheresis - gap_days * DAY, apheresis) == expected


def test_bendamustine_unknown_and_none():
    assert c.bendamustine_category(False, None, dt.date(2022, 1, 1)) == "none"
    assert c.bendamustine_category(None, None, dt.date(2022, 1, 1)) == ""
    assert c.bendamustine_category(True, None, dt.date(2022, 1, 1)) == ""  # given, but no date


def test_flags_keep_unknown_empty():
    assert (c.flag(True), c.flag(False), c.flag(None)) == (1, 0, None)
    assert (c.prior_lines_3plus(3), c.prior_lines_3plus(2), c.prior_lines_3plus(None)) == (1, 0, None)
    assert (c.holding_flag("steroids"), c.holding_flag("none"), c.holding_flag("")) == (1, 0, None)


# --- the dataset on the demo registry ---------------------------------------------------------

@pytest.mark.django_db
def test_dataset_has_the_contract_columns_one_row_per_case(registry):
    frame = load_dataset(paper_cohort=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == Case.objects.count() == 1021
    assert frame["case_id"].is_unique


@pytest.mark.django_db
def test_dataset_paper_cohort_counts(registry):
    frame = load_dataset()
    assert len(frame) == 981
    assert frame["mf"].sum() == 38
    assert frame["cohort"].value_counts().to_dict() == {
        "other": 981 - 38 - 38, "control": 38, "mf_not_infused": 14, "delayed_infused": 11, "oos_infused": 13}
    # The 40 extra cases are all in specification.
    everything = load_dataset(paper_cohort=False)
    extras = everything[~everything["case_id"].isin(frame["case_id"])]
    assert len(extras) == 40 and extras["mf"].sum() == 0 and set(extras["cohort"]) == {"other"}


@pytest.mark.django_db
def test_dataset_values_follow_the_registry_rows(registry):
    frame = load_dataset().set_index("case_id")
    case = (Case.objects.filter(infusion__isnull=False, outcome__death_date__isnull=False,
                                outcome__progression_date__isnull=False)
            .select_related("infusion", "outcome", "patient").order_by("public_id").first())
    row = frame.loc[case.public_id]
    assert row["os_days"] == (case.outcome.death_date - case.approval_date).days and row["os_event"] == 1
    assert row["pfs_days"] == (case.outcome.progression_date - case.infusion.date).days and row["pfs_event"] == 1
    first_apheresis = case.apheresis_set.order_by("date").first().date
    assert row["vein_to_vein_days"] == (case.infusion.date - first_apheresis).days
    assert row["infusion_date"] == case.infusion.date.isoformat()
    assert row["sex"] == case.patient.sex and row["ecog"] == case.ecog

    alive = Case.objects.filter(infusion__isnull=True, outcome__death_date__isnull=True).select_related("outcome")
    alive = alive.filter(public_id__in=list(frame.index)).first()
    if alive is not None:
        row = frame.loc[alive.public_id]
        assert row["os_event"] == 0 and row["os_days"] == (alive.outcome.last_contact_date - alive.approval_date).days
    not_infused = frame[frame["infused"] == 0]
    assert not_infused["pfs_days"].isna().all() and not_infused["response"].isna().all()
    assert not_infused["crs_grade"].isna().all() and not_infused["vein_to_vein_days"].isna().all()


@pytest.mark.django_db
def test_dataset_bendamustine_categories_match_the_design(registry):
    frame = load_dataset()
    mf = frame[frame["mf"] == 1]["prior_bendamustine"].value_counts().to_dict()
    controls = frame[frame["cohort"] == "control"]["prior_bendamustine"].value_counts().to_dict()
    assert mf == {"none": 27, "<3m": 7, ">6m": 2, "<6m": 2}
    assert controls == {"none": 35, ">6m": 3}


@pytest.mark.django_db
def test_filters_narrow_the_cases(registry):
    assert set(load_dataset(product="tisa-cel")["product"]) == {"tisa-cel"}
    assert len(load_dataset(product="tisa-cel")) == 176
    assert set(load_dataset(era=1)["era"]) == {1} and len(load_dataset(era=1)) == 462
    assert set(load_dataset(centre="kch")["centre"]) == {"kch"}
    assert len(load_dataset(paper_cohort=False, indication="MM")) == 13
    with pytest.raises(ValueError, match="era"):
        load_dataset(era=3)


@pytest.mark.django_db
def test_dataset_loads_in_a_fixed_number_of_queries(registry, django_assert_max_num_queries):
    # cases, their count in the registry, patients, infusions, outcomes, first apheresis dates, attempts,
    # failure reasons, the current control set, the compared cases' labs: one flat query per table
    with django_assert_max_num_queries(10):
        data = load_analysis_data()
    assert len(data.attempts) == 981 - 38 + 59


@pytest.mark.django_db
def test_export_analysis_conforms_to_the_contract(registry, tmp_path):
    path = tmp_path / "analysis.csv"
    call_command("export_analysis", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1021 and len({r["case_id"] for r in rows}) == 1021
    assert list(rows[0]) == COLUMNS
    done = subprocess.run([sys.executable, str(CHECK_CONTRACT), "--export", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.mark.django_db
def test_export_analysis_to_a_missing_folder_fails_clearly(registry, tmp_path):
    with pytest.raises(CommandError, match="Cannot write") as failure:
        call_command("export_analysis", str(tmp_path / "missing" / "analysis.csv"))
    assert failure.value.returncode != 0


# --- matched controls -------------------------------------------------------------------------

def test_match_controls_takes_the_nearest_unused_control_of_the_same_group():
    day = dt.date(2020, 6, 1)
    mf = [(1, "axi", day), (2, "axi", day + 10 * DAY), (3, "tisa", day)]
    candidates = [(10, "axi", day + 2 * DAY), (11, "axi", day + 9 * DAY), (12, "axi", day - 30 * DAY),
                  (13, "tisa", day + 100 * DAY), (14, "axi", day)]
    assert c.match_controls(mf, candidates, seed=1) == [(1, 14), (3, 13), (2, 11)]


def test_match_controls_breaks_ties_by_the_seed_reproducibly():
    day = dt.date(2020, 6, 1)
    mf = [(1, "axi", day)]
    candidates = [(10, "axi", day - DAY), (11, "axi", day + DAY)]
    chosen = {seed: c.match_controls(mf, candidates, seed)[0][1] for seed in range(20)}
    assert set(chosen.values()) == {10, 11}  # both equally near: the seed decides
    assert all(c.match_controls(mf, candidates, seed)[0][1] == chosen[seed] for seed in range(20))


def test_match_controls_leaves_an_mf_case_unpaired_when_no_control_is_left():
    day = dt.date(2020, 6, 1)
    assert c.match_controls([(1, "axi", day), (2, "axi", day)], [(10, "axi", day)], seed=3) == [(1, 10)]
    assert c.match_controls([(1, "axi", day)], [], seed=3) == []
