import datetime as dt

import factory

from accounts.roles import Role
from panel.models import MemberRole, PanelMember
from tests.factories import AttemptFactory, UserFactory

_USER_ROLE = {MemberRole.PHYSICIAN: Role.PANEL_PHYSICIAN, MemberRole.PHARMACIST: Role.PANEL_PHARMACIST,
              MemberRole.OPS: Role.OPS_MANAGER}


class PanelMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PanelMember
        skip_postgeneration_save = True

    role = MemberRole.PHYSICIAN
    user = factory.LazyAttribute(lambda o: UserFactory(role=_USER_ROLE[o.role]))
    active_from = dt.date(2020, 1, 1)

    @factory.post_generation
    def affiliations(self, create, extracted, **kwargs):
        if create and extracted:
            self.affiliations.set(extracted)


class OOSAttemptFactory(AttemptFactory):
    outcome = "oos"
