"""Every write of the OOS panel: applications, recusals, votes and the decision.

Locking: every service that changes an application or anything hanging off it locks the
application row (``select_for_update``) before it reads or writes anything else. Votes, recusals,
withdrawals and submissions of one application therefore run one after another, and the decision
is taken by whichever vote (or recusal) first makes the rule decide — exactly once. The audit
trail's own lock is always taken after the application's, never before, so no two services can
wait on each other in opposite orders.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.selectors import ops_managers
from audit.services import audit_log
from cases.dosing import DoseRuleError, assess_dose
from cases.errors import DomainError
from cases.models import AttemptOutcome, ManufacturingAttempt, ReleaseResult
from notifications.services import notify
from panel import rules
from panel.models import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    VOTING_ROLES,
    ApplicationStatus,
    Decision,
    OOSApplication,
    PanelMember,
    Recusal,
    Urgency,
    Vote,
)
from panel.selectors import active_member_for, eligible_and_votes, eligible_members
from panel.sla import add_working_days

# The panel's terms of reference promise an answer within 2 working days of submission
# (the paper reports decisions typically within 2-3 days). A deployment may set its own.
PANEL_SLA_WORKING_DAYS = 2


class NotEligible(DomainError):
    """The user may not vote on this application (not an active voting member, or recused). → 403"""


class ApplicationNotOpen(DomainError):
    """The application is not in a state that accepts this operation. → 409"""


class AlreadyDecided(ApplicationNotOpen):
    """The panel has already decided this application; votes are final. → 409"""


def _lock_application(application_id: int) -> OOSApplication:
    # The row lock that serialises everything done to one application; taken first, always. The centre
    # (for the audit entries) is read in the same query without being locked.
    try:
        return OOSApplication.objects.select_related("centre").select_for_update(of=("self",)).get(pk=application_id)
    except OOSApplication.DoesNotExist:
        raise DomainError("This OOS application does not exist.") from None


def _audit(*, code: str, actor, application: OOSApplication, obj=None, changes=None, context=None) -> None:
    audit_log(code=code, actor=actor, obj=obj if obj is not None else application,
              centre_code=application.centre.code, changes=changes,
              context={"application": application.pk, **(context or {})})


def _set_status(application: OOSApplication, status: str, *, user, extra_fields: tuple[str, ...] = ()) -> None:
    application.status = status
    application._history_user = user
    application.save(update_fields=["status", "updated_at", *extra_fields])


def _check_centre_user(user, application_centre_id: int, action: str) -> None:
    if user.is_superuser:
        return
    if user.role != Role.CENTRE_USER or user.centre_id != application_centre_id:
        raise DomainError(f"Only a user of the treating centre can {action} this application.")


def sla_working_days() -> int:
    return getattr(settings, "PANEL_SLA_WORKING_DAYS", PANEL_SLA_WORKING_DAYS)


@transaction.atomic
def application_create_draft(*, user, attempt: ManufacturingAttempt, clinical_justification: str = "",
                             urgency: str = Urgency.ROUTINE, contact: str = "",
                             contact_email: str = "") -> OOSApplication:
    """Start an OOS application for an out-of-specification attempt of the user's centre."""
    attempt = ManufacturingAttempt.objects.select_related("case__centre").get(pk=attempt.pk)
    case = attempt.case
    _check_centre_user(user, case.centre_id, "create")
    if attempt.outcome != AttemptOutcome.OOS:
        raise DomainError("An OOS application can only be made for an out-of-specification product.")
    if urgency not in Urgency.values:
        raise DomainError(f"Unknown urgency {urgency!r}.", field="urgency")
    application = OOSApplication(attempt=attempt, case=case, centre=case.centre, submitted_by=user,
                                 clinical_justification=clinical_justification, urgency=urgency, contact=contact,
                                 contact_email=contact_email)
    application.full_clean(validate_constraints=False)
    live = OOSApplication.objects.filter(attempt=attempt).exclude(
        status__in=[ApplicationStatus.WITHDRAWN, ApplicationStatus.DECLINED])
    if live.exists():
        raise DomainError("This product already has an open OOS application.")
    application._history_user = user
    application.save()
    _audit(code="panel.application.created", actor=user, application=application,
           changes={"status": [None, application.status], "urgency": [None, urgency]})
    return application


def failed_parameters(attempt: ManufacturingAttempt) -> list[dict]:
    """The attempt's release results outside the specification: value against specification, in spec order."""
    results = (ReleaseResult.objects.filter(attempt=attempt, within_spec=False)
               .select_related("parameter").order_by("parameter__order", "parameter_id"))
    return [{
        "kind": result.parameter.kind,
        "name": result.parameter.name,
        "unit": result.parameter.unit,
        "specification": result.parameter.spec_display,
        "value_numeric": result.value_numeric,
        "value_text": result.value_text,
    } for result in results]


def dose_verdict(attempt: ManufacturingAttempt) -> dict:
    """The SmPC dose verdict for the attempt's total viable CAR+ T-cell dose, with why when it is unknown."""
    case = attempt.case
    base = {"indication": case.indication, "weight_kg": case.patient.weight_kg, "dose": attempt.viable_car_t_dose}
    if attempt.viable_car_t_dose is None:
        return {**base, "verdict": "unknown", "is_within": None,
                "explanation": "No total viable CAR+ T-cell dose was recorded for this product."}
    try:
        verdict = assess_dose(case.product.dose_rules.all(), indication=case.indication,
                              weight_kg=case.patient.weight_kg, dose=attempt.viable_car_t_dose)
    except DoseRuleError as error:
        # The panel still sees the application; the missing fact is shown with why it is missing.
        return {**base, "verdict": "unknown", "is_within": None, "explanation": str(error)}
    return {**base, "verdict": verdict.verdict, "is_within": verdict.is_within, "low": verdict.low,
            "high": verdict.high, "weight_used_kg": verdict.weight_used_kg, "explanation": verdict.explanation,
            "rule": dataclasses.asdict(verdict.rule)}


# Earlier private names, kept for callers written against them.
_failed_parameters, _dose_verdict = failed_parameters, dose_verdict


def missing_for_submission(application: OOSApplication) -> dict[str, str]:
    """What the draft still lacks before the panel can consider it: {field: message}."""
    missing = {}
    if not application.clinical_justification.strip():
        missing["clinical_justification"] = "Give the clinical justification: why this product should be infused."
    if not application.contact.strip():
        missing["contact"] = "Name who the panel should contact at the centre (name and telephone)."
    return missing


@transaction.atomic
def application_submit(*, application_id: int, user) -> OOSApplication:
    """Submit a complete draft: snapshot the facts the panel decides on, recuse affiliated members, start
    the SLA. A draft without a clinical justification or a contact is refused (``missing_for_submission``).

    There is no triage step today, so the application goes straight on to ``under_review``; both
    transitions are kept in its history.
    """
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "submit")
    if application.status != ApplicationStatus.DRAFT:
        raise ApplicationNotOpen("Only a draft application can be submitted.")
    missing = missing_for_submission(application)
    if missing:
        field, message = next(iter(missing.items()))
        raise DomainError(message, field=field)
    attempt = ManufacturingAttempt.objects.select_related("case__product", "case__patient").get(
        pk=application.attempt_id)
    now = timezone.now()
    application.failed_parameters = failed_parameters(attempt)
    application.dose_verdict = dose_verdict(attempt)
    application.submitted_at = now
    application.sla_due_at = add_working_days(timezone.localtime(now), sla_working_days())
    _set_status(application, ApplicationStatus.SUBMITTED, user=user,
                extra_fields=("failed_parameters", "dose_verdict", "submitted_at", "sla_due_at"))
    _set_status(application, ApplicationStatus.UNDER_REVIEW, user=user)

    today = timezone.localdate(now)
    affiliated = [member for member in PanelMember.objects.filter(affiliations=application.centre_id)
                  .select_related("user") if member.is_active_on(today)]
    for member in affiliated:
        recusal = Recusal(application=application, member=member, automatic=True,
                          reason=f"Affiliated with the submitting centre {application.centre.code}.")
        recusal._history_user = user
        recusal.save()
    _audit(code="panel.application.submitted", actor=user, application=application,
           changes={"status": [ApplicationStatus.DRAFT, application.status]},
           context={"sla_due_at": application.sla_due_at, "failed_parameters": len(application.failed_parameters),
                    "dose_verdict": application.dose_verdict["verdict"],
                    "recused_members": [member.pk for member in affiliated]})
    _notify_members_of_submission(application)
    # Recusals can leave a panel that cannot approve at all; the rule declines such an application
    # only once someone acts on it, so the operations manager has time to bring in a deputy.
    return application


def _member_url(application: OOSApplication) -> str:
    # The review page is where a member votes; until it exists the application page is the link.
    try:
        return reverse("panel:review", args=[application.pk])
    except NoReverseMatch:
        return reverse("panel:application_detail", args=[application.pk])


def _notify_members_of_submission(application: OOSApplication) -> None:
    members = list(eligible_members(application))
    case = application.case
    notify(users=[member.user for member in members], key=f"application:{application.pk}:submitted",
           subject=f"OOS application {application.pk} awaits your vote ({application.get_urgency_display()})",
           body=(f"{application.centre.name} asks the panel to approve an out-of-specification "
                 f"{case.product.brand} product for case {case.public_id}. "
                 f"The panel's answer is due by {timezone.localtime(application.sla_due_at):%a %d %b %Y %H:%M}."),
           url=_member_url(application))


@transaction.atomic
def application_withdraw(*, application_id: int, user, reason: str = "") -> OOSApplication:
    """Withdraw an application the panel has not decided yet (the centre's own choice)."""
    application = _lock_application(application_id)
    if user.role != Role.OPS_MANAGER:
        _check_centre_user(user, application.centre_id, "withdraw")
    if application.status not in (ApplicationStatus.DRAFT, *OPEN_STATUSES):
        raise ApplicationNotOpen("A decided or withdrawn application cannot be withdrawn.")
    old = application.status
    _set_status(application, ApplicationStatus.WITHDRAWN, user=user)
    _audit(code="panel.application.withdrawn", actor=user, application=application,
           changes={"status": [old, application.status]}, context={"reason": reason})
    return application


def _decide(*, application: OOSApplication, user) -> Decision | None:
    """Apply the approval rule to the application's current votes; record the decision if it is one.

    Called with the application row locked, so the check and the write are one step for everyone.
    """
    eligible, votes = eligible_and_votes(application)
    tally = rules.tally(eligible, votes)
    outcome = tally.outcome
    if outcome == rules.Outcome.PENDING:
        return None
    snapshot = {**dataclasses.asdict(tally), "eligible": tally.eligible,
                "eligible_members": [member_id for member_id, _ in eligible], "votes": votes}
    decision = Decision(application=application, outcome=outcome.value, decided_at=timezone.now(), tally=snapshot)
    decision._history_user = user
    decision.save()
    old = application.status
    _set_status(application, outcome.value, user=user)
    _audit(code="panel.decision.made", actor=user, application=application, obj=decision,
           changes={"status": [old, application.status], "outcome": [None, outcome.value]},
           context={"tally": snapshot})
    _notify_ops_of_decision(application, decision)
    return decision


def _notify_ops_of_decision(application: OOSApplication, decision: Decision) -> None:
    # In the decision's transaction (outbox): the operations manager now writes the decision letter.
    tally = decision.tally
    notify(users=ops_managers(), key=f"application:{application.pk}:decided",
           subject=f"OOS application {application.pk} is {decision.get_outcome_display().lower()}: "
                   "communicate the decision",
           body=(f"The panel has {decision.get_outcome_display().lower()} OOS application {application.pk} "
                 f"from {application.centre.name}: {tally['approve']} approve "
                 f"({tally['approve_physicians']} physicians, {tally['approve_pharmacists']} pharmacists), "
                 f"{tally['decline']} decline, {tally['abstain']} abstain, {tally['not_voted']} not voted. "
                 "Send the decision letter to the centre."),
           url=reverse("panel:review", args=[application.pk]))


def _refuse_unless_under_review(application: OOSApplication) -> None:
    if application.status in DECIDED_STATUSES:
        raise AlreadyDecided("The panel has already decided this application.")
    if application.status != ApplicationStatus.UNDER_REVIEW:
        raise ApplicationNotOpen(f"The application is {application.get_status_display().lower()}: "
                                 "votes are not being taken.")


@transaction.atomic
def vote_cast(*, application_id: int, user, choice: str, comment: str = "") -> tuple[Vote, bool, Decision | None]:
    """Record (or replace) the user's vote and decide the application when the rule says so.

    Returns ``(vote, created, decision)``: ``created`` is False when the member replaced an earlier
    vote; ``decision`` is the decision this vote brought about, or None while pending. Raises
    ``AlreadyDecided`` once the panel has decided, ``NotEligible`` for a user who is not an active
    voting member of this application (or is recused).
    """
    if choice not in {c.value for c in rules.VoteChoice}:
        raise DomainError(f"Unknown vote {choice!r}: choose approve, decline or abstain.", field="choice")
    # Lock first: every vote on this application waits here, so exactly one of them decides.
    application = _lock_application(application_id)
    _refuse_unless_under_review(application)
    member = active_member_for(user, recusal_for=application)
    if member is None or member.role not in VOTING_ROLES:
        raise NotEligible("Only an active panel physician or pharmacist can vote.")
    if member.declared_recusal or member.affiliated:
        raise NotEligible("You are recused from this application and cannot vote on it.")

    now = timezone.now()
    vote = Vote.objects.filter(application=application, member=member).first()
    created = vote is None
    if created:
        vote = Vote(application=application, member=member, choice=choice, comment=comment, cast_at=now)
        vote._history_user = user
        vote.save()
        _audit(code="panel.vote.cast", actor=user, application=application, obj=vote,
               changes={"choice": [None, choice]}, context={"member": member.pk, "role": member.role})
    else:
        old_choice, old_comment = vote.choice, vote.comment
        vote.choice, vote.comment, vote.cast_at = choice, comment, now
        vote._history_user = user
        vote.save(update_fields=["choice", "comment", "cast_at"])
        changes = {"choice": [old_choice, choice]}
        if old_comment != comment:
            changes["comment"] = [old_comment, comment]
        _audit(code="panel.vote.changed", actor=user, application=application, obj=vote,
               changes=changes, context={"member": member.pk, "role": member.role})
    decision = _decide(application=application, user=user)
    return vote, created, decision


@transaction.atomic
def member_declare_conflict(*, application_id: int, user, reason: str) -> tuple[Recusal, Decision | None]:
    """Recuse the user's panel seat from an application, and re-apply the rule to the smaller panel.

    A recused member's vote, if any, stays on record but no longer counts. With fewer eligible
    members approval may become unreachable, in which case the application is declined now.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say what the conflict of interest is.", field="reason")
    application = _lock_application(application_id)
    if application.status not in OPEN_STATUSES:
        raise ApplicationNotOpen("Conflicts can only be declared while the panel is reviewing the application.")
    member = active_member_for(user)
    if member is None:
        raise NotEligible("Only an active panel member can declare a conflict of interest.")
    if member.recusals.filter(application=application).exists():
        raise DomainError("You are already recused from this application.")
    recusal = Recusal(application=application, member=member, reason=reason[:300], automatic=False)
    recusal._history_user = user
    recusal.save()
    _audit(code="panel.member.recused", actor=user, application=application, obj=recusal,
           changes={"recused": [False, True]}, context={"member": member.pk, "reason": recusal.reason})
    decision = None
    if application.status == ApplicationStatus.UNDER_REVIEW:
        decision = _decide(application=application, user=user)
    return recusal, decision
