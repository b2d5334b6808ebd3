"""Fetch-and-authorize helpers: one generic rule keyed on the owning centre.

Centre users see and change only their own centre's rows; another centre's row is a 404 so its
existence is not revealed. National roles (panel, operations, admin, analyst) read every centre;
of them only admins change clinical data — the others get 403 on a write.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from accounts.roles import Role

WRITE_ROLES_ALL_CENTRES = frozenset({Role.ADMIN})


def _is_centre_user(user) -> bool:
    return user.role == Role.CENTRE_USER and not user.is_superuser


def scope_to_user(user, queryset: QuerySet, centre_field: str = "centre") -> QuerySet:
    """The rows of ``queryset`` the user may read; ``centre_field`` is the path to the owning centre."""
    if not user.is_authenticated:
        return queryset.none()
    if _is_centre_user(user):
        return queryset.filter(**{f"{centre_field}_id": user.centre_id})
    if user.reads_all_centres:
        return queryset
    return queryset.none()


def can_write_centre(user, centre_id) -> bool:
    """May the user change clinical data owned by this centre?"""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.role in WRITE_ROLES_ALL_CENTRES:
        return True
    return user.role == Role.CENTRE_USER and centre_id is not None and user.centre_id == centre_id


def can_register(user) -> bool:
    """May the user register patients and cases? Their centre's users, or an admin for any centre."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.role in WRITE_ROLES_ALL_CENTRES:
        return True
    return user.role == Role.CENTRE_USER and user.centre_id is not None


def check_write(user, centre_id) -> None:
    if not can_write_centre(user, centre_id):
        raise PermissionDenied("Your role can read this record but not change it.")


def owning_centre_id(obj: Model, centre_field: str = "centre"):
    """Follow ``centre_field`` (e.g. ``case__centre``) to the owning centre's id."""
    *hops, last = centre_field.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id")


def get_for_user(user, queryset_or_model, pk, *, write: bool = False, centre_field: str = "centre") -> Model:
    """The row ``pk`` if the user may read it (404 otherwise), and may change it when ``write`` (else 403)."""
    queryset = queryset_or_model
    if not isinstance(queryset, QuerySet):
        queryset = queryset._default_manager.all()
    try:
        obj = scope_to_user(user, queryset, centre_field).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    if write:
        check_write(user, owning_centre_id(obj, centre_field))
    return obj


def get_case_for_user(user, pk, *, write: bool = False):
    from cases.models import Case

    return get_for_user(user, Case.objects.select_related("centre", "product", "patient"), pk, write=write)


def get_patient_for_user(user, pk, *, write: bool = False):
    from cases.models import Patient

    return get_for_user(user, Patient.objects.select_related("centre"), pk, write=write)


def get_attempt_for_user(user, case_pk, number, *, write: bool = False):
    """A case's attempt by its number; another centre's is a 404 like its case."""
    from cases.models import ManufacturingAttempt

    case = get_case_for_user(user, case_pk, write=write)
    try:
        attempt = ManufacturingAttempt.objects.select_related("apheresis").get(case=case, number=number)
    except ManufacturingAttempt.DoesNotExist:
        raise Http404("Not found") from None
    attempt.case = case
    return attempt
