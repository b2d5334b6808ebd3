"""The approval rule against a brute force, over whole panels and whole vote sequences.

``test_rules.py`` checks ``decide`` on eligible panels. Here the panel is the real thing: members
who are affiliated with the submitting centre, who declare a conflict part-way, whose seat has not
started or has ended, deputies standing in for others; members vote, change their vote, or try to
vote when they may not. The oracle knows only the clinical rule: it enumerates every way the
members who have not voted could still vote, and counts a vote only from a member entitled to it.
The pure model checks many sequences quickly; the database test drives the same sequences
through the services and checks the application's status after every step.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import Role
from cases.errors import DomainError
from panel import rules, services
from panel.models import ApplicationStatus, Decision, MemberRole
from panel.selectors import eligible_members
from tests.factories import CentreFactory, UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

CHOICES = ("approve", "decline", "abstain")
PHYSICIAN, PHARMACIST = "physician", "pharmacist"


@dataclass
class Seat:
    role: str
    affiliated: bool = False  # works for the submitting centre: recused from the start
    inactive: str = ""  # "", "not_started" or "ended"
    deputy_of: int | None = None  # index of the member this one deputises for
    conflicted: bool = False  # declared a conflict during the review


@dataclass
class Scenario:
    seats: list[Seat]
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # ("vote" | "conflict", seat index, choice)


def _counts(seat: Seat) -> bool:
    return not (seat.affiliated or seat.inactive or seat.conflicted)


def _rule_met(seats, votes) -> bool:
    approving = [seats[i].role for i, choice in votes.items() if choice == "approve" and _counts(seats[i])]
    return len(approving) >= 4 and approving.count(PHYSICIAN) >= 3 and approving.count(PHARMACIST) >= 1


def oracle(seats: list[Seat], votes: dict[int, str]) -> str:
    """Brute force: approved if met now; pending if some completion of the non-voters meets it; else declined."""
    if _rule_met(seats, votes):
        return "approved"
    not_voted = [i for i in range(len(seats)) if i not in votes]
    for completion in itertools.product(CHOICES, repeat=len(not_voted)):
        if _rule_met(seats, {**votes, **dict(zip(not_voted, completion, strict=True))}):
            return "pending"
    return "declined"


@st.composite
def scenarios(draw, max_steps=20) -> Scenario:
    rare = st.integers(0, 5).map(lambda n: n == 0)  # about one member in six
    # Every size is drawn, the usual panel sizes (and just enough to approve) more often.
    physicians = draw(st.sampled_from((0, 1, 2, 3, 3, 4, 4, 5, 5, 6)))
    pharmacists = draw(st.sampled_from((0, 1, 1, 2, 2, 3)))
    roles = [PHYSICIAN] * physicians + [PHARMACIST] * pharmacists
    roles = draw(st.permutations(roles))
    seats = []
    for index, role in enumerate(roles):
        inactive = draw(st.sampled_from(("",) * 8 + ("not_started", "ended")))
        deputy_of = draw(st.none() | st.integers(0, index - 1)) if index and draw(rare) else None
        seats.append(Seat(role=role, affiliated=draw(rare), inactive=inactive, deputy_of=deputy_of))
    steps = []
    if seats:
        # Approvals are drawn more often than the other choices so that sequences reach approval too.
        step = st.tuples(st.sampled_from(("vote",) * 5 + ("conflict",)), st.integers(0, len(seats) - 1),
                         st.sampled_from(("approve", "approve", "approve", "decline", "abstain")))
        steps = draw(st.lists(step, max_size=max_steps))
        if draw(st.booleans()):
            # Or everyone votes once, in any order, then the random steps: these sequences reach approval.
            choice = st.sampled_from(("approve", "approve", "approve", "approve", "decline", "abstain"))
            steps = [("vote", index, draw(choice)) for index in draw(st.permutations(range(len(seats))))] + steps
    return Scenario(seats=seats, steps=steps)


@dataclass
class Expected:
    """What the system must do, step by step: the oracle plus the freeze at the first decision."""

    seats: list[Seat]
    votes: dict[int, str] = field(default_factory=dict)
    outcome: str = "pending"

    def step(self, action: str, index: int, choice: str) -> str:
        """Apply one step; return "ok", "decided", "not_eligible" or "already_recused"."""
        seat = self.seats[index]
        if self.outcome != "pending":
            return "decided"
        if seat.inactive:
            return "not_eligible"
        if action == "vote":
            if not _counts(seat):
                return "not_eligible"
            self.votes[index] = choice
        else:
            if seat.affiliated or seat.conflicted:
                return "already_recused"
            seat.conflicted = True
        self.outcome = oracle(self.seats, self.votes)
        return "ok"


def _eligible_pairs(seats: list[Seat]) -> list[tuple[int, str]]:
    return [(i, seat.role) for i, seat in enumerate(seats) if _counts(seat)]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_rule_along_any_sequence_agrees_with_brute_force(scenario):
    # The pure model of the system: eligible members from the panel, current votes of eligible members only.
    expected = Expected(seats=[Seat(**vars(seat)) for seat in scenario.seats])
    frozen = None
    for action, index, choice in scenario.steps:
        if expected.step(action, index, choice) != "ok":
            continue
        eligible = _eligible_pairs(expected.seats)
        ids = {i for i, _ in eligible}
        outcome = rules.decide(eligible, {i: c for i, c in expected.votes.items() if i in ids})
        assert outcome == expected.outcome, (scenario, expected.votes)
        if frozen is None and outcome != rules.Outcome.PENDING:
            frozen = outcome
    assert frozen is None or expected.outcome == frozen


# --- The same sequences through the services on the database -----------------------------------


def _make_panel(seats: list[Seat], centre) -> list:
    today = timezone.localdate()
    members = []
    for seat in seats:
        active_from, active_to = dt.date(2020, 1, 1), None
        if seat.inactive == "not_started":
            active_from = today + dt.timedelta(days=30)
        elif seat.inactive == "ended":
            active_to = today - dt.timedelta(days=1)
        role = MemberRole.PHYSICIAN if seat.role == PHYSICIAN else MemberRole.PHARMACIST
        member = PanelMemberFactory(role=role, active_from=active_from, active_to=active_to,
                                    affiliations=[centre] if seat.affiliated else None,
                                    deputy_of=members[seat.deputy_of] if seat.deputy_of is not None else None)
        members.append(member)
    return members


def _run(scenario: Scenario) -> None:
    centre = CentreFactory()
    submitter = UserFactory(role=Role.CENTRE_USER, centre=centre)
    members = _make_panel(scenario.seats, centre)
    attempt = OOSAttemptFactory(apheresis__case__patient__centre=centre)
    draft = services.application_create_draft(user=submitter, attempt=attempt, clinical_justification="Refractory",
                                              contact="Dr A, 0100")
    application = services.application_submit(application_id=draft.pk, user=submitter)
    expected = Expected(seats=[Seat(**vars(seat)) for seat in scenario.seats])

    for action, index, choice in scenario.steps:
        ids = {member.pk for member in eligible_members(application)}
        assert ids == {members[i].pk for i, _ in _eligible_pairs(expected.seats)}
        want = expected.step(action, index, choice)
        user = members[index].user
        try:
            if action == "vote":
                services.vote_cast(application_id=application.pk, user=user, choice=choice)
            else:
                services.member_declare_conflict(application_id=application.pk, user=user, reason="Conflict")
            got = "ok"
        except services.ApplicationNotOpen:
            got = "decided"
        except services.NotEligible:
            got = "not_eligible"
        except DomainError as error:
            assert "already recused" in error.message
            got = "already_recused"
        assert got == want, (scenario, action, index)
        application.refresh_from_db()
        decided = expected.outcome != "pending"
        assert application.status == (expected.outcome if decided else ApplicationStatus.UNDER_REVIEW)
        assert Decision.objects.filter(application=application).count() == int(decided)
        if decided:
            counted = {i: c for i, c in expected.votes.items() if _counts(expected.seats[i])}
            assert application.decision.tally["approve"] == list(counted.values()).count("approve")


@pytest.mark.django_db
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenarios())
def test_services_decide_as_the_brute_force_says(scenario):
    # Each example in its own savepoint, rolled back, so the examples do not see each other's panels.
    with transaction.atomic():
        _run(scenario)
        transaction.set_rollback(True)
