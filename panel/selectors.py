"""Reads of the OOS panel: who may vote, the live tally, each member's queue."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from panel import rules
from panel.models import OPEN_STATUSES, VOTING_ROLES, ApplicationStatus, OOSApplication, PanelMember, Recusal, Vote


def _active_on(day: dt.date) -> Q:
    return Q(active_from__lte=day) & (Q(active_to__isnull=True) | Q(active_to__gte=day))


def active_member_for(user, *, day: dt.date | None = None,
                      recusal_for: OOSApplication | None = None) -> PanelMember | None:
    """The user's panel seat in force today, or None.

    With ``recusal_for`` (an application), the seat also carries ``declared_recusal`` and
    ``affiliated``, read in the same query: whether it is recused from that application by a recusal
    row, and whether it is affiliated with the submitting centre.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    members = PanelMember.objects.filter(_active_on(day or timezone.localdate()), user=user).select_related("user")
    if recusal_for is not None:
        members = members.annotate(
            declared_recusal=Exists(Recusal.objects.filter(member=OuterRef("pk"), application=recusal_for)),
            affiliated=Exists(PanelMember.affiliations.through.objects.filter(
                panelmember=OuterRef("pk"), centre_id=recusal_for.centre_id)))
    return members.first()


def eligible_members(application: OOSApplication, *, day: dt.date | None = None) -> QuerySet[PanelMember]:
    """Members who may vote on ``application``: active physicians and pharmacists, not recused.

    Members affiliated with the submitting centre are left out even without a recusal row (one is
    written at submission; a member who joined or gained the affiliation later has none), because
    the rule is the affiliation, the row only records it.
    """
    return (PanelMember.objects.filter(_active_on(day or timezone.localdate()), role__in=VOTING_ROLES)
            .exclude(recusals__application=application)
            .exclude(affiliations=application.centre_id)
            .select_related("user").order_by("role", "user__username"))


def eligible_and_votes(application: OOSApplication) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """What ``rules.decide`` takes: (member id, role) pairs and the current votes of those members.

    Votes of members who are no longer eligible (recused after voting, membership ended) stay on
    record but are not counted.
    """
    eligible = list(eligible_members(application).values_list("id", "role"))
    ids = {member_id for member_id, _ in eligible}
    votes = {member_id: choice
             for member_id, choice in Vote.objects.filter(application=application).values_list("member_id", "choice")
             if member_id in ids}
    return eligible, votes


def application_tally(*, application: OOSApplication) -> dict:
    """The tally in the API's shape (approve, approve_physicians, approve_pharmacists, decline, abstain).

    Once decided, the tally is the one the decision was taken on, so later membership changes do
    not rewrite what the panel decided; before that it is counted live. ``not_voted``,
    ``eligible`` and ``outcome`` are added for the operations manager's page.
    """
    decision = getattr(application, "decision", None) if application.pk else None
    if decision is not None:
        snapshot = decision.tally
        counts = {key: snapshot[key] for key in ("approve", "approve_physicians", "approve_pharmacists", "decline",
                                                 "abstain", "not_voted")}
        return {**counts, "eligible": snapshot["eligible"], "outcome": decision.outcome}
    eligible, votes = eligible_and_votes(application)
    tally = rules.tally(eligible, votes)
    return {"approve": tally.approve, "approve_physicians": tally.approve_physicians,
            "approve_pharmacists": tally.approve_pharmacists, "decline": tally.decline, "abstain": tally.abstain,
            "not_voted": tally.not_voted, "eligible": tally.eligible, "outcome": tally.outcome.value}


def applications_awaiting_vote(*, member: PanelMember) -> QuerySet[OOSApplication]:
    """Applications under review that ``member`` may vote on and has not voted on yet, oldest SLA first."""
    if member.role not in VOTING_ROLES or not member.is_active_on(timezone.localdate()):
        return OOSApplication.objects.none()
    return (OOSApplication.objects.filter(status=ApplicationStatus.UNDER_REVIEW)
            .exclude(votes__member=member)
            .exclude(recusals__member=member)
            .exclude(centre__in=member.affiliations.all())
            .select_related("case__product", "centre", "attempt")
            .order_by("sla_due_at", "id"))


def applications_visible_to(user) -> QuerySet[OOSApplication]:
    """The applications ``user`` may see: the single place the panel's read permission is decided.

    A centre user sees their own centre's applications, drafts included. Panel members, the
    operations manager and admins see every submitted application (never another centre's
    draft). Analysts work on the registry's aggregates and see none. Pages and the API both
    start from this queryset.
    """
    from accounts.roles import PANEL_ROLES, Role

    if user is None or not getattr(user, "is_authenticated", False):
        return OOSApplication.objects.none()
    base = OOSApplication.objects.select_related("case__product", "centre", "attempt")
    if user.is_superuser:
        return base
    if user.role == Role.CENTRE_USER:
        return base.filter(centre_id=user.centre_id) if user.centre_id else base.none()
    if user.role in PANEL_ROLES or user.role in (Role.OPS_MANAGER, Role.ADMIN):
        return base.exclude(status=ApplicationStatus.DRAFT)
    return base.none()


# --- A member's own view: recusal, queue sections and vote history -------------------------------


def member_recusal_reason(member: PanelMember, application: OOSApplication) -> str | None:
    """Why ``member`` may not vote on ``application`` (recusal row or affiliation), or None."""
    recusal = application.recusals.filter(member=member).values_list("reason", flat=True).first()
    if recusal:
        return recusal
    centre = member.affiliations.filter(pk=application.centre_id).values_list("code", flat=True).first()
    return f"Affiliated with the submitting centre {centre}." if centre else None


def applications_voted_open(*, member: PanelMember) -> QuerySet[Vote]:
    """The member's current votes on applications still open, so they can change them; oldest SLA first."""
    return (Vote.objects.filter(member=member, application__status__in=OPEN_STATUSES)
            .select_related("application__case__product", "application__centre")
            .order_by("application__sla_due_at", "application_id"))


def applications_recused_open(*, member: PanelMember) -> QuerySet[OOSApplication]:
    """Open applications the member is recused from (declared, automatic, or by affiliation)."""
    reason = Recusal.objects.filter(application=OuterRef("pk"), member=member).values("reason")[:1]
    # Two semi-joins rather than a join to the recusals: no duplicate rows, so no DISTINCT to count.
    declared = Recusal.objects.filter(member=member).values("application_id")
    return (OOSApplication.objects.filter(status__in=OPEN_STATUSES)
            .filter(Q(pk__in=declared) | Q(centre__in=member.affiliations.values("pk")))
            .annotate(recusal_reason=Subquery(reason))
            .select_related("case__product", "centre")
            .order_by("sla_due_at", "id"))


def vote_history(vote: Vote | None) -> list:
    """Every version of one vote, oldest first (simple-history), for "your earlier votes"."""
    if vote is None:
        return []
    return list(Vote.history.filter(id=vote.pk).select_related("history_user").order_by("history_date",
                                                                                          "history_id"))
