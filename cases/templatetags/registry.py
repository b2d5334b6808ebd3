from django import template

from cases.selectors import COHORTS, STATUSES

register = template.Library()
_LABELS = dict(STATUSES) | dict(COHORTS)


@register.filter
def registry_label(value: str) -> str:
    """Human label of a derived case status or cohort code."""
    return _LABELS.get(value, value)
