"""Two users of a centre acting at the same moment: one application per product, one answer per question.

Threads with their own connections start together at a barrier on PostgreSQL. For applications
the check for a live one cannot see an uncommitted sibling, so the database's partial unique
constraint decides, and the loser must get the same clear message as a sequential duplicate.
"""

import threading

import pytest
from django.db import connection

from accounts.roles import Role
from cases.errors import DomainError
from panel import review, services, submission
from panel.models import ApplicationStatus, InformationRequest, MemberRole, OOSApplication
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

THREADS = 8
JOIN_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL: SQLite serialises whole-database writes"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _race(work, count):
    barrier = threading.Barrier(count)
    lock = threading.Lock()
    done, refused, unexpected = [], [], []

    def run(index):
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            result = work(index)
            with lock:
                done.append(result)
        except DomainError as error:
            with lock:
                refused.append(error.message)
        except Exception as error:  # every other failure is the finding
            with lock:
                unexpected.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    assert not [t for t in threads if t.is_alive()], "a request never finished: deadlock or lost lock"
    assert unexpected == []
    return done, refused


def test_concurrent_applications_for_one_product_leave_exactly_one():
    attempt = OOSAttemptFactory()
    users = [UserFactory(role=Role.CENTRE_USER, centre=attempt.case.centre) for _ in range(THREADS)]
    done, refused = _race(lambda i: submission.application_create(user=users[i], attempt=attempt,
                                                                  clinical_justification=f"user {i}"), THREADS)
    application = OOSApplication.objects.get(attempt=attempt)
    assert [a.pk for a in done] == [application.pk]
    assert len(refused) == THREADS - 1
    assert all("already has" in message and "OOS application" in message for message in refused)


def test_concurrent_answers_to_one_question_record_one_and_resume_once():
    attempt = OOSAttemptFactory()
    users = [UserFactory(role=Role.CENTRE_USER, centre=attempt.case.centre) for _ in range(4)]
    asker = PanelMemberFactory(role=MemberRole.PHYSICIAN)
    draft = services.application_create_draft(user=users[0], attempt=attempt, clinical_justification="x",
                                              contact="Dr A")
    services.application_submit(application_id=draft.pk, user=users[0])
    question = review.information_request_ask(application_id=draft.pk, user=asker.user, question="CD3+?")
    done, refused = _race(lambda i: submission.information_answer(request_id=question.pk, user=users[i],
                                                                  answer=f"answer {i}"), len(users))
    assert len(done) == 1 and len(refused) == len(users) - 1
    question = InformationRequest.objects.get(pk=question.pk)
    assert question.answer == done[0].answer and question.answered_by_id == done[0].answered_by_id
    application = OOSApplication.objects.get(pk=draft.pk)
    assert application.status == ApplicationStatus.UNDER_REVIEW and application.sla_paused_at is None
    assert application.history.filter(status=ApplicationStatus.UNDER_REVIEW).count() == 2
