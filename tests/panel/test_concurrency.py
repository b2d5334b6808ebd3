"""Concurrent votes on one application yield exactly one decision and lose no vote.

Each thread has its own database connection and transaction; they all start together at a
barrier, so the application row lock in ``vote_cast`` is what keeps the rule's check and the
decision one step. Without that lock two votes could each see "pending" and both stay pending, or
both see "approved" and write two decisions (the one-to-one would then fail one of them).
"""

import threading

import pytest
from django.db import connection

from accounts.roles import Role
from audit.models import AuditEvent
from panel import services
from panel.models import ApplicationStatus, Decision, MemberRole, OOSApplication, Vote
from panel.services import AlreadyDecided
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

PHYSICIANS, PHARMACISTS = 30, 20
JOIN_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL row locks; SQLite serialises whole-database writes"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _choice(role: str, index: int) -> str:
    # Mostly approvals, with declines and abstentions mixed in, so the decision lands part-way.
    if index % 5 == 3:
        return "decline"
    if index % 7 == 4:
        return "abstain"
    return "approve"


def test_fifty_concurrent_votes_make_exactly_one_decision():
    attempt = OOSAttemptFactory()
    submitter = UserFactory(role=Role.CENTRE_USER, centre=attempt.case.centre)
    members = ([PanelMemberFactory(role=MemberRole.PHYSICIAN) for _ in range(PHYSICIANS)]
               + [PanelMemberFactory(role=MemberRole.PHARMACIST) for _ in range(PHARMACISTS)])
    draft = services.application_create_draft(user=submitter, attempt=attempt, clinical_justification="Refractory",
                                              contact="Dr A, 0100")
    application = services.application_submit(application_id=draft.pk, user=submitter)

    barrier = threading.Barrier(len(members))
    lock = threading.Lock()
    stored, refused, unexpected, decisions = [], [], [], []

    def cast(index, member):
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            vote, created, decision = services.vote_cast(application_id=application.pk, user=member.user,
                                                         choice=_choice(member.role, index))
            with lock:
                stored.append((member.pk, created))
                if decision is not None:
                    decisions.append(decision.pk)
        except AlreadyDecided:
            with lock:
                refused.append(member.pk)
        except Exception as error:  # every other failure is the finding
            with lock:
                unexpected.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=cast, args=(i, m), daemon=True) for i, m in enumerate(members)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    assert not [t for t in threads if t.is_alive()], "a vote never finished: deadlock or lost lock"
    assert unexpected == []

    decision = Decision.objects.get(application=application)
    assert decisions == [decision.pk]
    assert AuditEvent.objects.filter(code="panel.decision.made").count() == 1
    application = OOSApplication.objects.get(pk=application.pk)
    assert application.status == decision.outcome == ApplicationStatus.APPROVED

    votes = Vote.objects.filter(application=application)
    assert len(stored) + len(refused) == len(members)
    assert all(created for _, created in stored)
    assert sorted(votes.values_list("member_id", flat=True)) == sorted(pk for pk, _ in stored)
    assert not set(refused) & {pk for pk, _ in stored}
    assert not votes.filter(cast_at__gt=decision.decided_at).exists()
    assert AuditEvent.objects.filter(code="panel.vote.cast").count() == len(stored)
    # The decision is the rule's verdict on exactly the votes stored before it.
    assert decision.tally["approve"] + decision.tally["decline"] + decision.tally["abstain"] == votes.count()
    assert decision.tally["approve_physicians"] >= 3 and decision.tally["approve_pharmacists"] >= 1
