"""Fixtures shared by the review, queue and information-request tests: a panel and a submitted application."""

import pytest

from accounts.roles import Role
from cases.models import ReleaseParameter, ReleaseResult
from panel import services
from panel.models import MemberRole
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

PHYSICIAN, PHARMACIST = MemberRole.PHYSICIAN, MemberRole.PHARMACIST


@pytest.fixture
def submitter(centre_a):
    return UserFactory(username="submitter_a", role=Role.CENTRE_USER, centre=centre_a,
                       email="clinician@centre-a.example")


@pytest.fixture
def panel(personas):
    """5 physicians and 3 pharmacists; the personas' physician and pharmacist hold two of the seats."""
    return {
        PHYSICIAN: [PanelMemberFactory(role=PHYSICIAN, user=personas["physician"]),
                    *[PanelMemberFactory(role=PHYSICIAN) for _ in range(4)]],
        PHARMACIST: [PanelMemberFactory(role=PHARMACIST, user=personas["pharmacist"]),
                     *[PanelMemberFactory(role=PHARMACIST) for _ in range(2)]],
    }


def submit_application(centre, submitter, *, contact_email="", urgency="urgent", fail_viability=True):
    attempt = OOSAttemptFactory(apheresis__case__patient__centre=centre, viable_car_t_dose=1.2e8)
    if fail_viability:
        viability = ReleaseParameter.objects.get(product=attempt.case.product, kind="viability")
        ReleaseResult.objects.create(attempt=attempt, parameter=viability, value_numeric=61, within_spec=False)
    draft = services.application_create_draft(user=submitter, attempt=attempt, clinical_justification="Refractory LBCL",
                                              urgency=urgency, contact="Dr A, 0100")
    if contact_email:
        draft.contact_email = contact_email
        draft.save(update_fields=["contact_email"])
    return services.application_submit(application_id=draft.pk, user=submitter)


@pytest.fixture
def application(centre_a, submitter, panel):
    return submit_application(centre_a, submitter, contact_email="oos-contact@centre-a.example")


def vote(application, member, choice, comment=""):
    return services.vote_cast(application_id=application.pk, user=member.user, choice=choice, comment=comment)
