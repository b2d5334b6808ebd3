import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role
from panel import services
from panel.models import MemberRole
from tests.factories import UserFactory
from tests.panel.factories import OOSAttemptFactory, PanelMemberFactory

PHYSICIAN, PHARMACIST = MemberRole.PHYSICIAN, MemberRole.PHARMACIST


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api_as():
    return token_client


@pytest.fixture
def panel(db):
    """5 physicians and 3 pharmacists, none affiliated with centre A."""
    return {PHYSICIAN: [PanelMemberFactory(role=PHYSICIAN) for _ in range(5)],
            PHARMACIST: [PanelMemberFactory(role=PHARMACIST) for _ in range(3)]}


def submit_application(centre, submitter=None):
    submitter = submitter or UserFactory(role=Role.CENTRE_USER, centre=centre)
    attempt = OOSAttemptFactory(apheresis__case__patient__centre=centre, viable_car_t_dose=1.2e8)
    draft = services.application_create_draft(user=submitter, attempt=attempt, clinical_justification="Refractory",
                                              urgency="urgent", contact="Dr A, 0100")
    return services.application_submit(application_id=draft.pk, user=submitter)


@pytest.fixture
def application(panel, centre_a):
    return submit_application(centre_a)
