"""Applications in each state of the centre's side, and PDFs to upload, for the centre page tests."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from panel import services
from panel.models import ApplicationStatus, Communication, MemberRole, OOSApplication
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory


def pdf_bytes(text: str = "Certificate of analysis") -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def pdf_upload(name: str = "CoA lot 7.pdf", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, pdf_bytes() if content is None else content, content_type="application/pdf")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def voting_panel(db):
    return {MemberRole.PHYSICIAN: [PanelMemberFactory(role=MemberRole.PHYSICIAN) for _ in range(4)],
            MemberRole.PHARMACIST: [PanelMemberFactory(role=MemberRole.PHARMACIST)]}


def oos_attempt(centre, **kwargs):
    return OOSAttemptFactory(apheresis__case__patient__centre=centre, viable_car_t_dose=1.2e8, **kwargs)


def draft_for(user, attempt=None, **values):
    attempt = attempt or oos_attempt(user.centre)
    values = {"clinical_justification": "Refractory disease, no alternative", "contact": "Dr A, 0100 000",
              **values}
    return services.application_create_draft(user=user, attempt=attempt, **values)


def submitted_for(user, **values):
    draft = draft_for(user, **values)
    return services.application_submit(application_id=draft.pk, user=user)


def decided(application, panel, *, approve: bool = True):
    choice = "approve" if approve else "decline"
    voters = [*panel[MemberRole.PHYSICIAN], *panel[MemberRole.PHARMACIST]]
    for member in voters:
        services.vote_cast(application_id=application.pk, user=member.user, choice=choice)
        application.refresh_from_db()
        if application.status != ApplicationStatus.UNDER_REVIEW:
            break
    return application


def communicated(application, ops_user, *, conditions: str = "Infuse within 7 days"):
    """The decision as the operations manager records it (the letter is a stored private PDF)."""
    communication = Communication(application=application, sent_by=ops_user, sent_at=timezone.now(),
                                  recipients=["centre@example.org"], conditions=conditions, letter_sha256="0" * 64)
    communication.letter.save("letter.pdf", ContentFile(pdf_bytes("Decision letter")), save=False)
    communication.save()
    OOSApplication.objects.filter(pk=application.pk).update(status=ApplicationStatus.COMMUNICATED)
    application.refresh_from_db()
    return application
