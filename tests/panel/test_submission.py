"""The centre's services: drafts, submission, evidence, answers, infusion and regulatory notification."""
# ruff: noqa: F811 - pytest fixtures imported from tests.panel.centre_fixtures are redefined as arguments

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditEvent
from cases.errors import DomainError
from cases.models import ReleaseParameter, ReleaseResult
from notifications.models import Channel, OutboxMessage
from panel import review, services, submission
from panel.models import ApplicationStatus, Attachment, InformationRequest, MemberRole, OOSApplication
from panel.services import ApplicationNotOpen
from panel.sla import due_after_pause
from tests.panel.centre_fixtures import (  # noqa: F401 - fixtures
    _private_media,
    communicated,
    decided,
    draft_for,
    oos_attempt,
    pdf_upload,
    submitted_for,
    voting_panel,
)
from tests.panel.factories import PanelMemberFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _codes(application):
    return list(AuditEvent.objects.filter(context__application=application.pk).order_by("id")
                .values_list("code", flat=True))


# --- The SLA pause (pure) ------------------------------------------------------------------------

@pytest.mark.parametrize(("paused", "resumed", "expected"), [
    (T0, T0 + dt.timedelta(hours=5), T0 + dt.timedelta(days=2, hours=5)),
    (T0, T0 + dt.timedelta(days=3, minutes=1), T0 + dt.timedelta(days=5, minutes=1)),
    (None, T0 + dt.timedelta(hours=5), T0 + dt.timedelta(days=2)),
    (T0, T0 - dt.timedelta(minutes=1), T0 + dt.timedelta(days=2)),
    (T0, T0, T0 + dt.timedelta(days=2)),
])
def test_the_due_time_moves_on_by_exactly_the_paused_time(paused, resumed, expected):
    assert due_after_pause(T0 + dt.timedelta(days=2), paused, resumed) == expected


# --- Drafts --------------------------------------------------------------------------------------

def test_a_draft_keeps_the_contact_email_and_is_audited(personas):
    attempt = oos_attempt(personas["centre_a"].centre)
    application = submission.application_create(user=personas["centre_a"], attempt=attempt, urgency="urgent",
                                                 clinical_justification=" Refractory ", contact="Dr A",
                                                 contact_email="dr.a@example.org")
    assert (application.status, application.contact_email, application.clinical_justification) == \
        (ApplicationStatus.DRAFT, "dr.a@example.org", "Refractory")
    assert _codes(application) == ["panel.application.created"]


def test_a_second_live_application_for_the_same_product_is_refused_naming_the_first(personas):
    first = draft_for(personas["centre_a"])
    with pytest.raises(DomainError, match=f"already has OOS application {first.pk} \\(draft\\)"):
        submission.application_create(user=personas["centre_a"], attempt=first.attempt)


def test_after_a_withdrawal_the_product_can_be_applied_for_again(personas):
    first = draft_for(personas["centre_a"])
    submission.application_withdraw(application_id=first.pk, user=personas["centre_a"], reason="Wrong attempt")
    again = submission.application_create(user=personas["centre_a"], attempt=first.attempt)
    assert again.pk != first.pk


def test_another_centres_user_cannot_apply_for_the_product(personas):
    attempt = oos_attempt(personas["centre_a"].centre)
    with pytest.raises(DomainError, match="treating centre"):
        submission.application_create(user=personas["centre_b"], attempt=attempt)


@pytest.mark.parametrize(("field", "values", "message"), [
    ("contact_email", {"contact_email": "not-an-address"}, "valid e-mail"),
    ("urgency", {"urgency": "yesterday"}, "Unknown urgency"),
    ("clinical_justification", {"clinical_justification": "x" * 10_001}, "under 10,000"),
])
def test_bad_draft_values_are_refused_on_their_field(personas, field, values, message):
    attempt = oos_attempt(personas["centre_a"].centre)
    with pytest.raises(DomainError, match=message) as error:
        submission.application_create(user=personas["centre_a"], attempt=attempt, **values)
    assert error.value.field == field
    assert not OOSApplication.objects.exists()


def test_editing_a_draft_records_old_and_new_values_in_audit_and_history(personas):
    draft = draft_for(personas["centre_a"], urgency="routine")
    submission.application_update_draft(application_id=draft.pk, user=personas["centre_a"],
                                        clinical_justification="Now urgent", urgency="emergency", contact="Dr B",
                                        contact_email="")
    event = AuditEvent.objects.filter(code="panel.application.updated").get()
    assert event.changes["urgency"] == ["routine", "emergency"]
    assert event.changes["contact"] == ["Dr A, 0100 000", "Dr B"]
    latest = draft.history.first()
    assert latest.urgency == "emergency" and latest.history_user == personas["centre_a"]


def test_a_submitted_application_cannot_be_edited(personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    with pytest.raises(ApplicationNotOpen, match="Only a draft"):
        submission.application_update_draft(application_id=application.pk, user=personas["centre_a"],
                                            clinical_justification="x", urgency="routine", contact="x",
                                            contact_email="")


@pytest.mark.parametrize("persona", ["physician", "ops", "centre_b"])
def test_only_the_centre_edits_its_draft(personas, persona):
    draft = draft_for(personas["centre_a"])
    with pytest.raises(DomainError):
        submission.application_update_draft(application_id=draft.pk, user=personas[persona],
                                            clinical_justification="x", urgency="routine", contact="x",
                                            contact_email="")


# --- Submission ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field"), [({"clinical_justification": "  "}, "clinical_justification"),
                                               ({"contact": ""}, "contact")])
@pytest.mark.parametrize("submit", [submission.application_submit, services.application_submit],
                         ids=["centre pages", "core service"])
def test_an_incomplete_draft_cannot_be_submitted(personas, values, field, submit):
    # The core service refuses it too: no caller (the demo loader, a future API) can skip the check.
    draft = draft_for(personas["centre_a"], **values)
    with pytest.raises(DomainError) as error:
        submit(application_id=draft.pk, user=personas["centre_a"])
    assert error.value.field == field
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.DRAFT and draft.submitted_at is None
    assert not AuditEvent.objects.filter(code="panel.application.submitted").exists()


def test_submission_snapshots_the_failed_parameters_and_notifies_only_eligible_members(personas, voting_panel):
    centre = personas["centre_a"].centre
    attempt = oos_attempt(centre)
    viability, _ = ReleaseParameter.objects.update_or_create(
        product=attempt.case.product, kind="viability",
        defaults={"name": "Viability", "unit": "%", "comparator": "gte", "limit": 80, "order": 1})
    ReleaseResult.objects.create(attempt=attempt, parameter=viability, value_numeric=61.0, within_spec=False)
    affiliated = PanelMemberFactory(role=MemberRole.PHYSICIAN, affiliations=[centre])
    draft = draft_for(personas["centre_a"], attempt=attempt)
    application = submission.application_submit(application_id=draft.pk, user=personas["centre_a"])

    assert application.status == ApplicationStatus.UNDER_REVIEW
    assert application.failed_parameters[0] | {} == {**application.failed_parameters[0], "name": "Viability",
                                                      "specification": "≥ 80 %", "value_numeric": 61.0}
    told = set(OutboxMessage.objects.filter(channel=Channel.IN_APP, idempotency_key__startswith=
                                            f"application:{application.pk}:submitted").values_list("recipient_id",
                                                                                                   flat=True))
    eligible = {member.user_id for members in voting_panel.values() for member in members}
    assert told == eligible and affiliated.user_id not in told


def test_withdrawing_needs_a_reason_which_is_audited(personas):
    draft = draft_for(personas["centre_a"])
    with pytest.raises(DomainError, match="Say why") as error:
        submission.application_withdraw(application_id=draft.pk, user=personas["centre_a"], reason=" ")
    assert error.value.field == "reason"
    submission.application_withdraw(application_id=draft.pk, user=personas["centre_a"], reason="Patient died")
    event = AuditEvent.objects.filter(code="panel.application.withdrawn").get()
    assert event.context["reason"] == "Patient died"


# --- Attachments ---------------------------------------------------------------------------------

def test_a_pdf_is_stored_privately_under_a_random_name_with_its_checksum(personas, settings):
    draft = draft_for(personas["centre_a"])
    attachment = submission.attachment_add(application_id=draft.pk, user=personas["centre_a"],
                                           kind="certificate_of_analysis", uploaded_file=pdf_upload("../CoA 7.pdf"))
    stored = Path(settings.MEDIA_ROOT) / attachment.file.name
    assert stored.is_file() and stored.read_bytes().startswith(b"%PDF-")
    assert attachment.file.name.startswith(f"attachments/{draft.pk}/") and "CoA" not in attachment.file.name
    assert attachment.original_name == "CoA 7.pdf" and len(attachment.sha256) == 64
    assert _codes(draft)[-1] == "panel.attachment.added"


def test_a_file_that_is_not_a_pdf_leaves_neither_row_nor_file(personas, settings):
    draft = draft_for(personas["centre_a"])
    with pytest.raises(DomainError, match="not a PDF"):
        submission.attachment_add(application_id=draft.pk, user=personas["centre_a"], kind="other",
                                  uploaded_file=SimpleUploadedFile("x.pdf", b"MZ\x90\x00 exe"))
    assert not Attachment.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "attachments").exists()


def test_documents_cannot_be_added_while_the_panel_is_reviewing(personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    with pytest.raises(ApplicationNotOpen):
        submission.attachment_add(application_id=application.pk, user=personas["centre_a"], kind="other",
                                  uploaded_file=pdf_upload())


# --- Information requests ------------------------------------------------------------------------

def _asked(application, member, question="What was the CD3+ count at apheresis?"):
    return review.information_request_ask(application_id=application.pk, user=member.user, question=question)


def test_the_answer_resumes_the_review_and_gives_back_the_paused_time(personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    asker = voting_panel[MemberRole.PHYSICIAN][0]
    request = _asked(application, asker)
    paused_at = timezone.now() - dt.timedelta(hours=30)
    OOSApplication.objects.filter(pk=application.pk).update(sla_paused_at=paused_at)
    due_before = OOSApplication.objects.get(pk=application.pk).sla_due_at

    submission.information_answer(request_id=request.pk, user=personas["centre_a"], answer="320 cells/µL",
                                  attachment_kind="other", uploaded_file=pdf_upload("labs.pdf"))

    application.refresh_from_db()
    request.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW and application.sla_paused_at is None
    moved = application.sla_due_at - due_before
    assert dt.timedelta(hours=30) <= moved < dt.timedelta(hours=30, minutes=1)
    assert (request.answer, request.answered_by) == ("320 cells/µL", personas["centre_a"])
    assert application.attachments.get().original_name == "labs.pdf"
    assert OutboxMessage.objects.filter(recipient=asker.user, channel=Channel.IN_APP,
                                        idempotency_key__startswith=f"information-request:{request.pk}").exists()
    assert _codes(application)[-2:] == ["panel.attachment.added", "panel.information_request.answered"]
    assert [h.status for h in application.history.all()[:2]] == ["under_review", "info_requested"]


def test_an_answer_must_say_something_and_comes_only_from_the_centre(personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    request = _asked(application, voting_panel[MemberRole.PHYSICIAN][0])
    with pytest.raises(DomainError, match="Write the answer") as error:
        submission.information_answer(request_id=request.pk, user=personas["centre_a"], answer="  ")
    assert error.value.field == "answer"
    with pytest.raises(DomainError, match="treating centre"):
        submission.information_answer(request_id=request.pk, user=personas["centre_b"], answer="x")
    assert InformationRequest.objects.get().answered_at is None


def test_a_question_is_answered_once(personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    request = _asked(application, voting_panel[MemberRole.PHYSICIAN][0])
    submission.information_answer(request_id=request.pk, user=personas["centre_a"], answer="Done")
    with pytest.raises(ApplicationNotOpen, match="already been answered"):
        submission.information_answer(request_id=request.pk, user=personas["centre_a"], answer="Again")


# --- After the decision --------------------------------------------------------------------------

@pytest.fixture
def approved_and_communicated(personas, voting_panel):
    application = decided(submitted_for(personas["centre_a"]), voting_panel)
    assert application.status == ApplicationStatus.APPROVED
    # Submitted three days ago, so an infusion "hours ago" comes after it.
    OOSApplication.objects.filter(pk=application.pk).update(submitted_at=timezone.now() - dt.timedelta(days=3))
    return communicated(application, personas["ops"])


def test_an_infusion_starts_the_48_hour_deadline_and_tells_the_operations_manager(personas,
                                                                                  approved_and_communicated):
    infused_at = timezone.now() - dt.timedelta(hours=2)
    application = submission.application_record_infusion(application_id=approved_and_communicated.pk,
                                                         user=personas["centre_a"], infused=True,
                                                         infused_at=infused_at)
    assert application.status == ApplicationStatus.INFUSED
    assert application.regulatory_deadline_at == infused_at + dt.timedelta(hours=48)
    assert application.infusion_recorded_at is not None
    assert OutboxMessage.objects.filter(recipient=personas["ops"],
                                        idempotency_key__startswith=f"application:{application.pk}:infused").exists()
    assert _codes(application)[-1] == "panel.application.infusion_recorded"


def test_not_infused_closes_the_application_without_a_deadline(personas, approved_and_communicated):
    application = submission.application_record_infusion(application_id=approved_and_communicated.pk,
                                                         user=personas["centre_a"], infused=False)
    assert (application.status, application.regulatory_deadline_at) == (ApplicationStatus.NOT_INFUSED, None)


@pytest.mark.parametrize(("offset", "message"), [(dt.timedelta(hours=3), "in the future"),
                                                 (-dt.timedelta(days=400), "before the application was submitted")])
def test_an_infusion_time_in_the_future_or_before_submission_is_refused(personas, approved_and_communicated,
                                                                         offset, message):
    with pytest.raises(DomainError, match=message) as error:
        submission.application_record_infusion(application_id=approved_and_communicated.pk,
                                               user=personas["centre_a"], infused=True,
                                               infused_at=timezone.now() + offset)
    assert error.value.field == "infused_at"


def test_a_declined_product_cannot_be_recorded_as_infused(personas, voting_panel):
    application = communicated(decided(submitted_for(personas["centre_a"]), voting_panel, approve=False),
                               personas["ops"])
    with pytest.raises(DomainError, match="declined"):
        submission.application_record_infusion(application_id=application.pk, user=personas["centre_a"],
                                               infused=True, infused_at=timezone.now())


def test_the_infusion_is_recorded_only_after_communication(personas, voting_panel):
    application = decided(submitted_for(personas["centre_a"]), voting_panel)
    with pytest.raises(ApplicationNotOpen):
        submission.application_record_infusion(application_id=application.pk, user=personas["centre_a"],
                                               infused=False)


def test_regulatory_notifications_are_recorded_separately_and_not_before_the_infusion(personas,
                                                                                    approved_and_communicated):
    infused_at = timezone.now() - dt.timedelta(hours=10)
    pk = approved_and_communicated.pk
    submission.application_record_infusion(application_id=pk, user=personas["centre_a"], infused=True,
                                           infused_at=infused_at)
    with pytest.raises(DomainError, match="before the infusion") as error:
        submission.application_record_regulatory_notification(
            application_id=pk, user=personas["centre_a"], authority_notified_at=infused_at - dt.timedelta(hours=1))
    assert error.value.field == "authority_notified_at"
    application = submission.application_record_regulatory_notification(
        application_id=pk, user=personas["centre_a"], manufacturer_notified_at=infused_at + dt.timedelta(hours=1))
    assert application.manufacturer_notified_at and application.authority_notified_at is None
    application = submission.application_record_regulatory_notification(
        application_id=pk, user=personas["centre_a"], authority_notified_at=infused_at + dt.timedelta(hours=2))
    assert application.manufacturer_notified_at and application.authority_notified_at
    assert _codes(application)[-2:] == ["panel.application.regulatory_notification_recorded"] * 2
    with pytest.raises(DomainError, match="Enter when"):
        submission.application_record_regulatory_notification(application_id=pk, user=personas["centre_a"])


def test_every_audit_code_the_centre_services_write_has_a_human_text():
    import inspect
    import re

    from panel import services, views_centre

    source = inspect.getsource(submission) + inspect.getsource(views_centre)
    registry = source[source.index("AUDIT_EVENTS = {"):source.index("\n}\n")]
    written = set(re.findall(r'"(panel\.[a-z_]+\.[a-z_]+)"', source.replace(registry, "")))
    application_codes = set(re.findall(r'"(panel\.application\.[a-z_]+)"', inspect.getsource(services)))
    assert written | application_codes == set(submission.AUDIT_EVENTS)



def test_a_concurrent_second_application_caught_by_the_database_gets_the_same_clear_message(personas,
                                                                                          monkeypatch):
    first = draft_for(personas["centre_a"])
    # Both requests passed the check before either saved: only the unique constraint is left to refuse.
    monkeypatch.setattr(submission, "live_application_for", lambda attempt, _calls=[]: _calls.append(1) or (
        None if len(_calls) == 1 else first))
    monkeypatch.setattr(submission.services.OOSApplication.objects, "filter",
                        lambda **kwargs: OOSApplication.objects.none())
    with pytest.raises(DomainError, match=f"already has OOS application {first.pk}"):
        submission.application_create(user=personas["centre_a"], attempt=first.attempt)
    monkeypatch.undo()
    assert OOSApplication.objects.filter(attempt=first.attempt).count() == 1
