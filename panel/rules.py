"""The approval rule of the national OOS panel. Pure domain logic, no Django import.

The clinical rule: an out-of-specification CAR-T product is **approved** for infusion once at
least 4 eligible panel members approve it, of whom at least 3 are physicians and at least 1 is a
pharmacist — the pharmacist vouches for the product's quality data, the physicians for the
patient's benefit, and neither group can approve alone. It is **declined** as soon as that can
no longer happen, i.e. even if every eligible member who has not voted yet approved, the rule
would not be met. Otherwise it is **pending**.

Who is eligible is decided by the caller: members who declared (or were given) a conflict of
interest with the submitting centre are recused, inactive members are left out, and a deputy
standing in is simply one more eligible member with their own role. This module only counts.

A decline and an abstention are both "not an approval" and, for the reachability check, cast
votes are final: the system freezes an application at its first decision (taken under a row lock
in the vote's transaction), so a member changing their vote later cannot revive a declined
application. While an application is pending a member may replace their vote; the caller then
passes the member's current vote.

``decide``, ``tally`` and ``can_still_approve`` accept any iterable of ``(member_id, role)``
pairs (a list, a generator, a queryset's ``values_list``) and any mapping of votes; roles,
choices and outcomes are ``str`` enums, so the contract's plain strings and Django
``TextChoices`` with the same values are accepted and compared equal.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MIN_APPROVALS",
    "MIN_PHARMACIST_APPROVALS",
    "MIN_PHYSICIAN_APPROVALS",
    "Outcome",
    "PanelRole",
    "Tally",
    "VoteChoice",
    "can_still_approve",
    "decide",
    "tally",
]

# The panel's terms of reference. With 3 physicians and 1 pharmacist the total of 4 is already
# met, so MIN_APPROVALS adds nothing today; it is checked separately so the three numbers can be
# changed independently if the terms of reference ever are.
MIN_APPROVALS = 4
MIN_PHYSICIAN_APPROVALS = 3
MIN_PHARMACIST_APPROVALS = 1


class Outcome(StrEnum):
    """What the rule says about an application, given its eligible members and their votes."""

    APPROVED = "approved"
    DECLINED = "declined"
    PENDING = "pending"


class PanelRole(StrEnum):
    """The voting roles on the panel (the operations manager runs the panel but does not vote)."""

    PHYSICIAN = "physician"
    PHARMACIST = "pharmacist"


class VoteChoice(StrEnum):
    """A member's vote. Only ``approve`` counts towards approval; ``abstain`` is not a half-vote."""

    APPROVE = "approve"
    DECLINE = "decline"
    ABSTAIN = "abstain"


@dataclass(frozen=True, slots=True)
class Tally:
    """The counts of one application's votes over its eligible members (the live tally).

    ``not_voted*`` are eligible members with no current vote; every eligible member is in
    exactly one of approve / decline / abstain / not_voted.
    """

    approve: int
    approve_physicians: int
    approve_pharmacists: int
    decline: int
    abstain: int
    not_voted: int
    not_voted_physicians: int
    not_voted_pharmacists: int

    @property
    def eligible(self) -> int:
        return self.approve + self.decline + self.abstain + self.not_voted

    @property
    def is_approved(self) -> bool:
        """The clinical rule is met by the approvals cast so far."""
        return _meets_rule(self.approve, self.approve_physicians, self.approve_pharmacists)

    @property
    def approval_reachable(self) -> bool:
        """The rule would be met if every member who has not voted approved (cast votes final)."""
        return _meets_rule(
            self.approve + self.not_voted,
            self.approve_physicians + self.not_voted_physicians,
            self.approve_pharmacists + self.not_voted_pharmacists,
        )

    @property
    def outcome(self) -> Outcome:
        if self.is_approved:
            return Outcome.APPROVED
        if not self.approval_reachable:
            return Outcome.DECLINED
        return Outcome.PENDING


def _meets_rule(approvals: int, physician_approvals: int, pharmacist_approvals: int) -> bool:
    return (
        approvals >= MIN_APPROVALS
        and physician_approvals >= MIN_PHYSICIAN_APPROVALS
        and pharmacist_approvals >= MIN_PHARMACIST_APPROVALS
    )


def _eligible_roles(eligible: Iterable[tuple[Hashable, str]]) -> dict[Hashable, PanelRole]:
    """Member id → role, read once (so a generator works), refusing malformed or repeated members."""
    roles: dict[Hashable, PanelRole] = {}
    for entry in eligible:
        try:
            member_id, role = entry
        except (TypeError, ValueError):
            raise ValueError(f"Each eligible member must be a (member_id, role) pair; got {entry!r}.") from None
        try:
            hash(member_id)
        except TypeError:
            raise ValueError(f"Member id {member_id!r} is not hashable.") from None
        try:
            panel_role = PanelRole(role)
        except ValueError:
            raise ValueError(
                f"Unknown panel role {role!r} for member {member_id!r}; expected one of: {', '.join(PanelRole)}."
            ) from None
        if member_id in roles:
            # Counting a member twice could approve an application with one vote too few.
            raise ValueError(f"Member {member_id!r} is listed more than once among the eligible members.")
        roles[member_id] = panel_role
    return roles


def _current_votes(votes: Mapping[Hashable, str], roles: Mapping[Hashable, PanelRole]) -> dict[Hashable, VoteChoice]:
    try:
        items = list(votes.items())
    except AttributeError:
        raise TypeError(f"Votes must be a mapping of member id to choice; got {type(votes).__name__}.") from None
    current: dict[Hashable, VoteChoice] = {}
    for member_id, choice in items:
        if member_id not in roles:
            # A vote from a recused or inactive member must never count; the caller filters them out,
            # so one reaching here is a bug upstream, not something to ignore quietly.
            raise ValueError(f"Vote from member {member_id!r}, who is not an eligible member of this application.")
        try:
            current[member_id] = VoteChoice(choice)
        except ValueError:
            raise ValueError(
                f"Unknown vote choice {choice!r} from member {member_id!r}; expected one of: {', '.join(VoteChoice)}."
            ) from None
    return current


def tally(eligible: Iterable[tuple[Hashable, str]], votes: Mapping[Hashable, str]) -> Tally:
    """Count the votes of the eligible members of one application.

    ``eligible``: ``(member_id, role)`` pairs, role ``"physician"`` or ``"pharmacist"``, recused
    and inactive members already left out. ``votes``: member id → ``"approve"`` / ``"decline"`` /
    ``"abstain"``, the current vote of eligible members only. Raises ``ValueError`` for a vote
    from a member who is not eligible, an unknown role or choice, or a member listed twice.
    """
    roles = _eligible_roles(eligible)
    current = _current_votes(votes, roles)
    counts = {choice: {role: 0 for role in PanelRole} for choice in (*VoteChoice, None)}
    for member_id, role in roles.items():
        counts[current.get(member_id)][role] += 1
    return Tally(
        approve=sum(counts[VoteChoice.APPROVE].values()),
        approve_physicians=counts[VoteChoice.APPROVE][PanelRole.PHYSICIAN],
        approve_pharmacists=counts[VoteChoice.APPROVE][PanelRole.PHARMACIST],
        decline=sum(counts[VoteChoice.DECLINE].values()),
        abstain=sum(counts[VoteChoice.ABSTAIN].values()),
        not_voted=sum(counts[None].values()),
        not_voted_physicians=counts[None][PanelRole.PHYSICIAN],
        not_voted_pharmacists=counts[None][PanelRole.PHARMACIST],
    )


def decide(eligible: Iterable[tuple[Hashable, str]], votes: Mapping[Hashable, str]) -> Outcome:
    """``approved``, ``declined`` or ``pending`` for one application (arguments as for ``tally``).

    Approved: at least 4 approvals, including at least 3 from physicians and at least 1 from a
    pharmacist. Declined: approval can no longer be reached even if every eligible member who has
    not voted approves — cast declines and abstentions are final for this check, and a panel
    shrunk by recusals below 3 physicians or 1 pharmacist is declined before anyone votes.
    Pending: neither yet.
    """
    return tally(eligible, votes).outcome


def can_still_approve(eligible: Iterable[tuple[Hashable, str]], votes: Mapping[Hashable, str] | None = None) -> bool:
    """Could these eligible members still approve, if everyone who has not voted approved?

    With no votes this asks whether the panel left after recusals can meet the rule at all (at
    least 3 physicians and 1 pharmacist, 4 members in all); the operations manager is warned
    when it cannot, so they can bring in a deputy before the application is declined by default.
    """
    return tally(eligible, votes or {}).approval_reachable
