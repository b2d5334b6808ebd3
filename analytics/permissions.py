"""Who may read the registry reports and who may change the matched control set."""

from django.core.exceptions import PermissionDenied

from accounts.roles import Role

REPORT_ROLES = frozenset({Role.ANALYST, Role.ADMIN, Role.OPS_MANAGER})
CONTROL_SET_ROLES = frozenset({Role.ANALYST, Role.ADMIN})


def can_read_reports(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.role in REPORT_ROLES))


def can_regenerate_controls(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.role in CONTROL_SET_ROLES))


def check_reports(user) -> None:
    if not can_read_reports(user):
        raise PermissionDenied("Registry reports are for analysts, operations managers and admins.")


def check_control_set(user) -> None:
    if not can_regenerate_controls(user):
        raise PermissionDenied("Only analysts and admins regenerate the matched control set.")
