"""Fetch-and-authorize helpers: one generic rule keyed on the owning centre.

Centre users see and change only their own centre's rows; another centre's row is a 404 (its
existence is not revealed). National roles read every centre; of them only admins write.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from accounts.roles import Role


def scope_to_user(user, queryset: QuerySet, *, centre_field: str = "centre") -> QuerySet:
    """The rows of ``queryset`` the user may read."""
    if not user.is_authenticated:
        return queryset.none()
    if user.role == Role.CENTRE_USER and not user.is_superuser:
        return queryset.filter(**{f"{centre_field}_id": user.centre_id})
    if user.reads_all_centres:
        return queryset
    return queryset.none()


def can_write_centre(user, centre_id) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.role == Role.ADMIN:
        return True
    return user.role == Role.CENTRE_USER and user.centre_id == centre_id


def check_write(user, centre_id) -> None:
    if not can_write_centre(user, centre_id):
        raise PermissionDenied("Your role can read this record but not change it.")


def get_for_user(user, queryset: QuerySet, pk, *, write: bool = False, centre_field: str = "centre") -> Model:
    try:
        obj = scope_to_user(user, queryset, centre_field=centre_field).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    if write:
        centre_id = obj
        for part in centre_field.split("__"):
            centre_id = getattr(centre_id, part)
        check_write(user, centre_id.pk)
    return obj


def get_case_for_user(user, pk, *, write: bool = False):
    from cases.models import Case

    return get_for_user(user, Case.objects.select_related("centre", "product", "patient"), pk, write=write)
