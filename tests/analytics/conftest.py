from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from cases.demo import registry_is_empty

# shared/ sits beside the checkout, in development and in CI alike.
CHECK_CONTRACT = Path(settings.BASE_DIR).parent / "shared" / "tools" / "check_contract.py"


@pytest.fixture(scope="module")
def registry(django_db_setup, django_db_blocker):
    """The default demo registry, loaded once per module in a transaction rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        args = [] if registry_is_empty() else ["--reset"]
        call_command("seed_demo", *args, stdout=open("/dev/null", "w"))  # noqa: SIM115
        yield
        transaction.set_rollback(True)


@pytest.fixture
def people(db):
    """One user per role, named apart from the demo registry's own logins (analyst, ops, admin ...)."""
    from accounts.roles import Role
    from tests.factories import CentreFactory, UserFactory

    centre = CentreFactory(code="rpt-ctr", name="Report test centre")
    return {role.value: UserFactory(username=f"rpt-{role.value}", role=role,
                                    centre=centre if role == Role.CENTRE_USER else None,
                                    is_staff=role == Role.ADMIN)
            for role in Role}
