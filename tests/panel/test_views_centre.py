"""The centre's application pages: the flow through the browser's forms, downloads, permissions, query counts."""
# ruff: noqa: F811 - pytest fixtures imported from tests.panel.centre_fixtures are redefined as arguments

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from panel import review, submission
from panel.models import ApplicationStatus, Attachment, MemberRole, OOSApplication
from tests.factories import AttemptFactory
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

pytestmark = pytest.mark.django_db


def _login(client, user):
    client.force_login(user)
    return client


# --- The centre's flow ---------------------------------------------------------------------------

def test_a_centre_user_drafts_documents_and_submits_an_application(client, personas, voting_panel):
    user = personas["centre_a"]
    attempt = oos_attempt(user.centre)
    _login(client, user)
    page = client.get(reverse("panel:application_new", args=[attempt.pk]))
    assert page.status_code == 200 and "Dose against the SmPC" in page.content.decode()

    response = client.post(reverse("panel:application_new", args=[attempt.pk]), {
        "clinical_justification": "Refractory LBCL, no alternative", "urgency": "urgent",
        "contact": "Dr A, 0100", "contact_email": "dr.a@example.org"})
    application = OOSApplication.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("panel:application_detail",
                                                                           args=[application.pk])

    response = client.post(reverse("panel:attachment_upload", args=[application.pk]),
                           {"kind": "certificate_of_analysis", "file": pdf_upload("CoA.pdf")})
    assert response.status_code == 302 and application.attachments.get().original_name == "CoA.pdf"

    confirm = client.get(reverse("panel:application_submit", args=[application.pk]))
    assert "Submit to the panel" in confirm.content.decode()
    refused = client.post(reverse("panel:application_submit", args=[application.pk]), {})
    assert "Tick the box" in refused.content.decode()
    response = client.post(reverse("panel:application_submit", args=[application.pk]), {"confirm": "on"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW

    detail = client.get(reverse("panel:application_detail", args=[application.pk])).content.decode()
    assert "Under review" in detail and "CoA.pdf" in detail and "Submit to the panel" not in detail


def test_an_incomplete_draft_shows_what_is_missing_instead_of_the_submit_button(client, personas):
    draft = draft_for(personas["centre_a"], clinical_justification="")
    body = _login(client, personas["centre_a"]).get(reverse("panel:application_submit", args=[draft.pk])) \
        .content.decode()
    assert "Give the clinical justification" in body and 'name="confirm"' not in body
    response = client.post(reverse("panel:application_submit", args=[draft.pk]), {"confirm": "on"})
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.DRAFT


def test_a_bad_email_is_shown_next_to_its_field(client, personas):
    attempt = oos_attempt(personas["centre_a"].centre)
    response = _login(client, personas["centre_a"]).post(
        reverse("panel:application_new", args=[attempt.pk]),
        {"urgency": "routine", "contact_email": "nope", "clinical_justification": "x"})
    assert response.status_code == 200
    assert 'id="id_contact_email-errors"' in response.content.decode()
    assert not OOSApplication.objects.exists()


def test_opening_a_new_application_for_a_product_that_has_one_leads_to_it(client, personas):
    draft = draft_for(personas["centre_a"])
    response = _login(client, personas["centre_a"]).get(reverse("panel:application_new", args=[draft.attempt_id]))
    assert response.status_code == 302 and response["Location"] == reverse("panel:application_detail",
                                                                           args=[draft.pk])


def test_a_second_live_application_posted_anyway_is_refused_with_a_clear_message(client, personas):
    draft = draft_for(personas["centre_a"])
    response = _login(client, personas["centre_a"]).post(reverse("panel:application_new", args=[draft.attempt_id]),
                                                         {"urgency": "routine"})
    assert response.status_code == 200
    assert f"already has OOS application {draft.pk}" in response.content.decode()
    assert OOSApplication.objects.count() == 1


def test_an_in_specification_attempt_cannot_be_applied_for(client, personas):
    attempt = AttemptFactory(apheresis__case__patient__centre=personas["centre_a"].centre)
    response = _login(client, personas["centre_a"]).get(reverse("panel:application_new", args=[attempt.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("cases:case_detail",
                                                                           args=[attempt.case_id])


def test_the_case_timeline_offers_the_application_then_links_to_it(client, personas):
    attempt = oos_attempt(personas["centre_a"].centre)
    case_url = reverse("cases:case_detail", args=[attempt.case_id])
    body = _login(client, personas["centre_a"]).get(case_url).content.decode()
    assert reverse("panel:application_new", args=[attempt.pk]) in body and "Apply to the OOS panel" in body
    draft = draft_for(personas["centre_a"], attempt=attempt)
    body = client.get(case_url).content.decode()
    assert reverse("panel:application_detail", args=[draft.pk]) in body and "Apply to the OOS panel" not in body
    # A physician reads the case but never sees a link to the centre's draft.
    body = _login(client, personas["physician"]).get(case_url).content.decode()
    assert reverse("panel:application_detail", args=[draft.pk]) not in body


def test_withdrawing_asks_for_a_reason(client, personas):
    draft = draft_for(personas["centre_a"])
    url = reverse("panel:application_withdraw", args=[draft.pk])
    response = _login(client, personas["centre_a"]).post(url, {"reason": ""})
    assert "Say why" in response.content.decode()
    client.post(url, {"reason": "Product expired"})
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.WITHDRAWN


# --- Uploads -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content"), [("coa.pdf", b"\x89PNG\r\n\x1a\n...."), ("coa.pdf", b"MZ\x90\x00"),
                                               ("coa.pdf", b"<html><body>hi</body></html>")],
                         ids=["png", "exe", "html"])
def test_a_renamed_non_pdf_is_refused_next_to_the_file_field(client, personas, name, content):
    draft = draft_for(personas["centre_a"])
    response = _login(client, personas["centre_a"]).post(
        reverse("panel:attachment_upload", args=[draft.pk]),
        {"kind": "certificate_of_analysis", "file": SimpleUploadedFile(name, content, "application/pdf")})
    assert response.status_code == 200
    assert "This file is not a PDF" in response.content.decode() and 'id="id_file-errors"' in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_file_over_the_limit_is_dropped_while_uploading_with_a_clear_error(client, personas, settings):
    settings.UPLOAD_MAX_BYTES = 64 * 1024
    draft = draft_for(personas["centre_a"])
    big = pdf_upload("scan.pdf", b"%PDF-1.4\n" + b"0" * (200 * 1024) + b"\n%%EOF\n")
    response = _login(client, personas["centre_a"]).post(reverse("panel:attachment_upload", args=[draft.pk]),
                                                         {"kind": "other", "file": big})
    assert response.status_code == 200
    assert "larger than the 64 KB limit" in response.content.decode()
    assert not Attachment.objects.exists()


def test_an_upload_without_a_csrf_token_is_refused(personas):
    from django.test import Client

    draft = draft_for(personas["centre_a"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["centre_a"])
    response = client.post(reverse("panel:attachment_upload", args=[draft.pk]), {"kind": "other",
                                                                                 "file": pdf_upload()})
    assert response.status_code == 403 and not Attachment.objects.exists()


# --- Downloads -----------------------------------------------------------------------------------

@pytest.fixture
def submitted_with_pdf(personas, voting_panel):
    draft = draft_for(personas["centre_a"])
    attachment = submission.attachment_add(application_id=draft.pk, user=personas["centre_a"],
                                           kind="certificate_of_analysis", uploaded_file=pdf_upload("CoA 7.pdf"))
    submission.application_submit(application_id=draft.pk, user=personas["centre_a"])
    return attachment


@pytest.mark.parametrize(("persona", "status"), [("centre_a", 200), ("physician", 200), ("pharmacist", 200),
                                                 ("ops", 200), ("admin", 200), ("centre_b", 404),
                                                 ("analyst", 404)])
def test_an_attachment_is_served_only_to_who_may_see_the_application(client, personas, submitted_with_pdf,
                                                                     persona, status):
    response = _login(client, personas[persona]).get(reverse("panel:attachment_download",
                                                             args=[submitted_with_pdf.pk]))
    assert response.status_code == status
    events = AuditEvent.objects.filter(code="panel.attachment.downloaded")
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == 'attachment; filename="CoA 7.pdf"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content).startswith(b"%PDF-")
        assert events.get().actor_username == personas[persona].username
    else:
        assert not events.exists()


def test_a_drafts_attachment_is_not_served_to_the_panel(client, personas):
    draft = draft_for(personas["centre_a"])
    attachment = submission.attachment_add(application_id=draft.pk, user=personas["centre_a"], kind="other",
                                           uploaded_file=pdf_upload())
    assert _login(client, personas["physician"]).get(
        reverse("panel:attachment_download", args=[attachment.pk])).status_code == 404


def test_the_decision_letter_and_conditions_reach_the_centre_once_communicated(client, personas, voting_panel):
    application = decided(submitted_for(personas["centre_a"]), voting_panel)
    _login(client, personas["centre_a"])
    letter_url = reverse("panel:letter_download", args=[application.pk])
    assert client.get(letter_url).status_code == 404
    detail = client.get(reverse("panel:application_detail", args=[application.pk])).content.decode()
    assert "Approved" in detail and "Approvals 5 (physicians 4, pharmacists 1)" in detail
    assert "The operations manager will send the decision letter" in detail

    communicated(application, personas["ops"], conditions="Infuse within 7 days")
    detail = client.get(reverse("panel:application_detail", args=[application.pk])).content.decode()
    assert "Infuse within 7 days" in detail and letter_url in detail
    response = client.get(letter_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert AuditEvent.objects.filter(code="panel.letter.downloaded", actor=personas["centre_a"]).exists()
    assert _login(client, personas["centre_b"]).get(letter_url).status_code == 404


# --- Information request and the steps after the decision ----------------------------------------

def test_the_centre_answers_the_panels_question_on_the_application_page(client, personas, voting_panel):
    application = submitted_for(personas["centre_a"])
    asker = voting_panel[MemberRole.PHYSICIAN][0]
    request = review.information_request_ask(application_id=application.pk, user=asker.user,
                                             question="CD3+ count at apheresis?")
    _login(client, personas["centre_a"])
    detail = client.get(reverse("panel:application_detail", args=[application.pk])).content.decode()
    assert "CD3+ count at apheresis?" in detail and reverse("panel:info_answer", args=[request.pk]) in detail
    response = client.post(reverse("panel:info_answer", args=[request.pk]), {"answer": "", "kind": "other"})
    assert "Write the answer" in response.content.decode()
    response = client.post(reverse("panel:info_answer", args=[request.pk]),
                           {"answer": "320/µL", "kind": "other", "file": pdf_upload("labs.pdf")})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW and application.attachments.count() == 1
    # Another centre's user, and a panel member, cannot answer for the centre.
    assert _login(client, personas["centre_b"]).get(reverse("panel:info_answer", args=[request.pk])) \
        .status_code == 404
    assert _login(client, personas["physician"]).get(reverse("panel:info_answer", args=[request.pk])) \
        .status_code == 403


def test_infusion_then_notifications_with_the_48_hour_deadline_shown_until_both_are_recorded(client, personas,
                                                                                             voting_panel):
    application = decided(submitted_for(personas["centre_a"]), voting_panel)
    OOSApplication.objects.filter(pk=application.pk).update(submitted_at=timezone.now() - dt.timedelta(days=4))
    application = communicated(application, personas["ops"])
    _login(client, personas["centre_a"])
    detail_url = reverse("panel:application_detail", args=[application.pk])
    assert reverse("panel:record_infusion", args=[application.pk]) in client.get(detail_url).content.decode()

    response = client.post(reverse("panel:record_infusion", args=[application.pk]), {"infused": "yes"})
    assert "Enter when the product was infused" in response.content.decode()
    infused_at = timezone.localtime() - dt.timedelta(hours=50)
    client.post(reverse("panel:record_infusion", args=[application.pk]),
                {"infused": "yes", "infused_at": infused_at.strftime("%Y-%m-%dT%H:%M")})
    application.refresh_from_db()
    assert application.status == ApplicationStatus.INFUSED
    body = client.get(detail_url).content.decode()
    assert "overdue by" in body and "the manufacturer and the competent authority" in body

    client.post(reverse("panel:record_regulatory_notification", args=[application.pk]),
                {"manufacturer_notified_at": (infused_at + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")})
    body = client.get(detail_url).content.decode()
    assert "Notify the competent authority" in body
    client.post(reverse("panel:record_regulatory_notification", args=[application.pk]),
                {"authority_notified_at": (infused_at + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")})
    body = client.get(detail_url).content.decode()
    assert "overdue by" not in body and "Notify" not in body


def test_the_deadline_shows_the_time_left_before_it_passes(client, personas, voting_panel):
    application = decided(submitted_for(personas["centre_a"]), voting_panel)
    application = communicated(application, personas["ops"])
    submission.application_record_infusion(application_id=application.pk, user=personas["centre_a"], infused=True,
                                           infused_at=timezone.now())
    body = _login(client, personas["ops"]).get(reverse("panel:application_detail", args=[application.pk])) \
        .content.decode()
    assert " left" in body and "overdue" not in body


# --- Permissions ---------------------------------------------------------------------------------

VIEWS_ON_APPLICATION = ["application_detail", "application_edit", "application_submit", "application_withdraw",
                        "attachment_upload", "record_infusion", "record_regulatory_notification", "letter_download"]
# Expected GET status on a draft of centre A. Drafts are the centre's own: nobody else sees them
# (admins are superusers and may act for a centre).
DRAFT = {
    "centre_a": {"application_detail": 200, "application_edit": 200, "application_submit": 200,
                 "application_withdraw": 200, "attachment_upload": 200, "record_infusion": 302,
                 "record_regulatory_notification": 302, "letter_download": 404},
    "admin": {"application_detail": 200, "application_edit": 200, "application_submit": 200,
              "application_withdraw": 200, "attachment_upload": 200, "record_infusion": 302,
              "record_regulatory_notification": 302, "letter_download": 404},
    **{persona: dict.fromkeys(VIEWS_ON_APPLICATION, 404)
       for persona in ("centre_b", "physician", "pharmacist", "ops", "analyst")},
}
# Expected GET status once submitted: the panel and the ops manager read it but never change it.
SUBMITTED = {
    "centre_a": {"application_detail": 200, "application_edit": 302, "application_submit": 302,
                 "application_withdraw": 200, "attachment_upload": 302, "record_infusion": 302,
                 "record_regulatory_notification": 302, "letter_download": 404},
    **{persona: {**dict.fromkeys(VIEWS_ON_APPLICATION, 403), "application_detail": 200, "letter_download": 404}
       for persona in ("physician", "pharmacist")},
    "ops": {**dict.fromkeys(VIEWS_ON_APPLICATION, 403), "application_detail": 200, "application_withdraw": 200,
            "letter_download": 404},
    **{persona: dict.fromkeys(VIEWS_ON_APPLICATION, 404) for persona in ("centre_b", "analyst")},
}


@pytest.mark.parametrize("persona", list(DRAFT))
@pytest.mark.parametrize("view", VIEWS_ON_APPLICATION)
def test_permission_matrix_on_a_draft(client, personas, persona, view):
    draft = draft_for(personas["centre_a"])
    response = _login(client, personas[persona]).get(reverse(f"panel:{view}", args=[draft.pk]))
    assert response.status_code == DRAFT[persona][view]


@pytest.mark.parametrize("persona", list(SUBMITTED))
@pytest.mark.parametrize("view", VIEWS_ON_APPLICATION)
def test_permission_matrix_on_a_submitted_application(client, personas, voting_panel, persona, view):
    application = submitted_for(personas["centre_a"])
    response = _login(client, personas[persona]).get(reverse(f"panel:{view}", args=[application.pk]))
    assert response.status_code == SUBMITTED[persona][view]


@pytest.mark.parametrize("persona", ["physician", "pharmacist", "ops", "centre_b"])
@pytest.mark.parametrize("view", ["application_edit", "application_submit", "attachment_upload"])
def test_no_one_but_the_centre_changes_an_application_by_post(client, personas, voting_panel, persona, view):
    draft = draft_for(personas["centre_a"], urgency="routine")
    data = {"urgency": "emergency", "confirm": "on", "kind": "other", "file": pdf_upload(),
            "clinical_justification": "hijack", "contact": "x"}
    response = _login(client, personas[persona]).post(reverse(f"panel:{view}", args=[draft.pk]), data)
    assert response.status_code == 404
    draft.refresh_from_db()
    assert (draft.status, draft.urgency, draft.attachments.count()) == (ApplicationStatus.DRAFT, "routine", 0)


@pytest.mark.parametrize(("persona", "status"), [("centre_a", 200), ("admin", 200), ("centre_b", 404),
                                                 ("physician", 403), ("ops", 403), ("analyst", 403)])
def test_only_the_treating_centre_opens_a_new_application(client, personas, persona, status):
    attempt = oos_attempt(personas["centre_a"].centre)
    response = _login(client, personas[persona]).get(reverse("panel:application_new", args=[attempt.pk]))
    assert response.status_code == status


@pytest.mark.parametrize("name", ["application_list", "application_detail", "attachment_download"])
def test_anonymous_users_are_sent_to_log_in(client, name):
    url = reverse(f"panel:{name}") if name == "application_list" else reverse(f"panel:{name}", args=[1])
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- The list ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("persona", "status"), [("centre_a", 200), ("physician", 200), ("ops", 200),
                                                 ("admin", 200), ("analyst", 403)])
def test_the_list_is_open_to_the_roles_working_with_applications(client, personas, persona, status):
    assert _login(client, personas[persona]).get(reverse("panel:application_list")).status_code == status


def test_a_centre_user_lists_only_their_centres_applications_with_status_filter(client, personas, voting_panel):
    own_draft = draft_for(personas["centre_a"])
    own_submitted = submitted_for(personas["centre_a"])
    other = submitted_for(personas["centre_b"])
    _login(client, personas["centre_a"])
    body = client.get(reverse("panel:application_list")).content.decode()
    detail = lambda a: reverse("panel:application_detail", args=[a.pk])  # noqa: E731
    assert detail(own_draft) in body and detail(own_submitted) in body and detail(other) not in body
    body = client.get(reverse("panel:application_list"), {"status": "draft"}).content.decode()
    assert detail(own_draft) in body and detail(own_submitted) not in body
    body = client.get(reverse("panel:application_list"), {"status": "infused"}).content.decode()
    assert "No applications with this status" in body
    # An unknown status is ignored, not an error.
    assert client.get(reverse("panel:application_list"), {"status": "bogus", "page": "x"}).status_code == 200
    body = _login(client, personas["ops"]).get(reverse("panel:application_list")).content.decode()
    assert detail(own_submitted) in body and detail(other) in body and detail(own_draft) not in body


def test_the_list_offers_the_centres_oos_products_without_an_application(client, personas):
    attempt = oos_attempt(personas["centre_a"].centre)
    other = oos_attempt(personas["centre_b"].centre)
    body = _login(client, personas["centre_a"]).get(reverse("panel:application_list")).content.decode()
    assert reverse("panel:application_new", args=[attempt.pk]) in body
    assert reverse("panel:application_new", args=[other.pk]) not in body
    assert "Your centre has no OOS applications yet" in body


def test_htmx_filtering_returns_only_the_rows(client, personas):
    draft_for(personas["centre_a"])
    response = _login(client, personas["centre_a"]).get(reverse("panel:application_list"), {"status": "draft"},
                                                        HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<table" in body and "<html" not in body


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize("persona", ["centre_a", "ops"])
def test_list_queries_do_not_grow_with_the_rows(client, personas, voting_panel, django_assert_max_num_queries,
                                                n, persona):
    for _ in range(n):
        submitted_for(personas["centre_a"])
    _login(client, personas[persona])
    # 1 session, 2 user, 3 count, 4 the page of applications (case, product, centre, attempt joined),
    # 5 the centre's OOS attempts without an application (centre users), 6 the header's centre,
    # 7 unread notifications (header), 8-10 session save in a savepoint.
    with django_assert_max_num_queries(10):
        response = client.get(reverse("panel:application_list"))
    assert response.status_code == 200
    assert response.content.decode().count(reverse("panel:application_detail", args=[1])[:-2]) >= min(n, 25)


@pytest.mark.parametrize("documents", [1, 8])
def test_the_application_page_queries_do_not_grow_with_documents_and_questions(client, personas, voting_panel,
                                                                               django_assert_max_num_queries,
                                                                               documents):
    draft = draft_for(personas["centre_a"])
    for _ in range(documents):
        submission.attachment_add(application_id=draft.pk, user=personas["centre_a"], kind="other",
                                  uploaded_file=pdf_upload())
    submission.application_submit(application_id=draft.pk, user=personas["centre_a"])
    for member in voting_panel[MemberRole.PHYSICIAN][:2]:
        request = review.information_request_ask(application_id=draft.pk, user=member.user, question="Why?")
        submission.information_answer(request_id=request.pk, user=personas["centre_a"], answer="Because")
    _login(client, personas["centre_a"])
    # Session, user, the application (case, product, centre, attempt joined), submitter, documents +
    # uploaders, questions + askers/answerers, decision, the application's activity, the header's centre
    # and unread notifications, the session save: bounded whatever the number of documents and questions.
    with django_assert_max_num_queries(15):
        response = client.get(reverse("panel:application_detail", args=[draft.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and body.count("SHA-256") == documents
    assert "centre_a submitted an OOS application to the panel" in body
