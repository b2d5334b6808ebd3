from django import template

from panel.models import ApplicationStatus

register = template.Library()
_STATUS_LABELS = dict(ApplicationStatus.choices)


@register.filter
def application_status_label(value: str) -> str:
    """Human label of an OOS application status code (for pages that only have the code)."""
    return _STATUS_LABELS.get(value, value)
