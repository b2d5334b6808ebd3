"""The SmPC dose check, on the rules as seeded for each product (tables at every edge)."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.dosing import (
    AmbiguousDoseRuleError,
    DoseRuleError,
    DoseRuleSpec,
    NoDoseRuleError,
    assess_dose,
    dose_range,
    select_rule,
)

M = 1_000_000

YESCARTA = [
    DoseRuleSpec("LBCL", "per_kg", 1 * M, 2 * M, target_dose=2 * M, weight_cap_kg=100, max_total_dose=2e8),
    DoseRuleSpec("FL", "per_kg", 1 * M, 2 * M, target_dose=2 * M, weight_cap_kg=100, max_total_dose=2e8),
]
KYMRIAH = [
    DoseRuleSpec("B-ALL", "per_kg", 0.2 * M, 5.0 * M, weight_max_kg=50),
    DoseRuleSpec("B-ALL", "flat", 0.1e8, 2.5e8, weight_min_kg=50),
    DoseRuleSpec("LBCL", "flat", 0.6e8, 6.0e8),
    DoseRuleSpec("FL", "flat", 0.6e8, 6.0e8),
]
TECARTUS = [
    DoseRuleSpec("MCL", "per_kg", 1 * M, 2 * M, weight_cap_kg=100, max_total_dose=2e8),
    DoseRuleSpec("B-ALL", "per_kg", None, 1 * M, target_dose=1 * M, weight_cap_kg=100, max_total_dose=1e8),
]
ABECMA = [DoseRuleSpec("MM", "flat", 260 * M, 500 * M)]
CARVYKTI = [
    DoseRuleSpec("MM", "per_kg", 0.5 * M, 1.0 * M, weight_max_kg=100),
    DoseRuleSpec("MM", "flat", 0.5e8, 1.0e8, weight_min_kg=100),
]
AUCATZYL = [DoseRuleSpec("B-ALL", "flat", 410 * M, 410 * M, target_dose=410 * M)]


@pytest.mark.parametrize(
    ("rules", "indication", "weight", "dose", "verdict", "low", "high"),
    [
        # Yescarta 1-2×10⁶/kg: 50 kg → 0.5-1.0×10⁸
        (YESCARTA, "LBCL", 50, 0.5e8, "within", 0.5e8, 1.0e8),
        (YESCARTA, "LBCL", 50, 0.5e8 - 1, "below", 0.5e8, 1.0e8),
        (YESCARTA, "LBCL", 50, 1.0e8, "within", 0.5e8, 1.0e8),
        (YESCARTA, "LBCL", 50, 1.0e8 + 1, "above", 0.5e8, 1.0e8),
        # 100 kg is the cap: 1-2×10⁸
        (YESCARTA, "FL", 100, 1.0e8, "within", 1.0e8, 2.0e8),
        (YESCARTA, "FL", 100, 2.0e8, "within", 1.0e8, 2.0e8),
        (YESCARTA, "FL", 100, 2.0e8 + 1, "above", 1.0e8, 2.0e8),
        # 120 kg is dosed as 100 kg: a 2.4×10⁸ dose (2×10⁶ × 120) is above the 2×10⁸ maximum
        (YESCARTA, "LBCL", 120, 2.4e8, "above", 1.0e8, 2.0e8),
        (YESCARTA, "LBCL", 120, 1.0e8 - 1, "below", 1.0e8, 2.0e8),
        (YESCARTA, "LBCL", 120, 2.0e8, "within", 1.0e8, 2.0e8),
        # Carvykti: per kg up to and including 100 kg, flat above
        (CARVYKTI, "MM", 100, 0.5e8, "within", 0.5e8, 1.0e8),
        (CARVYKTI, "MM", 100, 1.0e8 + 1, "above", 0.5e8, 1.0e8),
        (CARVYKTI, "MM", 70, 0.5e8, "within", 0.35e8, 0.7e8),
        (CARVYKTI, "MM", 70, 0.75e8, "above", 0.35e8, 0.7e8),
        (CARVYKTI, "MM", 100.1, 0.75e8, "within", 0.5e8, 1.0e8),
        (CARVYKTI, "MM", 100.1, 0.5e8 - 1, "below", 0.5e8, 1.0e8),
        # Abecma flat 260-500×10⁶
        (ABECMA, "MM", 80, 260 * M, "within", 260 * M, 500 * M),
        (ABECMA, "MM", 80, 500 * M, "within", 260 * M, 500 * M),
        (ABECMA, "MM", 80, 260 * M - 1, "below", 260 * M, 500 * M),
        (ABECMA, "MM", 80, 500 * M + 1, "above", 260 * M, 500 * M),
        (ABECMA, "MM", None, 300 * M, "within", 260 * M, 500 * M),
        # Kymriah B-ALL: per kg up to 50 kg (0.1-2.5×10⁸ at 50 kg), flat above
        (KYMRIAH, "B-ALL", 50, 0.1e8, "within", 0.1e8, 2.5e8),
        (KYMRIAH, "B-ALL", 50, 2.5e8 + 1, "above", 0.1e8, 2.5e8),
        (KYMRIAH, "B-ALL", 20, 0.04e8, "within", 0.04e8, 1.0e8),
        (KYMRIAH, "B-ALL", 20, 1.5e8, "above", 0.04e8, 1.0e8),
        (KYMRIAH, "B-ALL", 50.1, 0.1e8, "within", 0.1e8, 2.5e8),
        (KYMRIAH, "B-ALL", 50.1, 0.1e8 - 1, "below", 0.1e8, 2.5e8),
        (KYMRIAH, "LBCL", 80, 0.6e8, "within", 0.6e8, 6.0e8),
        (KYMRIAH, "LBCL", 80, 0.59e8, "below", 0.6e8, 6.0e8),
        # Tecartus B-ALL: no lower bound, at most 1×10⁶/kg (1×10⁸ from 100 kg)
        (TECARTUS, "B-ALL", 78, 1, "within", None, 0.78e8),
        (TECARTUS, "B-ALL", 78, 0.78e8, "within", None, 0.78e8),
        (TECARTUS, "B-ALL", 78, 0.78e8 + 1, "above", None, 0.78e8),
        (TECARTUS, "B-ALL", 78, 0, "below", None, 0.78e8),
        (TECARTUS, "B-ALL", 130, 1.0e8, "within", None, 1.0e8),
        (TECARTUS, "B-ALL", 130, 1.3e8, "above", None, 1.0e8),
        (TECARTUS, "MCL", 78, 0.78e8, "within", 0.78e8, 1.56e8),
        # Aucatzyl: the total of the split dose is the one admissible value
        (AUCATZYL, "B-ALL", 70, 410 * M, "within", 410 * M, 410 * M),
        (AUCATZYL, "B-ALL", 70, 400 * M, "below", 410 * M, 410 * M),
        (AUCATZYL, "B-ALL", 70, 420 * M, "above", 410 * M, 410 * M),
    ],
)
def test_dose_verdict_at_the_edges(rules, indication, weight, dose, verdict, low, high):
    result = assess_dose(rules, indication=indication, weight_kg=weight, dose=dose)
    assert (result.verdict, result.low, result.high) == (verdict, low, high)
    assert result.is_within == (verdict == "within")


def test_explanation_shows_the_arithmetic():
    result = assess_dose(YESCARTA, indication="LBCL", weight_kg=78, dose=1.2e8)
    assert result.explanation == "1.0–2.0 ×10⁶/kg × 78 kg = 0.78–1.56 ×10⁸ cells; dose 1.2 ×10⁸ cells is within."


def test_explanation_says_when_the_weight_is_capped():
    result = assess_dose(YESCARTA, indication="LBCL", weight_kg=120, dose=2.4e8)
    assert "weight 120 kg capped at 100 kg" in result.explanation
    assert result.explanation.endswith("dose 2.4 ×10⁸ cells is above the range.")
    assert result.weight_used_kg == 100


def test_explanation_says_there_is_no_lower_bound():
    result = assess_dose(TECARTUS, indication="B-ALL", weight_kg=78, dose=0.5e8)
    assert "up to 78 ×10⁶ cells" in result.explanation
    assert "no lower bound" in result.explanation


def test_flat_explanation():
    result = assess_dose(ABECMA, indication="MM", weight_kg=80, dose=2.5e8)
    assert result.explanation == "flat 2.6–5.0 ×10⁸ cells; dose 2.5 ×10⁸ cells is below the range."


def test_dose_equal_to_a_fractional_weight_edge_is_within():
    # 2×10⁶ × 78.3 is 156600000.00000003 in floating point; the bound is a whole number of cells.
    result = assess_dose(YESCARTA, indication="LBCL", weight_kg=78.3, dose=156_600_000)
    assert result.verdict == "within"


def test_unknown_indication_is_a_clear_error():
    with pytest.raises(NoDoseRuleError, match="No SmPC dose rule for indication 'MM'.*FL, LBCL"):
        assess_dose(YESCARTA, indication="MM", weight_kg=70, dose=1e8)


def test_no_rule_error_is_a_value_error():
    with pytest.raises(ValueError):
        select_rule(ABECMA, "LBCL", 70)


def test_weight_outside_every_band_is_an_error():
    rules = [DoseRuleSpec("B-ALL", "per_kg", 0.2 * M, 5.0 * M, weight_max_kg=50)]
    with pytest.raises(NoDoseRuleError, match="covers a weight of 60 kg"):
        select_rule(rules, "B-ALL", 60)


def test_weight_banded_rule_needs_the_weight():
    with pytest.raises(NoDoseRuleError, match="enter the patient's weight"):
        select_rule(CARVYKTI, "MM", None)


def test_overlapping_bands_are_reported():
    rules = [DoseRuleSpec("MM", "flat", 1, 2, weight_max_kg=100), DoseRuleSpec("MM", "flat", 1, 2, weight_min_kg=90)]
    with pytest.raises(AmbiguousDoseRuleError):
        select_rule(rules, "MM", 95)


@pytest.mark.parametrize("dose", [-1, float("nan"), float("inf")])
def test_unusable_dose_is_refused(dose):
    with pytest.raises(DoseRuleError):
        assess_dose(ABECMA, indication="MM", weight_kg=70, dose=dose)


def test_non_positive_weight_is_refused():
    with pytest.raises(DoseRuleError, match="Weight must be positive"):
        assess_dose(YESCARTA, indication="LBCL", weight_kg=0, dose=1e8)


def test_indication_match_ignores_case_and_spaces():
    assert select_rule(KYMRIAH, " b-all ", 30).basis == "per_kg"


def test_rule_like_objects_are_read_by_attribute():
    # What a DoseRule row offers: the same attribute names (and blank strings for empty text).
    row = SimpleNamespace(indication="MM", indication_label="", basis="flat", min_dose=260 * M,
                          max_dose=500 * M, target_dose=None, weight_min_kg=None, weight_max_kg=None,
                          weight_cap_kg=None, max_total_dose=None, notes=None, source="Abecma SmPC",
                          product_id=5)
    result = assess_dose([row], indication="MM", weight_kg=70, dose=300 * M)
    assert result.verdict == "within"
    assert result.rule == DoseRuleSpec("MM", "flat", 260 * M, 500 * M, source="Abecma SmPC")


def test_object_without_the_rule_fields_is_refused():
    with pytest.raises(DoseRuleError, match="has no basis, min_dose, max_dose"):
        select_rule([SimpleNamespace(indication="MM")], "MM", 70)


def test_max_total_dose_caps_a_rule_without_weight_cap():
    rule = DoseRuleSpec("LBCL", "per_kg", 1 * M, 2 * M, max_total_dose=1.5e8)
    assert dose_range(rule, 90) == (0.9e8, 1.5e8, 90)


def test_unknown_basis_is_refused():
    with pytest.raises(DoseRuleError, match="Unknown dose basis"):
        dose_range(DoseRuleSpec("MM", "per_m2", 1, 2), 70)


ALL_RULES = [("LBCL", YESCARTA), ("B-ALL", KYMRIAH), ("B-ALL", TECARTUS), ("MM", ABECMA), ("MM", CARVYKTI),
             ("B-ALL", AUCATZYL), ("LBCL", KYMRIAH), ("MCL", TECARTUS)]


@given(
    product=st.sampled_from(ALL_RULES),
    weight=st.floats(min_value=1, max_value=300, allow_nan=False),
    dose=st.one_of(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.integers(0, 10**9).map(float)),
)
def test_within_exactly_when_between_the_bounds(product, weight, dose):
    indication, rules = product
    result = assess_dose(rules, indication=indication, weight_kg=weight, dose=dose)
    low_ok = result.low <= dose if result.low is not None else dose > 0
    high_ok = result.high is None or dose <= result.high
    assert result.is_within == (low_ok and high_ok)
    assert result.verdict == ("within" if low_ok and high_ok else "below" if not low_ok else "above")


@given(weight=st.floats(min_value=1, max_value=300, allow_nan=False))
def test_per_kg_range_never_exceeds_the_maximum_total(weight):
    result = assess_dose(YESCARTA, indication="LBCL", weight_kg=weight, dose=1e8)
    assert result.high <= 2e8
    assert result.low <= result.high
