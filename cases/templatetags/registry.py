from django import template

from cases.selectors import COHORTS, STATUSES

register = template.Library()
_LABELS = dict(STATUSES) | dict(COHORTS)


@register.filter
def registry_label(value: str) -> str:
    """Human label of a derived case status or cohort code."""
    return _LABELS.get(value, value)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


@register.filter
def cells(value) -> str:
    """A cell count as clinicians write it: 1.3 ×10⁸ (plain numbers below 10⁴)."""
    if value in (None, ""):
        return ""
    number = float(value)
    if abs(number) < 1e4:
        return f"{number:g}"
    mantissa, exponent = f"{number:.3g}".split("e") if "e" in f"{number:.3g}" else (f"{number:.3g}", "0")
    return f"{mantissa} ×10{str(int(exponent)).translate(_SUPERSCRIPT)}"
