"""The panel's approval rule: named cases, a brute-force oracle, and properties over vote sequences."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.rules import (
    MIN_APPROVALS,
    MIN_PHARMACIST_APPROVALS,
    MIN_PHYSICIAN_APPROVALS,
    Outcome,
    PanelRole,
    Tally,
    VoteChoice,
    can_still_approve,
    decide,
    tally,
)

PHYSICIAN = "physician"
PHARMACIST = "pharmacist"
CHOICES = ("approve", "decline", "abstain")
_LETTERS = {"A": "approve", "D": "decline", "X": "abstain"}


def panel_and_votes(physicians: str, pharmacists: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """A panel written one letter per eligible member: A approve, D decline, X abstain, - not voted.

    ``panel_and_votes("AAA--", "A--")`` is 5 eligible physicians and 3 eligible pharmacists, of whom
    three physicians and one pharmacist approved and the others have not voted yet.
    """
    eligible: list[tuple[str, str]] = []
    votes: dict[str, str] = {}
    for prefix, role, letters in (("phys", PHYSICIAN, physicians), ("pharm", PHARMACIST, pharmacists)):
        for number, letter in enumerate(letters, start=1):
            member_id = f"{prefix}{number}"
            eligible.append((member_id, role))
            if letter != "-":
                votes[member_id] = _LETTERS[letter]
    return eligible, votes


RULE_TABLE = [
    # (physicians, pharmacists, expected) on a usual 5 + 3 panel unless the case is about the panel's size
    pytest.param("-----", "---", "pending", id="no_votes_yet_is_pending"),
    pytest.param("AAAA-", "---", "pending", id="fourth_approval_without_pharmacist_keeps_pending"),
    pytest.param("AAAAA", "---", "pending", id="five_physician_approvals_still_wait_for_a_pharmacist"),
    pytest.param("AAAA-", "A--", "approved", id="four_physicians_and_one_pharmacist_approve"),
    pytest.param("AAA--", "A--", "approved", id="three_physicians_and_one_pharmacist_are_the_four_approvals"),
    pytest.param("AA---", "AA-", "pending", id="two_physicians_and_two_pharmacists_lack_a_third_physician"),
    pytest.param("AA---", "AAA", "pending", id="five_approvals_with_two_physicians_keep_pending"),
    pytest.param("AAA--", "---", "pending", id="three_physicians_without_pharmacist_keep_pending"),
    pytest.param("DD---", "---", "pending", id="two_physician_declines_leave_three_physicians_reachable"),
    pytest.param("DDAAA", "A--", "approved", id="two_physician_declines_do_not_veto"),
    pytest.param("DDD--", "---", "declined", id="three_physician_declines_make_approval_unreachable"),
    pytest.param("DDDAA", "AAA", "declined", id="three_physician_declines_decline_even_with_approvals"),
    pytest.param("XX---", "---", "pending", id="two_physician_abstentions_keep_pending"),
    pytest.param("XXX--", "---", "declined", id="physician_abstentions_count_as_not_approving_and_are_final"),
    pytest.param("DX-X-", "---", "declined", id="declines_and_abstentions_add_up"),
    pytest.param("AAAAA", "DDD", "declined", id="all_pharmacists_decline"),
    pytest.param("AAAAA", "XDX", "declined", id="all_pharmacists_abstain_or_decline"),
    pytest.param("AAAAA", "DD-", "pending", id="one_pharmacist_left_to_vote_keeps_pending"),
    pytest.param("AAADD", "ADD", "approved", id="declines_after_the_rule_is_met_do_not_matter"),
    pytest.param("AAAAA", "AAA", "approved", id="unanimous_approval"),
    pytest.param("DDDDD", "DDD", "declined", id="unanimous_decline"),
    pytest.param("-------", "----", "pending", id="larger_panel_no_votes_is_pending"),
    # Recusals and inactive members shrink the eligible panel before anyone votes.
    pytest.param("--", "---", "declined", id="recusals_leave_two_physicians_approval_unreachable_from_start"),
    pytest.param("-----", "", "declined", id="recusals_leave_no_pharmacist_approval_unreachable_from_start"),
    pytest.param("", "", "declined", id="no_eligible_member_at_all"),
    pytest.param("---", "-", "pending", id="smallest_possible_panel_can_still_approve"),
    pytest.param("AAA", "A", "approved", id="smallest_possible_panel_approves_unanimously"),
    pytest.param("AAA", "X", "declined", id="smallest_panel_with_pharmacist_abstaining"),
    pytest.param("AAD", "-", "declined", id="smallest_panel_with_one_physician_declining"),
]


@pytest.mark.parametrize(("physicians", "pharmacists", "expected"), RULE_TABLE)
def test_rule_table(physicians, pharmacists, expected):
    eligible, votes = panel_and_votes(physicians, pharmacists)
    assert decide(eligible, votes) == expected


def test_fourth_approval_without_pharmacist_keeps_pending():
    eligible, votes = panel_and_votes("AAAA-", "---")
    assert decide(eligible, votes) == Outcome.PENDING
    # The pharmacist's approval is then the one that decides.
    assert decide(eligible, {**votes, "pharm2": "approve"}) == Outcome.APPROVED


def test_three_physicians_and_one_pharmacist_are_enough():
    eligible, votes = panel_and_votes("AAA--", "A--")
    assert tally(eligible, votes).approve == MIN_APPROVALS
    assert decide(eligible, votes) == Outcome.APPROVED


def test_deputies_are_just_more_eligible_members():
    # Both regular pharmacists are recused (affiliated with the submitting centre): without a
    # deputy the panel cannot approve; the deputy pharmacist makes it reachable and their
    # approval counts like any pharmacist's.
    regular = [("phys1", PHYSICIAN), ("phys2", PHYSICIAN), ("phys3", PHYSICIAN), ("phys4", PHYSICIAN)]
    votes = {"phys1": "approve", "phys2": "approve", "phys3": "approve"}
    assert decide(regular, votes) == Outcome.DECLINED
    assert not can_still_approve(regular)

    with_deputy = [*regular, ("deputy-pharm", PHARMACIST)]
    assert can_still_approve(with_deputy)
    assert decide(with_deputy, votes) == Outcome.PENDING
    assert decide(with_deputy, {**votes, "deputy-pharm": "approve"}) == Outcome.APPROVED


def test_deputy_physician_replaces_a_recused_physician():
    eligible, votes = panel_and_votes("AA", "A")
    assert decide(eligible, votes) == Outcome.DECLINED
    eligible.append(("deputy-phys", PHYSICIAN))
    assert decide(eligible, votes) == Outcome.PENDING
    assert decide(eligible, {**votes, "deputy-phys": "approve"}) == Outcome.APPROVED


def test_tally_counts_every_eligible_member_once():
    eligible, votes = panel_and_votes("AADX-", "A--")
    assert tally(eligible, votes) == Tally(
        approve=3,
        approve_physicians=2,
        approve_pharmacists=1,
        decline=1,
        abstain=1,
        not_voted=3,
        not_voted_physicians=1,
        not_voted_pharmacists=2,
    )
    assert tally(eligible, votes).eligible == 8


def test_tally_is_frozen():
    counts = tally(*panel_and_votes("A", ""))
    with pytest.raises(AttributeError):
        counts.approve = 4


@pytest.mark.parametrize(
    ("physicians", "pharmacists", "expected"),
    [
        pytest.param(3, 1, True, id="three_physicians_one_pharmacist"),
        pytest.param(7, 4, True, id="full_panel"),
        pytest.param(2, 4, False, id="two_physicians"),
        pytest.param(7, 0, False, id="no_pharmacist"),
        pytest.param(0, 0, False, id="nobody"),
    ],
)
def test_can_still_approve_by_panel_composition(physicians, pharmacists, expected):
    eligible, _ = panel_and_votes("-" * physicians, "-" * pharmacists)
    assert can_still_approve(eligible) is expected


def test_can_still_approve_takes_cast_votes_into_account():
    eligible, votes = panel_and_votes("DDD--", "---")
    assert can_still_approve(eligible)
    assert not can_still_approve(eligible, votes)


def test_thresholds_are_the_panel_terms_of_reference():
    assert (MIN_APPROVALS, MIN_PHYSICIAN_APPROVALS, MIN_PHARMACIST_APPROVALS) == (4, 3, 1)


# --- Input validation -------------------------------------------------------------------------


def test_vote_from_member_not_eligible_is_refused():
    eligible, votes = panel_and_votes("AAA", "A")
    with pytest.raises(ValueError, match="'recused-phys'.*not an eligible member"):
        decide(eligible, {**votes, "recused-phys": "approve"})


def test_unknown_role_is_refused():
    with pytest.raises(ValueError, match="Unknown panel role 'panel_physician'"):
        decide([("m1", "panel_physician")], {})


def test_ops_manager_is_not_a_voting_role():
    with pytest.raises(ValueError, match="Unknown panel role 'ops'"):
        tally([("m1", PHYSICIAN), ("m2", "ops")], {})


@pytest.mark.parametrize("choice", ["yes", "APPROVE", "", None, 1])
def test_unknown_choice_is_refused(choice):
    eligible, _ = panel_and_votes("---", "-")
    with pytest.raises(ValueError, match="Unknown vote choice"):
        decide(eligible, {"phys1": choice})


@pytest.mark.parametrize(
    "eligible",
    [
        pytest.param([("m1", PHYSICIAN), ("m1", PHYSICIAN)], id="same_role"),
        pytest.param([("m1", PHYSICIAN), ("m2", PHARMACIST), ("m1", PHARMACIST)], id="different_roles"),
    ],
)
def test_member_listed_twice_is_refused(eligible):
    # Counting a member twice would let one approval stand in for two.
    with pytest.raises(ValueError, match="'m1' is listed more than once"):
        decide(eligible, {"m1": "approve"})


@pytest.mark.parametrize("entry", ["phys1", ("phys1",), ("phys1", PHYSICIAN, "extra"), None])
def test_malformed_eligible_entry_is_refused(entry):
    with pytest.raises(ValueError, match=r"\(member_id, role\) pair"):
        decide([entry], {})


def test_votes_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        decide([("phys1", PHYSICIAN)], [("phys1", "approve")])


# --- Contract: types accepted and returned ----------------------------------------------------


class _VoteMapping(Mapping):
    """A read-only mapping that is not a dict, as a caller's own vote store could be."""

    def __init__(self, items):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


def _generated(eligible) -> Iterator[tuple[str, str]]:
    yield from eligible


@pytest.mark.parametrize("mapping_type", [dict, MappingProxyType, _VoteMapping], ids=lambda t: t.__name__)
def test_accepts_any_iterable_of_members_and_any_mapping_of_votes(mapping_type):
    eligible, votes = panel_and_votes("AAAD-", "A-")
    expected = tally(eligible, votes)
    # A generator can be read only once: the rule must not iterate the eligible members twice.
    assert tally(_generated(eligible), mapping_type(votes)) == expected
    assert decide(_generated(eligible), mapping_type(votes)) == "approved"
    assert can_still_approve(_generated(eligible), mapping_type(votes)) is True


def test_outcome_is_the_contract_string():
    eligible, votes = panel_and_votes("AAA", "A")
    outcome = decide(eligible, votes)
    assert isinstance(outcome, str)
    assert outcome == "approved"
    assert str(outcome) == "approved"
    assert {Outcome.APPROVED: 1}["approved"] == 1
    assert [str(o) for o in Outcome] == ["approved", "declined", "pending"]
    assert [str(r) for r in PanelRole] == ["physician", "pharmacist"]
    assert [str(c) for c in VoteChoice] == ["approve", "decline", "abstain"]


def test_accepts_other_str_enums_with_the_same_values():
    # Model-side choices (Django TextChoices are str enums) pass straight through.
    class ModelRole(StrEnum):
        PHYSICIAN = "physician"
        PHARMACIST = "pharmacist"

    class ModelChoice(StrEnum):
        APPROVE = "approve"

    eligible = [(1, ModelRole.PHYSICIAN), (2, ModelRole.PHYSICIAN), (3, ModelRole.PHYSICIAN), (4, ModelRole.PHARMACIST)]
    votes = {member_id: ModelChoice.APPROVE for member_id, _ in eligible}
    assert decide(eligible, votes) == Outcome.APPROVED


def test_member_ids_can_be_any_hashable():
    eligible = [(1, PHYSICIAN), ("2", PHYSICIAN), ((3, "deputy"), PHYSICIAN), (None, PHARMACIST)]
    votes = {1: "approve", "2": "approve", (3, "deputy"): "approve", None: "approve"}
    assert decide(eligible, votes) == Outcome.APPROVED
    with pytest.raises(ValueError, match="not hashable"):
        decide([(["list"], PHYSICIAN)], {})


# --- Brute-force oracle -----------------------------------------------------------------------


def oracle_rule_met(roles: Mapping, votes: Mapping) -> bool:
    """The clinical rule as written, counted afresh: >= 4 approvals, >= 3 physicians, >= 1 pharmacist."""
    approving_roles = [roles[member_id] for member_id, choice in votes.items() if choice == "approve"]
    return (
        len(approving_roles) >= 4 and approving_roles.count(PHYSICIAN) >= 3 and approving_roles.count(PHARMACIST) >= 1
    )


def oracle_decide(eligible, votes) -> str:
    """Try every way the members who have not voted could still vote; cast votes stay as they are."""
    roles = dict(eligible)
    if oracle_rule_met(roles, votes):
        return "approved"
    not_voted = [member_id for member_id in roles if member_id not in votes]
    for completion in itertools.product(CHOICES, repeat=len(not_voted)):
        if oracle_rule_met(roles, {**votes, **dict(zip(not_voted, completion, strict=True))}):
            return "pending"
    return "declined"


@st.composite
def panels(draw, max_physicians: int = 7, max_pharmacists: int = 4) -> list[tuple[int, str]]:
    """An eligible panel of 0–7 physicians and 0–4 pharmacists, in any order, with arbitrary ids."""
    physicians = draw(st.integers(0, max_physicians))
    pharmacists = draw(st.integers(0, max_pharmacists))
    size = physicians + pharmacists
    ids = draw(st.lists(st.integers(0, 10_000), min_size=size, max_size=size, unique=True))
    roles = [PHYSICIAN] * physicians + [PHARMACIST] * pharmacists
    return draw(st.permutations(list(zip(ids, roles, strict=True))))


@st.composite
def panels_with_votes(draw) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """A panel and a partial vote map: each member has approved, declined, abstained or not voted."""
    eligible = draw(panels())
    votes = {}
    for member_id, _ in eligible:
        choice = draw(st.sampled_from((None, *CHOICES)))
        if choice is not None:
            votes[member_id] = choice
    return eligible, votes


@settings(max_examples=500)
@given(panels_with_votes())
def test_decide_agrees_with_brute_force_oracle(panel_votes):
    eligible, votes = panel_votes
    assert decide(eligible, votes) == oracle_decide(eligible, votes)


def test_decide_agrees_with_oracle_on_every_small_panel_and_vote_map():
    # Exhaustive where it is cheap: every composition up to 5 members, every partial vote map.
    checked = {outcome: 0 for outcome in Outcome}
    for physicians, pharmacists in itertools.product(range(5), range(3)):
        if physicians + pharmacists > 5:
            continue
        eligible, _ = panel_and_votes("-" * physicians, "-" * pharmacists)
        for assignment in itertools.product((None, *CHOICES), repeat=len(eligible)):
            votes = {
                member_id: choice
                for (member_id, _), choice in zip(eligible, assignment, strict=True)
                if choice is not None
            }
            outcome = decide(eligible, votes)
            assert outcome == oracle_decide(eligible, votes), (eligible, votes)
            checked[outcome] += 1
    # The sweep covers all three outcomes, so agreement is not agreement on one answer only.
    assert all(checked.values()), checked


@given(panels_with_votes())
def test_tally_matches_plain_counting(panel_votes):
    eligible, votes = panel_votes
    roles = dict(eligible)
    counts = tally(eligible, votes)
    approving = [roles[m] for m, c in votes.items() if c == "approve"]
    not_voted = [role for m, role in eligible if m not in votes]
    assert counts.approve == len(approving)
    assert counts.approve_physicians == approving.count(PHYSICIAN)
    assert counts.approve_pharmacists == approving.count(PHARMACIST)
    assert counts.decline == list(votes.values()).count("decline")
    assert counts.abstain == list(votes.values()).count("abstain")
    assert counts.not_voted == len(not_voted)
    assert counts.not_voted_physicians == not_voted.count(PHYSICIAN)
    assert counts.not_voted_pharmacists == not_voted.count(PHARMACIST)
    assert counts.eligible == len(eligible)


@given(panels_with_votes())
def test_can_still_approve_is_not_declined(panel_votes):
    eligible, votes = panel_votes
    assert can_still_approve(eligible, votes) is (decide(eligible, votes) != Outcome.DECLINED)
    physicians = sum(role == PHYSICIAN for _, role in eligible)
    pharmacists = sum(role == PHARMACIST for _, role in eligible)
    assert can_still_approve(eligible) is (physicians >= 3 and pharmacists >= 1)


@given(panels_with_votes(), st.randoms(use_true_random=False))
def test_order_of_members_and_votes_does_not_matter(panel_votes, random):
    eligible, votes = panel_votes
    shuffled_eligible = random.sample(eligible, len(eligible))
    shuffled_votes = dict(random.sample(list(votes.items()), len(votes)))
    assert decide(shuffled_eligible, shuffled_votes) == decide(eligible, votes)


# --- Vote sequences ---------------------------------------------------------------------------


@st.composite
def vote_sequences(draw) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """A panel and the order in which some or all of its members cast their one vote each."""
    eligible = draw(panels())
    voters = draw(st.permutations([member_id for member_id, _ in eligible]))
    voters = voters[: draw(st.integers(0, len(voters)))]
    return eligible, [(member_id, draw(st.sampled_from(CHOICES))) for member_id in voters]


def outcomes_along(eligible, sequence) -> list[Outcome]:
    """The outcome before any vote and after each vote of the sequence."""
    votes: dict[int, str] = {}
    outcomes = [decide(eligible, votes)]
    for member_id, choice in sequence:
        votes[member_id] = choice
        outcomes.append(decide(eligible, votes))
    return outcomes


@settings(max_examples=300)
@given(vote_sequences())
def test_a_vote_sequence_reaches_a_decision_at_most_once(eligible_sequence):
    # The system freezes the application at its first decision; the rule itself must never flip
    # approved <-> declined or fall back to pending when more members vote.
    eligible, sequence = eligible_sequence
    outcomes = outcomes_along(eligible, sequence)
    changes = [(before, after) for before, after in itertools.pairwise(outcomes) if before != after]
    assert len(changes) <= 1, outcomes
    assert all(before == Outcome.PENDING for before, _ in changes), outcomes


@settings(max_examples=300)
@given(vote_sequences())
def test_declined_and_approved_are_final_for_any_later_votes(eligible_sequence):
    eligible, sequence = eligible_sequence
    outcomes = outcomes_along(eligible, sequence)
    for index, outcome in enumerate(outcomes):
        if outcome != Outcome.PENDING:
            assert set(outcomes[index:]) == {outcome}, outcomes


@given(panels_with_votes())
def test_declined_means_no_way_the_remaining_members_vote_approves(panel_votes):
    eligible, votes = panel_votes
    if decide(eligible, votes) != Outcome.DECLINED:
        # Not declined: the best case, every remaining member approving, meets the rule.
        best_case = {**votes, **{m: "approve" for m, _ in eligible if m not in votes}}
        assert decide(eligible, best_case) == Outcome.APPROVED
        return
    not_voted = [member_id for member_id, _ in eligible if member_id not in votes]
    for completion in itertools.product(CHOICES, repeat=len(not_voted)):
        later = {**votes, **dict(zip(not_voted, completion, strict=True))}
        assert decide(eligible, later) == Outcome.DECLINED


@given(panels(), st.data())
def test_once_everyone_has_voted_the_application_is_decided(eligible, data):
    votes = {member_id: data.draw(st.sampled_from(CHOICES)) for member_id, _ in eligible}
    assert decide(eligible, votes) != Outcome.PENDING
