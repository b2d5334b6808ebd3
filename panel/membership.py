"""Managing the panel's membership: seats, roles, centre affiliations, deputies and active dates.

A member who has voted is never deleted (their votes point at the seat); a membership is ended by
giving it a last day. The role of a seat is fixed once created: a physician who becomes a
pharmacist gets a new seat, so every vote keeps the role it was counted with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.roles import Role
from audit.services import audit_log
from cases.errors import DomainError
from cases.models import Centre
from panel.models import MemberRole, PanelMember

AUDIT_EVENTS = {
    "panel.member.created": "added a panel member",
    "panel.member.changed": "changed a panel membership",
    "panel.member.ended": "ended a panel membership",
}

# The user role each panel role needs: a seat's votes are counted under the role of the seat.
USER_ROLE_FOR = {MemberRole.PHYSICIAN: Role.PANEL_PHYSICIAN, MemberRole.PHARMACIST: Role.PANEL_PHARMACIST,
                 MemberRole.OPS: Role.OPS_MANAGER}


def can_manage_members(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role in (Role.OPS_MANAGER, Role.ADMIN)))


def _check_manager(user) -> None:
    if not can_manage_members(user):
        raise DomainError("Only the operations manager or an admin manages the panel's membership.")


def members_for_management() -> QuerySet[PanelMember]:
    """Every membership, current first, with what the members page shows (three queries)."""
    return (PanelMember.objects.select_related("user", "deputy_of__user")
            .prefetch_related("affiliations", "deputies__user")
            .order_by("role", "user__username", "-active_from"))


def candidate_users(role: str | None = None) -> QuerySet:
    """Users who may be given a seat: active, with a panel or operations role, not holding an open seat."""
    from django.contrib.auth import get_user_model

    roles = [USER_ROLE_FOR[MemberRole(role)]] if role in MemberRole.values else list(USER_ROLE_FOR.values())
    return (get_user_model().objects.filter(is_active=True, role__in=roles)
            .exclude(pk__in=PanelMember.objects.filter(active_to__isnull=True).values("user_id"))
            .order_by("username"))


def _validate(*, member: PanelMember, affiliations: Iterable[Centre]) -> None:
    if member.active_to is not None and member.active_to < member.active_from:
        raise DomainError("The last day of membership cannot be before its first day.", field="active_to")
    expected = USER_ROLE_FOR[MemberRole(member.role)]
    if member.user.role != expected:
        raise DomainError(f"{member.user.username} is a {member.user.get_role_display().lower()}: a "
                          f"{member.get_role_display().lower()} seat needs a user with the role "
                          f"{expected.label.lower()}.", field="user")
    far = dt.date.max
    overlapping = PanelMember.objects.filter(user=member.user).exclude(pk=member.pk).filter(
        Q(active_to__isnull=True) | Q(active_to__gte=member.active_from),
        active_from__lte=member.active_to or far)
    if member.active_to is None and PanelMember.objects.filter(user=member.user, active_to__isnull=True).exclude(
            pk=member.pk).exists():
        raise DomainError(f"{member.user.username} already holds an open seat on the panel: end it first.",
                          field="user")
    if overlapping.exists():
        raise DomainError(f"{member.user.username} already has a seat during these dates: one person holds one "
                          "seat at a time.", field="active_from")
    deputy_of = member.deputy_of
    if deputy_of is not None:
        if member.pk and deputy_of.pk == member.pk:
            raise DomainError("A member cannot be their own deputy.", field="deputy_of")
        if deputy_of.user_id == member.user_id:
            raise DomainError("A member cannot deputise for another seat of their own.", field="deputy_of")
        if deputy_of.role != member.role:
            raise DomainError(f"A deputy must have the same role as the member they stand in for "
                              f"({deputy_of.get_role_display().lower()}).", field="deputy_of")
        if member.pk and deputy_of.deputy_of_id == member.pk:
            raise DomainError("Two members cannot be each other's deputies.", field="deputy_of")
    if member.role == MemberRole.OPS and list(affiliations):
        raise DomainError("The operations manager does not vote, so has no centre affiliations to record.",
                          field="affiliations")


def _snapshot(member: PanelMember) -> dict:
    return {"role": member.role, "active_from": member.active_from, "active_to": member.active_to,
            "deputy_of": member.deputy_of_id,
            "affiliations": sorted(member.affiliations.values_list("code", flat=True)) if member.pk else []}


def _changes(old: dict, new: dict) -> dict:
    return {key: [old.get(key), value] for key, value in new.items() if old.get(key) != value}


@transaction.atomic
def member_add(*, user, member_user, role: str, active_from: dt.date, active_to: dt.date | None = None,
               affiliations: Iterable[Centre] = (), deputy_of: PanelMember | None = None) -> PanelMember:
    """Give ``member_user`` a seat on the panel; audited, with history."""
    _check_manager(user)
    if role not in MemberRole.values:
        raise DomainError(f"Unknown panel role {role!r}.", field="role")
    if active_from is None:
        raise DomainError("Give the first day of membership.", field="active_from")
    affiliations = list(affiliations)
    member = PanelMember(user=member_user, role=role, active_from=active_from, active_to=active_to,
                         deputy_of=deputy_of)
    _validate(member=member, affiliations=affiliations)
    member._history_user = user
    member.save()
    member.affiliations.set(affiliations)
    audit_log(code="panel.member.created", actor=user, obj=member, changes=_changes({}, _snapshot(member)),
              context={"member_user": member_user.username})
    return member


@transaction.atomic
def member_update(*, user, member_id: int, active_from: dt.date, active_to: dt.date | None,
                  affiliations: Iterable[Centre], deputy_of: PanelMember | None) -> PanelMember:
    """Change a seat's dates, affiliations or deputy (its role and person are fixed); audited."""
    _check_manager(user)
    try:
        member = PanelMember.objects.select_for_update().select_related("user").get(pk=member_id)
    except PanelMember.DoesNotExist:
        raise DomainError("This panel membership does not exist.") from None
    if active_from is None:
        raise DomainError("Give the first day of membership.", field="active_from")
    old = _snapshot(member)
    affiliations = list(affiliations)
    member.active_from, member.active_to, member.deputy_of = active_from, active_to, deputy_of
    _validate(member=member, affiliations=affiliations)
    member._history_user = user
    member.save(update_fields=["active_from", "active_to", "deputy_of"])
    member.affiliations.set(affiliations)
    new = _snapshot(member)
    changes = _changes(old, new)
    ended = old["active_to"] is None and new["active_to"] is not None
    if changes:
        audit_log(code="panel.member.ended" if ended else "panel.member.changed", actor=user, obj=member,
                  changes=changes, context={"member_user": member.user.username})
    return member
