"""Builders shared by the operations tests: a full panel and applications brought to each state."""

from __future__ import annotations

from accounts.roles import Role
from panel import services
from panel.models import MemberRole
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

PHYSICIAN, PHARMACIST = MemberRole.PHYSICIAN, MemberRole.PHARMACIST


def full_panel() -> dict[str, list]:
    """5 physicians and 3 pharmacists, none affiliated with any centre."""
    return {PHYSICIAN: [PanelMemberFactory(role=PHYSICIAN) for _ in range(5)],
            PHARMACIST: [PanelMemberFactory(role=PHARMACIST) for _ in range(3)]}


def submitted(centre, submitter=None, **draft):
    """An application of ``centre`` submitted through the services (so it is under review)."""
    submitter = submitter or UserFactory(role=Role.CENTRE_USER, centre=centre)
    attempt = OOSAttemptFactory(apheresis__case__patient__centre=centre, viable_car_t_dose=1.2e8)
    application = services.application_create_draft(user=submitter, attempt=attempt,
                                                    clinical_justification="Refractory disease",
                                                    **{"contact": "Dr A, 0100", **draft})
    return services.application_submit(application_id=application.pk, user=submitter)


def vote(application, member, choice):
    return services.vote_cast(application_id=application.pk, user=member.user, choice=choice)


def approved(centre, panel, submitter=None):
    """Approved with 3 physicians and 1 pharmacist."""
    application = submitted(centre, submitter)
    for member in panel[PHYSICIAN][:3] + panel[PHARMACIST][:1]:
        vote(application, member, "approve")
    application.refresh_from_db()
    return application


def declined(centre, panel, submitter=None):
    """Declined: three physicians decline, so three physician approvals can no longer be reached."""
    application = submitted(centre, submitter)
    for member in panel[PHYSICIAN][:3]:
        vote(application, member, "decline")
    application.refresh_from_db()
    return application
