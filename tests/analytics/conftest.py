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
