"""The panel's write services on the real database: submission, recusal, votes and the decision."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from cases.errors import DomainError
from cases.models import ReleaseParameter, ReleaseResult
from panel import services
from panel.models import ApplicationStatus, Decision, MemberRole, OOSApplication, Recusal, Vote
from panel.selectors import application_tally, applications_awaiting_vote, eligible_members
from panel.services import AlreadyDecided, ApplicationNotOpen, NotEligible
from panel.sla import add_working_days
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

pytestmark = pytest.mark.django_db

PHYSICIAN, PHARMACIST = MemberRole.PHYSICIAN, MemberRole.PHARMACIST


@pytest.fixture
def attempt(centre_a):
    return OOSAttemptFactory(apheresis__case__patient__centre=centre_a, viable_car_t_dose=1.2e8)


@pytest.fixture
def submitter(centre_a):
    return UserFactory(role=Role.CENTRE_USER, centre=centre_a)


@pytest.fixture
def panel():
    """The national panel: 5 physicians and 3 pharmacists, none affiliated with centre A."""
    return {PHYSICIAN: [PanelMemberFactory(role=PHYSICIAN) for _ in range(5)],
            PHARMACIST: [PanelMemberFactory(role=PHARMACIST) for _ in range(3)]}


def _submitted(attempt, submitter):
    draft = services.application_create_draft(user=submitter, attempt=attempt, clinical_justification="Refractory",
                                              urgency="urgent", contact="Dr A, 0100")
    return services.application_submit(application_id=draft.pk, user=submitter)


@pytest.fixture
def application(attempt, submitter, panel):
    return _submitted(attempt, submitter)


def _vote(application, member, choice, comment=""):
    return services.vote_cast(application_id=application.pk, user=member.user, choice=choice, comment=comment)


def _codes(application):
    return list(AuditEvent.objects.filter(context__application=application.pk).order_by("id")
                .values_list("code", flat=True))


# --- submission ---------------------------------------------------------------------------------

def test_submit_snapshots_failed_parameters_and_dose_verdict(attempt, submitter, panel):
    viability = ReleaseParameter.objects.get(product=attempt.case.product, kind="viability")
    ReleaseResult.objects.create(attempt=attempt, parameter=viability, value_numeric=71, within_spec=False)
    purity = ReleaseParameter.objects.filter(product=attempt.case.product).exclude(kind="viability").first()
    ReleaseResult.objects.create(attempt=attempt, parameter=purity, value_numeric=99, within_spec=True)

    application = _submitted(attempt, submitter)

    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW
    assert [p["kind"] for p in application.failed_parameters] == ["viability"]
    assert application.failed_parameters[0]["value_numeric"] == 71
    # Yescarta in LBCL at 78 kg: 0.78–1.56 ×10⁸, so 1.2 ×10⁸ is within.
    assert application.dose_verdict["verdict"] == "within"
    assert application.dose_verdict["is_within"] is True
    assert application.dose_verdict["low"] == pytest.approx(0.78e8)
    statuses = list(application.history.order_by("history_id").values_list("status", flat=True))
    assert statuses == ["draft", "submitted", "under_review"]
    assert _codes(application) == ["panel.application.created", "panel.application.submitted"]


def test_submit_records_a_dose_below_the_smpc_range(attempt, submitter, panel):
    attempt.viable_car_t_dose = 0.5e8
    attempt.save()
    application = _submitted(attempt, submitter)
    assert application.dose_verdict["verdict"] == "below"
    assert application.dose_verdict["is_within"] is False


def test_submit_recuses_active_members_affiliated_with_the_centre(attempt, submitter, panel, centre_a, centre_b):
    affiliated = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a])
    elsewhere = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_b])
    former = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a], active_to=dt.date(2021, 1, 1))

    application = _submitted(attempt, submitter)

    recusals = Recusal.objects.filter(application=application)
    assert [(r.member, r.automatic) for r in recusals] == [(affiliated, True)]
    eligible = set(eligible_members(application))
    assert affiliated not in eligible and former not in eligible
    assert elsewhere in eligible and len(eligible) == 9


def test_sla_due_counts_working_days_only(attempt, submitter, panel, settings):
    settings.PANEL_SLA_WORKING_DAYS = 2
    application = _submitted(attempt, submitter)
    assert application.sla_due_at == add_working_days(timezone.localtime(application.submitted_at), 2)
    london = zoneinfo.ZoneInfo("Europe/London")
    friday = dt.datetime(2024, 5, 3, 15, 0, tzinfo=london)
    assert add_working_days(friday, 2) == dt.datetime(2024, 5, 7, 15, 0, tzinfo=london)
    assert add_working_days(dt.datetime(2024, 5, 4, 9, 0, tzinfo=london), 1).weekday() == 0


def test_only_the_treating_centre_can_create_an_application(attempt, centre_b):
    other = UserFactory(role=Role.CENTRE_USER, centre=centre_b)
    with pytest.raises(DomainError, match="treating centre"):
        services.application_create_draft(user=other, attempt=attempt)


def test_in_spec_attempt_cannot_get_an_application(centre_a, submitter):
    in_spec = OOSAttemptFactory(apheresis__case__patient__centre=centre_a, outcome="in_spec")
    with pytest.raises(DomainError, match="out-of-specification"):
        services.application_create_draft(user=submitter, attempt=in_spec)


def test_withdrawn_application_takes_no_votes(application, submitter, panel):
    services.application_withdraw(application_id=application.pk, user=submitter, reason="Patient unwell")
    with pytest.raises(ApplicationNotOpen) as refused:
        _vote(application, panel[PHYSICIAN][0], "approve")
    assert not isinstance(refused.value, AlreadyDecided)
    assert "panel.application.withdrawn" in _codes(application)


# --- votes --------------------------------------------------------------------------------------

def test_first_vote_is_created_and_audited(application, panel):
    vote, created, decision = _vote(application, panel[PHYSICIAN][0], "approve", "Dose within range")
    assert created is True and decision is None
    assert vote.choice == "approve" and vote.comment == "Dose within range"
    event = AuditEvent.objects.get(code="panel.vote.cast", object_id=str(vote.pk))
    assert event.changes == {"choice": [None, "approve"]}
    assert event.actor == panel[PHYSICIAN][0].user


def test_changing_a_vote_replaces_it_and_keeps_the_earlier_choice_in_history(application, panel):
    member = panel[PHYSICIAN][0]
    first, _, _ = _vote(application, member, "decline")
    second, created, decision = _vote(application, member, "abstain", "Need the CoA")

    assert created is False and decision is None
    assert second.pk == first.pk
    assert Vote.objects.filter(application=application, member=member).count() == 1
    assert list(second.history.order_by("history_id").values_list("choice", flat=True)) == ["decline", "abstain"]
    event = AuditEvent.objects.get(code="panel.vote.changed")
    assert event.changes["choice"] == ["decline", "abstain"]
    assert application_tally(application=application)["abstain"] == 1
    assert application_tally(application=application)["decline"] == 0


def test_user_without_a_voting_seat_is_not_eligible(application, personas):
    with pytest.raises(NotEligible):
        services.vote_cast(application_id=application.pk, user=personas["physician"], choice="approve")
    ops = PanelMemberFactory(role=MemberRole.OPS)
    with pytest.raises(NotEligible):
        _vote(application, ops, "approve")
    former = PanelMemberFactory(role=PHYSICIAN, active_to=dt.date(2021, 12, 31))
    with pytest.raises(NotEligible):
        _vote(application, former, "approve")
    assert not Vote.objects.exists()


def test_recused_member_cannot_vote(application, panel):
    member = panel[PHARMACIST][0]
    services.member_declare_conflict(application_id=application.pk, user=member.user, reason="Trained the team")
    with pytest.raises(NotEligible, match="recused"):
        _vote(application, member, "approve")
    assert "panel.member.recused" in _codes(application)


def test_member_affiliated_after_submission_cannot_vote(application, panel):
    member = panel[PHYSICIAN][0]
    member.affiliations.add(application.centre)
    with pytest.raises(NotEligible):
        _vote(application, member, "approve")


def test_unknown_choice_is_refused(application, panel):
    with pytest.raises(DomainError, match="Unknown vote"):
        _vote(application, panel[PHYSICIAN][0], "maybe")


def test_exactly_three_physicians_and_one_pharmacist_approve(application, panel):
    for member in panel[PHYSICIAN][:3]:
        assert _vote(application, member, "approve")[2] is None
    _vote(application, panel[PHARMACIST][0], "decline")
    _, _, decision = _vote(application, panel[PHARMACIST][1], "approve")

    assert decision is not None and decision.outcome == "approved"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert decision.tally["approve"] == 4
    assert decision.tally["approve_physicians"] == 3 and decision.tally["approve_pharmacists"] == 1
    assert decision.tally["decline"] == 1 and decision.tally["eligible"] == 8
    assert _codes(application)[-1] == "panel.decision.made"
    tally = application_tally(application=application)
    assert {k: tally[k] for k in ("approve", "approve_physicians", "approve_pharmacists", "decline", "abstain")} == {
        "approve": 4, "approve_physicians": 3, "approve_pharmacists": 1, "decline": 1, "abstain": 0}


def test_four_physician_approvals_without_a_pharmacist_stay_pending(application, panel):
    for member in panel[PHYSICIAN][:4]:
        _vote(application, member, "approve")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW
    assert not Decision.objects.exists()


def test_declined_as_soon_as_approval_is_unreachable(application, panel):
    # 5 physicians: the third decline leaves at most 2 physician approvals.
    _vote(application, panel[PHYSICIAN][0], "decline")
    assert _vote(application, panel[PHYSICIAN][1], "abstain")[2] is None
    _, _, decision = _vote(application, panel[PHYSICIAN][2], "decline")
    assert decision.outcome == "declined"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DECLINED


def test_vote_after_the_decision_is_refused_as_already_decided(application, panel):
    for member in [*panel[PHYSICIAN][:3], panel[PHARMACIST][0]]:
        _vote(application, member, "approve")
    with pytest.raises(AlreadyDecided):
        _vote(application, panel[PHYSICIAN][3], "decline")
    with pytest.raises(AlreadyDecided):
        _vote(application, panel[PHYSICIAN][0], "decline")
    assert Vote.objects.filter(application=application).count() == 4
    assert Decision.objects.get(application=application).outcome == "approved"


def test_recusal_that_leaves_too_few_pharmacists_declines(application, panel):
    for member in panel[PHARMACIST][:2]:
        _vote(application, member, "decline")
    last = panel[PHARMACIST][2]
    _, decision = services.member_declare_conflict(application_id=application.pk, user=last.user,
                                                   reason="Family member treated at the centre")
    assert decision is not None and decision.outcome == "declined"
    assert decision.tally["eligible"] == 7
    assert OOSApplication.objects.get(pk=application.pk).status == ApplicationStatus.DECLINED


def test_recused_members_vote_no_longer_counts(application, panel):
    member = panel[PHYSICIAN][0]
    _vote(application, member, "approve")
    services.member_declare_conflict(application_id=application.pk, user=member.user, reason="Conflict")
    assert application_tally(application=application)["approve"] == 0
    assert Vote.objects.filter(member=member).exists()


def test_queue_lists_applications_awaiting_the_members_vote(application, panel):
    first, second = panel[PHYSICIAN][:2]
    _vote(application, first, "approve")
    assert list(applications_awaiting_vote(member=first)) == []
    assert list(applications_awaiting_vote(member=second)) == [application]
    services.member_declare_conflict(application_id=application.pk, user=second.user, reason="Conflict")
    assert list(applications_awaiting_vote(member=second)) == []
