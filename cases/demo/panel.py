"""The demo panel: the national panel's seats and OOS applications in every state of the workflow.

Everything is written through the panel's own services (membership, submission, votes,
information requests, communication, infusion), so the audit trail, the row history and the
outbox hold what the real workflow would have written. The applications are made for OOS
manufacturing attempts already in the demo registry: an application only records the panel's
deliberation, so the registry's cohorts and the paper's counts are unchanged.

Affiliations are given to a few centres only: the others have no affiliated member, and the
first application under review (no votes yet) comes from one of them, so every member can vote.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from cases import models as m
from notifications.models import Notification, OutboxMessage
from panel import services
from panel.communication import decision_communicate
from panel.membership import member_add
from panel.models import MemberRole, OOSApplication, PanelMember
from panel.selectors import eligible_members

SEATS = (  # username, role, affiliated centres
    ("physician1", MemberRole.PHYSICIAN, ("uhb",)),
    ("physician2", MemberRole.PHYSICIAN, ("kch",)),
    ("physician3", MemberRole.PHYSICIAN, ()),
    ("physician4", MemberRole.PHYSICIAN, ("man",)),
    ("physician5", MemberRole.PHYSICIAN, ()),
    ("pharmacist1", MemberRole.PHARMACIST, ("uclh",)),
    ("pharmacist2", MemberRole.PHARMACIST, ()),
    ("pharmacist3", MemberRole.PHARMACIST, ()),
    ("ops", MemberRole.OPS, ()),
)
# physician5 stands in for physician1 when needed (same role, as the rule requires).
DEPUTIES = {"physician5": "physician1"}
PANEL_SINCE = dt.date(2018, 10, 1)

# The states the demo shows, most important first: a smaller registry (--size) has fewer OOS
# products, and then fills the first states only.
STATES = ("under_review_no_votes", "under_review_some_votes", "info_requested", "approved", "communicated",
          "infused", "declined", "not_infused", "draft", "under_review_no_votes")

JUSTIFICATION = ("Chemorefractory disease after two prior lines; no alternative of comparable benefit. The "
                 "viable CAR+ T-cell dose is within the SmPC range despite the failed parameter.")


def _affiliated_centres() -> set[str]:
    return {code for _, _, codes in SEATS for code in codes}


def _seat_panel(ops) -> dict[str, PanelMember]:
    """The panel's seats, created once (a reset keeps them: they are not registry rows)."""
    users = {user.username: user for user in get_user_model().objects.filter(
        username__in=[username for username, _, _ in SEATS])}
    centres = {centre.code: centre for centre in m.Centre.objects.filter(code__in=_affiliated_centres())}
    seats = {member.user.username: member for member in
             PanelMember.objects.filter(user__in=users.values(), active_to__isnull=True).select_related("user")}
    for username, role, codes in SEATS:
        if username in seats or username not in users:
            continue
        deputy_of = seats.get(DEPUTIES.get(username, ""))
        seats[username] = member_add(user=ops, member_user=users[username], role=role, active_from=PANEL_SINCE,
                                     affiliations=[centres[code] for code in codes if code in centres],
                                     deputy_of=deputy_of)
    return seats


def _candidates(rng: random.Random) -> list[m.ManufacturingAttempt]:
    attempts = list(m.ManufacturingAttempt.objects.filter(outcome=m.AttemptOutcome.OOS, oos_applications=None)
                    .select_related("case__centre").order_by("case__public_id", "number"))
    rng.shuffle(attempts)
    return attempts


def _eligible(application: OOSApplication, role: str) -> list[PanelMember]:
    return [member for member in eligible_members(application) if member.role == role]


def _votes(application, choices: list[tuple[str, str]]) -> None:
    """Cast ``(role, choice)`` votes from the eligible members of that role, in seat order, until decided."""
    used: Counter = Counter()
    for role, choice in choices:
        member = _eligible(application, role)[used[role]]
        used[role] += 1
        _, _, decision = services.vote_cast(application_id=application.pk, user=member.user, choice=choice,
                                            comment="" if choice == "approve" else "Discussed at the panel call.")
        if decision is not None:
            # The rule may decide before every planned vote is in (a decline once approval is out of reach).
            return


APPROVE_ALL = [(MemberRole.PHYSICIAN, "approve")] * 3 + [(MemberRole.PHARMACIST, "approve")]
DECLINE = [(MemberRole.PHYSICIAN, "decline")] * 3


def _contact_email(attempt) -> str:
    return f"oos.{attempt.case.centre.code}@example.nhs.uk"


def _communicate(application, ops, conditions=""):
    decision_communicate(application_id=application.pk, user=ops, conditions=conditions,
                         recipients=[_contact_email(application.attempt)])


def _record_infusion(application, submitter, infused: bool) -> None:
    from panel.submission import application_record_infusion

    application_record_infusion(application_id=application.pk, user=submitter, infused=infused,
                                infused_at=timezone.now() if infused else None)


def _ask(application) -> None:
    from panel.review import information_request_ask

    asker = _eligible(application, MemberRole.PHARMACIST)[0]
    information_request_ask(application_id=application.pk, user=asker.user,
                            question="Please send the manufacturer's risk assessment for the low viability, and "
                                     "confirm the planned bridging therapy.")


def _steps(ops) -> dict[str, Callable]:
    def approved(application, submitter):
        _votes(application, [(MemberRole.PHYSICIAN, "abstain")] + APPROVE_ALL)

    def communicated(application, submitter):
        _votes(application, APPROVE_ALL)
        _communicate(application, ops, "Infuse within 14 days of this letter; report CRS and ICANS grades at day 28.")

    def infused(application, submitter):
        communicated(application, submitter)
        _record_infusion(application, submitter, infused=True)

    def info_requested(application, submitter):
        _votes(application, [(MemberRole.PHYSICIAN, "approve")])
        _ask(application)

    def not_infused(application, submitter):
        _votes(application, APPROVE_ALL)
        _communicate(application, ops)
        _record_infusion(application, submitter, infused=False)

    return {
        "under_review_no_votes": lambda application, submitter: None,
        "under_review_some_votes": lambda application, submitter: _votes(
            application, [(MemberRole.PHYSICIAN, "approve"), (MemberRole.PHYSICIAN, "approve"),
                          (MemberRole.PHARMACIST, "abstain")]),
        "info_requested": info_requested,
        "approved": approved,
        "declined": lambda application, submitter: _votes(application, DECLINE),
        "communicated": communicated,
        "infused": infused,
        "not_infused": not_infused,
    }


def panel_reset() -> int:
    """Forget the demo's notifications about applications (the applications go with the registry)."""
    stale = OutboxMessage.objects.filter(idempotency_key__startswith="application:")
    Notification.objects.filter(outbox__in=stale).delete()
    return stale.delete()[0]


def panel_seed(*, seed: int) -> dict:
    """Seat the panel and make one application per demo state; returns counts per status."""
    User = get_user_model()
    ops = User.objects.filter(username="ops", role=Role.OPS_MANAGER).first()
    if ops is None:
        return {"members": 0, "applications": {}}
    seats = _seat_panel(ops)
    rng = random.Random(f"panel:{seed}")
    attempts = _candidates(rng)
    submitters = {user.centre_id: user for user in User.objects.filter(role=Role.CENTRE_USER,
                                                                        username__startswith="centre.")}
    steps = _steps(ops)
    affiliated = _affiliated_centres()
    made: Counter = Counter()
    for index, state in enumerate(STATES):
        if not attempts:
            break
        # The contract's application: under review, no votes, from a centre no member is affiliated with.
        pick = next((a for a in attempts if a.case.centre.code not in affiliated), None) \
            if state == "under_review_no_votes" else attempts[0]
        if pick is None or pick.case.centre_id not in submitters:
            continue
        attempts.remove(pick)
        submitter = submitters[pick.case.centre_id]
        try:
            application = _apply(pick, submitter, state, index, steps)
        except ImportError:
            continue
        made[application.status] += 1
    return {"members": len(seats), "applications": dict(made)}


def _apply(attempt, submitter, state: str, index: int, steps) -> OOSApplication:
    from panel.submission import application_create

    with transaction.atomic():
        application = application_create(
            user=submitter, attempt=attempt, clinical_justification=JUSTIFICATION,
            urgency=("urgent" if index % 3 == 1 else "routine"), contact=f"OOS lead, {attempt.case.centre.name}",
            contact_email=_contact_email(attempt))
        if state != "draft":
            application = services.application_submit(application_id=application.pk, user=submitter)
            steps[state](application, submitter)
    application.refresh_from_db()
    return application



@contextlib.contextmanager
def demo_mail_kept_quiet():
    """While loading the demo, e-mails go to Django's in-memory mailbox instead of the console.

    The demo's decision letters and reminders are real outbox messages, delivered when the load
    commits; printed by the console backend they would bury the demo logins under base64 PDFs.
    Any other configured backend (SMTP in production) is left alone.
    """
    from django.conf import settings
    from django.test.utils import override_settings

    if settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend":
        yield
        return
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        yield
