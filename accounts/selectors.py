"""Who to tell: the users behind a centre and behind the panel's operations."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.roles import Role


def centre_users(centre_id: int) -> QuerySet:
    """Active users of one treating centre (they receive that centre's panel correspondence)."""
    return get_user_model().objects.filter(role=Role.CENTRE_USER, centre_id=centre_id, is_active=True)


def ops_managers() -> QuerySet:
    """Active operations managers (they communicate decisions and receive escalations)."""
    return get_user_model().objects.filter(role=Role.OPS_MANAGER, is_active=True)
