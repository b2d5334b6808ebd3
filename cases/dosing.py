"""Is a CAR-T dose within the product's SmPC range? Pure domain logic, no Django import.

The panel usually approves an out-of-specification product when its total viable CAR+ T-cell
dose is within the SmPC range for the patient's indication and weight, so this check feeds the
"dose within SmPC?" fact of every OOS application. The rules themselves are data (the
``DoseRule`` rows seeded from the SmPCs and editable in admin); this module only reads them.

Any object with the attributes of ``DoseRuleSpec`` works as a rule — a ``cases.models.DoseRule``
row, a ``DoseRuleSpec`` or a test double — so callers pass a queryset straight in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal

PER_KG = "per_kg"
FLAT = "flat"

Verdict = Literal["below", "within", "above"]


class DoseRuleError(ValueError):
    """The rules cannot judge this dose (no or several rules match, or the inputs are unusable)."""


class NoDoseRuleError(DoseRuleError):
    """No rule of the product covers this indication and weight."""


class AmbiguousDoseRuleError(DoseRuleError):
    """Several rules cover the same indication and weight: the product's rule table needs fixing."""


@dataclass(frozen=True)
class DoseRuleSpec:
    """One SmPC dose range; mirrors ``cases.models.DoseRule``.

    ``min_dose``/``max_dose`` are cells per kg for per-kg rules and total cells for flat rules.
    The weight band is ``weight_min_kg < weight <= weight_max_kg`` (either end may be open).
    ``min_dose`` None means the SmPC sets no lower bound (e.g. Tecartus in B-ALL).
    """

    indication: str
    basis: str
    min_dose: float | None
    max_dose: float | None
    indication_label: str = ""
    weight_min_kg: float | None = None
    weight_max_kg: float | None = None
    target_dose: float | None = None
    weight_cap_kg: float | None = None
    max_total_dose: float | None = None
    notes: str = ""
    source: str = ""

    @classmethod
    def from_object(cls, rule: Any) -> DoseRuleSpec:
        """Read the fields off any rule-like object (a model row, a namespace, a spec)."""
        if isinstance(rule, cls):
            return rule
        values = {f.name: getattr(rule, f.name, f.default) for f in fields(cls)}
        missing = [name for name, value in values.items() if value is MISSING]
        if missing:
            raise DoseRuleError(f"{rule!r} is not a dose rule: it has no {', '.join(missing)}.")
        for name in ("indication_label", "notes", "source"):
            values[name] = values[name] or ""
        return cls(**values)

    def covers(self, indication: str, weight_kg: float | None) -> bool:
        if _normalised(self.indication) != _normalised(indication):
            return False
        if self.weight_min_kg is None and self.weight_max_kg is None:
            return True
        if weight_kg is None:
            # A weight-banded rule cannot be chosen without the weight.
            return False
        if self.weight_min_kg is not None and not weight_kg > self.weight_min_kg:
            return False
        return self.weight_max_kg is None or weight_kg <= self.weight_max_kg


@dataclass(frozen=True)
class DoseVerdict:
    """The outcome of ``assess_dose``; ``low``/``high`` are total cells (``low`` None: no lower bound)."""

    verdict: Verdict
    dose: float
    low: float | None
    high: float | None
    rule: DoseRuleSpec
    weight_used_kg: float | None
    explanation: str

    @property
    def is_within(self) -> bool:
        return self.verdict == "within"


def _normalised(indication: str) -> str:
    return (indication or "").strip().casefold()


def select_rule(rules: Iterable[Any], indication: str, weight_kg: float | None) -> DoseRuleSpec:
    """The one rule covering ``indication`` at ``weight_kg``; raises ``NoDoseRuleError`` otherwise."""
    if weight_kg is not None and not weight_kg > 0:
        raise DoseRuleError(f"Weight must be positive (got {weight_kg} kg).")
    specs = [DoseRuleSpec.from_object(rule) for rule in rules]
    matching = [spec for spec in specs if spec.covers(indication, weight_kg)]
    if not matching:
        known = sorted({spec.indication for spec in specs})
        if not any(_normalised(spec.indication) == _normalised(indication) for spec in specs):
            raise NoDoseRuleError(
                f"No SmPC dose rule for indication {indication!r}; this product has rules for: "
                f"{', '.join(known) or 'none'}."
            )
        if weight_kg is None:
            raise NoDoseRuleError(f"The dose rule for {indication} depends on weight: enter the patient's weight.")
        raise NoDoseRuleError(f"No SmPC dose rule for {indication} covers a weight of {_kg(weight_kg)} kg.")
    if len(matching) > 1:
        raise AmbiguousDoseRuleError(
            f"{len(matching)} SmPC dose rules cover {indication} at {_kg(weight_kg)} kg; "
            "the weight bands of this product overlap."
        )
    return matching[0]


def dose_range(rule: Any, weight_kg: float | None) -> tuple[float | None, float | None, float | None]:
    """(low, high, weight used) in total cells for this rule and weight.

    Bounds are rounded to whole cells: a dose is a count of cells, and rounding removes the
    floating-point noise of ``2e6 × 78.3 kg`` so that a dose entered as exactly the edge is within.
    """
    spec = DoseRuleSpec.from_object(rule)
    weight_used = None
    if spec.basis == PER_KG:
        if weight_kg is None or not weight_kg > 0:
            raise DoseRuleError("A per-kg dose rule needs the patient's weight.")
        weight_used = min(weight_kg, spec.weight_cap_kg) if spec.weight_cap_kg else weight_kg
        low = spec.min_dose * weight_used if spec.min_dose is not None else None
        high = spec.max_dose * weight_used if spec.max_dose is not None else None
    elif spec.basis == FLAT:
        low, high = spec.min_dose, spec.max_dose
    else:
        raise DoseRuleError(f"Unknown dose basis {spec.basis!r} (expected {PER_KG!r} or {FLAT!r}).")
    if spec.max_total_dose is not None:
        high = spec.max_total_dose if high is None else min(high, spec.max_total_dose)
    low = float(round(low)) if low is not None else None
    high = float(round(high)) if high is not None else None
    return low, high, weight_used


def assess_dose(rules: Iterable[Any], *, indication: str, weight_kg: float | None, dose: float) -> DoseVerdict:
    """Judge a total viable CAR+ T-cell dose against the SmPC rule for the indication and weight.

    Both edges are inclusive (a dose equal to a bound is within). With no lower bound any dose
    above zero up to the maximum is within.
    """
    if dose is None or not math.isfinite(dose) or dose < 0:
        raise DoseRuleError(f"The dose must be a number of cells, zero or more (got {dose!r}).")
    spec = select_rule(rules, indication, weight_kg)
    low, high, weight_used = dose_range(spec, weight_kg)
    if (low is not None and dose < low) or (low is None and dose <= 0):
        verdict: Verdict = "below"
    elif high is not None and dose > high:
        verdict = "above"
    else:
        verdict = "within"
    # The dose is shown in the same power of ten as the range so the two read side by side.
    exponent = _exponent_for(low, high) if (low, high) != (None, None) else _exponent_for(dose)
    explanation = (f"{_describe_range(spec, weight_kg, weight_used, low, high, exponent)}; "
                   f"dose {_scaled([dose], exponent)} cells is {verdict}")
    if verdict != "within":
        explanation += " the range"
    return DoseVerdict(verdict=verdict, dose=dose, low=low, high=high, rule=spec,
                       weight_used_kg=weight_used, explanation=explanation + ".")


# --- Explanations -------------------------------------------------------------------------------
# Written as clinicians read the SmPC: per-kg doses in ×10⁶/kg, totals in ×10⁸ (or ×10⁶ when small).

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    text = f"{value:.3g}"
    if "e" in text:
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    if "." not in text and abs(value) < 10:
        text += ".0"
    return text


def _kg(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _exponent_for(*values: float | None) -> int:
    present = [abs(v) for v in values if v is not None]
    return 8 if present and max(present) >= 1e8 else 6


def _scaled(values: list[float | None], exponent: int) -> str:
    unit = f"×10{str(exponent).translate(_SUPERSCRIPT)}"
    shown = [_number(v / 10**exponent) for v in values if v is not None]
    return f"{'–'.join(shown)} {unit}"


def _cells(value: float) -> str:
    return f"{_scaled([value], _exponent_for(value))} cells"


def _bounds_text(low: float | None, high: float | None, exponent: int, suffix: str) -> str:
    if low is None and high is None:
        return "no limit"
    if low is None:
        return f"up to {_scaled([high], exponent)}{suffix}"
    if high is None:
        return f"at least {_scaled([low], exponent)}{suffix}"
    if low == high:
        return f"{_scaled([low], exponent)}{suffix}"
    return f"{_scaled([low, high], exponent)}{suffix}"


def _describe_range(spec: DoseRuleSpec, weight_kg: float | None, weight_used: float | None,
                    low: float | None, high: float | None, exponent: int) -> str:
    totals = _bounds_text(low, high, exponent, " cells")
    if spec.basis == PER_KG:
        per_kg = _bounds_text(spec.min_dose, spec.max_dose, 6, "/kg")
        weight_text = f"{_kg(weight_used)} kg"
        if weight_kg is not None and weight_used is not None and weight_used < weight_kg:
            weight_text += f" (weight {_kg(weight_kg)} kg capped at {_kg(spec.weight_cap_kg)} kg)"
        text = f"{per_kg} × {weight_text} = {totals}"
        uncapped_high = spec.max_dose * weight_used if spec.max_dose is not None and weight_used else None
        if spec.max_total_dose is not None and (uncapped_high is None or spec.max_total_dose < uncapped_high):
            text += f" (at most {_cells(spec.max_total_dose)} in total)"
    else:
        text = f"flat {totals}"
    if spec.min_dose is None:
        text += " (the SmPC sets no lower bound)"
    return text
