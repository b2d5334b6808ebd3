"""Communicating a decision: the letter, the record, the status, the e-mails and the notifications."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from cases.errors import DomainError
from notifications.models import Notification, OutboxMessage
from panel.communication import AlreadyCommunicated, decision_communicate, default_recipients, parse_recipients
from panel.letters import decision_letter_pdf
from panel.models import ApplicationStatus, Communication
from panel.services import ApplicationNotOpen
from tests.factories import UserFactory
from tests.panel.ops_fixtures import approved, declined, full_panel, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def panel():
    return full_panel()


@pytest.fixture
def centre_user(centre_a):
    return UserFactory(role=Role.CENTRE_USER, centre=centre_a, email="pharmacy@ctra.example.org")


@pytest.fixture
def application(centre_a, centre_user, panel):
    application = approved(centre_a, panel, centre_user)
    application.contact_email = "Dr.Lead@ctra.example.org"
    application.save(update_fields=["contact_email"])
    return application


def test_letter_is_a_pdf_with_the_tally_conditions_and_signature(application, personas):
    ops = personas["ops"]
    ops.first_name, ops.last_name = "Olivia", "Manager"
    from django.utils import timezone

    pdf = decision_letter_pdf(application, conditions="Infuse within 7 days.\nReport CRS grade.", sent_by=ops,
                              sent_at=timezone.now())

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for text in (f"Decision on OOS application {application.pk}", application.case.public_id, "APPROVED",
                 "Tally: approve 4 \\(3 physicians, 1 pharmacists\\), decline 0, abstain 0.",
                 "Infuse within 7 days.", "Report CRS grade.", "Olivia Manager", "Centre A \\(ctra\\)"):
        assert text.encode() in pdf, text


def test_letter_is_reproducible_for_the_same_inputs(application, personas):
    from django.utils import timezone

    now = timezone.now()
    first = decision_letter_pdf(application, conditions="", sent_by=personas["ops"], sent_at=now)
    assert first == decision_letter_pdf(application, conditions="", sent_by=personas["ops"], sent_at=now)
    assert b"None." in first


def test_communicate_records_letter_status_audit_and_notifications(application, personas, centre_user,
                                                                  django_capture_on_commit_callbacks):
    ops = personas["ops"]
    with django_capture_on_commit_callbacks(execute=True):
        communication = decision_communicate(application_id=application.pk, user=ops, conditions="Within 7 days",
                                             recipients="dr.lead@ctra.example.org, pharmacy@ctra.example.org")

    application.refresh_from_db()
    assert application.status == ApplicationStatus.COMMUNICATED
    assert communication.sent_by == ops and communication.recipients == ["dr.lead@ctra.example.org",
                                                                         "pharmacy@ctra.example.org"]
    stored = Path(settings.MEDIA_ROOT) / communication.letter.name
    assert stored.read_bytes().startswith(b"%PDF-")
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == communication.letter_sha256
    assert communication.letter.name.startswith(f"letters/{application.pk}/")
    event = AuditEvent.objects.get(code="panel.decision.communicated")
    assert event.actor == ops and event.changes["status"] == ["approved", "communicated"]
    assert event.context["letter_sha256"] == communication.letter_sha256
    # E-mail to exactly the confirmed recipients, with the letter attached; in-app to the centre's users.
    assert sorted(message.to[0] for message in mail.outbox) == ["dr.lead@ctra.example.org",
                                                                "pharmacy@ctra.example.org"]
    name, content, mimetype = mail.outbox[0].attachments[0]
    assert mimetype == "application/pdf" and content == stored.read_bytes() and name.endswith(".pdf")
    assert set(Notification.objects.values_list("user", flat=True)) == {centre_user.pk, personas["centre_a"].pk}
    assert communication.history.count() == 1 and application.history.first().status == "communicated"


def test_communicate_twice_is_refused_and_sends_nothing_more(application, personas):
    decision_communicate(application_id=application.pk, user=personas["ops"], recipients="a@example.org")
    queued = OutboxMessage.objects.count()
    with pytest.raises(AlreadyCommunicated, match="already been communicated"):
        decision_communicate(application_id=application.pk, user=personas["ops"], recipients="a@example.org")
    assert Communication.objects.count() == 1 and OutboxMessage.objects.count() == queued


def test_declined_application_can_be_communicated(centre_a, panel, personas):
    application = declined(centre_a, panel)
    communication = decision_communicate(application_id=application.pk, user=personas["ops"],
                                         recipients="a@example.org")
    assert b"DECLINED" in communication.letter.open("rb").read()


def test_undecided_application_cannot_be_communicated(centre_a, panel, personas):
    application = submitted(centre_a)
    with pytest.raises(ApplicationNotOpen, match="only a decided application"):
        decision_communicate(application_id=application.pk, user=personas["ops"], recipients="a@example.org")


@pytest.mark.parametrize("role", ["centre_a", "physician", "pharmacist", "analyst"])
def test_only_ops_communicates(application, personas, role):
    with pytest.raises(DomainError, match="Only the operations manager"):
        decision_communicate(application_id=application.pk, user=personas[role], recipients="a@example.org")
    assert not Communication.objects.exists()


@pytest.mark.parametrize(("raw", "message"), [
    ("", "at least one recipient"), ("not-an-address", "Not a valid e-mail address: not-an-address"),
    ("a@example.org, b@", "Not a valid e-mail address: b@"),
    (",".join(f"u{i}@example.org" for i in range(21)), "At most 20"),
])
def test_recipients_are_validated(raw, message):
    with pytest.raises(DomainError, match=message) as error:
        parse_recipients(raw)
    assert error.value.field == "recipients"


def test_recipients_are_deduplicated_case_insensitively():
    assert parse_recipients("A@x.org; a@X.org\nb@x.org") == ["a@x.org", "b@x.org"]


def test_default_recipients_are_contact_and_centre_users(application, centre_user, centre_a):
    UserFactory(role=Role.CENTRE_USER, centre=centre_a, email="", username="no-email")
    UserFactory(role=Role.CENTRE_USER, centre=centre_a, email="gone@ctra.example.org", is_active=False)
    assert default_recipients(application) == ["dr.lead@ctra.example.org", "pharmacy@ctra.example.org"]


# --- the page ------------------------------------------------------------------------------------

def test_communicate_page_prefills_recipients_and_sends(client, application, personas):
    client.force_login(personas["ops"])
    url = reverse("panel:communicate", args=[application.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"dr.lead@ctra.example.org, pharmacy@ctra.example.org" in page.content
    assert b"Send decision letter" in page.content

    response = client.post(url, {"conditions": "Within 7 days", "recipients": "dr.lead@ctra.example.org"})
    assert response.status_code == 302 and response["Location"] == reverse("panel:dashboard")
    assert Communication.objects.get().conditions == "Within 7 days"

    again = client.post(url, {"conditions": "", "recipients": "dr.lead@ctra.example.org"})
    assert again.status_code == 409
    assert b"already been communicated" in again.content and b"cannot be sent twice" in again.content
    assert Communication.objects.count() == 1


def test_communicate_page_shows_errors_next_to_recipients(client, application, personas):
    client.force_login(personas["ops"])
    response = client.post(reverse("panel:communicate", args=[application.pk]),
                           {"conditions": "", "recipients": "nobody"})
    assert response.status_code == 400
    assert b"Not a valid e-mail address: nobody" in response.content
    assert not Communication.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("centre_a", 403), ("centre_b", 403), ("physician", 403),
                                               ("pharmacist", 403), ("analyst", 403), ("ops", 200),
                                               ("admin", 200)])
def test_communicate_page_permissions(client, application, personas, role, status):
    client.force_login(personas[role])
    assert client.get(reverse("panel:communicate", args=[application.pk])).status_code == status


def test_communicate_page_unknown_application_is_404(client, personas):
    client.force_login(personas["ops"])
    assert client.get(reverse("panel:communicate", args=[999999])).status_code == 404
