"""Reads for the operations manager: the open applications with their tallies, computed in bulk.

``application_tally`` counts one application at a time (three queries each). The dashboard and the
reminder sweep look at every open application at once, so this module reads the active panel,
the recusals and the votes of all of them in a fixed number of queries and applies the same rule
(``panel.rules.tally``) in memory: the page costs the same with 3 or 300 applications open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Prefetch, Q
from django.utils import timezone

from panel import rules
from panel.models import (
    OPEN_STATUSES,
    VOTING_ROLES,
    ApplicationStatus,
    MemberRole,
    OOSApplication,
    PanelMember,
    Recusal,
    Vote,
)

# Hours before the SLA ends at which the operations manager is warned (and escalated to by beat).
PANEL_ESCALATE_HOURS_BEFORE = 4


def escalate_hours_before() -> int:
    return getattr(settings, "PANEL_ESCALATE_HOURS_BEFORE", PANEL_ESCALATE_HOURS_BEFORE)


def composition_can_approve(physicians: int, pharmacists: int) -> bool:
    """Could a panel of this many physicians and pharmacists meet the rule if all of them approved?"""
    eligible = [(f"physician{i}", rules.PanelRole.PHYSICIAN) for i in range(physicians)]
    eligible += [(f"pharmacist{i}", rules.PanelRole.PHARMACIST) for i in range(pharmacists)]
    return rules.can_still_approve(eligible)


@dataclasses.dataclass
class ApplicationRow:
    """One open application as the operations manager sees it."""

    application: OOSApplication
    tally: dict
    not_voted: list[PanelMember]
    eligible_physicians: int
    eligible_pharmacists: int
    due_at: dt.datetime | None
    paused: bool
    overdue: bool
    due_soon: bool

    @property
    def panel_can_approve(self) -> bool:
        return composition_can_approve(self.eligible_physicians, self.eligible_pharmacists)


@dataclasses.dataclass(frozen=True)
class PanelStrength:
    """The active voting panel on one day, before any recusal."""

    physicians: int
    pharmacists: int

    @property
    def total(self) -> int:
        return self.physicians + self.pharmacists

    @property
    def can_approve(self) -> bool:
        return composition_can_approve(self.physicians, self.pharmacists)

    @property
    def shortfall(self) -> str:
        """What is missing for the rule to be reachable, in words ("" when nothing is)."""
        missing = []
        if self.physicians < rules.MIN_PHYSICIAN_APPROVALS:
            missing.append(f"{rules.MIN_PHYSICIAN_APPROVALS - self.physicians} physician(s)")
        if self.pharmacists < rules.MIN_PHARMACIST_APPROVALS:
            missing.append(f"{rules.MIN_PHARMACIST_APPROVALS - self.pharmacists} pharmacist(s)")
        if not missing and self.total < rules.MIN_APPROVALS:
            missing.append(f"{rules.MIN_APPROVALS - self.total} voting member(s)")
        return " and ".join(missing)


def _active_on(day: dt.date) -> Q:
    return Q(active_from__lte=day) & (Q(active_to__isnull=True) | Q(active_to__gte=day))


def active_voting_members(day: dt.date) -> list[PanelMember]:
    """Active physicians and pharmacists with their users and affiliation ids (two queries)."""
    return list(PanelMember.objects.filter(_active_on(day), role__in=VOTING_ROLES).select_related("user")
                .prefetch_related(Prefetch("affiliations", to_attr="affiliation_list"))
                .order_by("role", "user__username"))


def panel_strength(*, day: dt.date | None = None) -> PanelStrength:
    """How many physicians and pharmacists are serving on ``day`` (one query)."""
    day = day or timezone.localdate()
    roles = list(PanelMember.objects.filter(_active_on(day), role__in=VOTING_ROLES).values_list("role", flat=True))
    return PanelStrength(physicians=roles.count(MemberRole.PHYSICIAN), pharmacists=roles.count(MemberRole.PHARMACIST))


def effective_due_at(application: OOSApplication, now: dt.datetime) -> dt.datetime | None:
    """The SLA due time, moved on by the time an open information request has been waiting."""
    if application.sla_due_at is None:
        return None
    if application.status == ApplicationStatus.INFO_REQUESTED and application.sla_paused_at:
        return application.sla_due_at + max(now - application.sla_paused_at, dt.timedelta(0))
    return application.sla_due_at


def application_rows(applications: Iterable[OOSApplication], *, now: dt.datetime | None = None) -> list[ApplicationRow]:
    """Tally, missing voters and SLA state of each application, in four queries whatever their number.

    Eligibility is ``panel.selectors.eligible_members``' rule: active voting members, not recused,
    not affiliated with the submitting centre; votes of members no longer eligible do not count.
    """
    now = now or timezone.now()
    applications = list(applications)
    ids = [application.pk for application in applications]
    members = active_voting_members(timezone.localdate(now)) if ids else []
    recused: dict[int, set[int]] = defaultdict(set)
    for application_id, member_id in Recusal.objects.filter(application_id__in=ids).values_list(
            "application_id", "member_id"):
        recused[application_id].add(member_id)
    votes: dict[int, dict[int, str]] = defaultdict(dict)
    for application_id, member_id, choice in Vote.objects.filter(application_id__in=ids).values_list(
            "application_id", "member_id", "choice"):
        votes[application_id][member_id] = choice
    warn_before = dt.timedelta(hours=escalate_hours_before())
    rows = []
    for application in applications:
        eligible = [member for member in members if member.pk not in recused[application.pk]
                    and all(centre.pk != application.centre_id for centre in member.affiliation_list)]
        eligible_ids = {member.pk for member in eligible}
        cast = {member_id: choice for member_id, choice in votes[application.pk].items() if member_id in eligible_ids}
        tally = rules.tally([(member.pk, member.role) for member in eligible], cast)
        due_at = effective_due_at(application, now)
        paused = application.status == ApplicationStatus.INFO_REQUESTED
        rows.append(ApplicationRow(
            application=application,
            tally={"approve": tally.approve, "approve_physicians": tally.approve_physicians,
                   "approve_pharmacists": tally.approve_pharmacists, "decline": tally.decline,
                   "abstain": tally.abstain, "not_voted": tally.not_voted, "eligible": tally.eligible,
                   "outcome": tally.outcome.value},
            not_voted=[member for member in eligible if member.pk not in cast],
            eligible_physicians=sum(1 for member in eligible if member.role == MemberRole.PHYSICIAN),
            eligible_pharmacists=sum(1 for member in eligible if member.role == MemberRole.PHARMACIST),
            due_at=due_at,
            paused=paused,
            overdue=bool(due_at and not paused and due_at < now),
            due_soon=bool(due_at and not paused and now <= due_at <= now + warn_before),
        ))
    return rows


def open_application_rows(applications: Iterable[OOSApplication] | None = None, *,
                          now: dt.datetime | None = None) -> list[ApplicationRow]:
    """Open applications (submitted, under review, information requested): overdue first, then by due time.

    ``applications`` is the caller's visible queryset (``applications_visible_to``); it is narrowed
    here to the open statuses.
    """
    now = now or timezone.now()
    queryset = applications if applications is not None else OOSApplication.objects.select_related(
        "case__product", "centre", "attempt")
    rows = application_rows(queryset.filter(status__in=OPEN_STATUSES), now=now)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    # Paused applications cannot become overdue while the centre answers: they go after the running clocks.
    rows.sort(key=lambda row: (not row.overdue, row.paused, row.due_at or far, row.application.pk))
    return rows
