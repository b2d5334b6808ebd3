import pytest

from accounts.roles import Role
from tests.factories import CentreFactory, UserFactory


@pytest.fixture(autouse=True)
def _celery_eager(settings):
    # Unit and view tests run tasks in-process; tests about Celery start a real worker instead.
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


class _NoRates(dict):
    def __missing__(self, scope):
        return None


@pytest.fixture(autouse=True)
def _security_steps_off(settings, monkeypatch):
    """Tests log panel members in with force_login and call the API in bursts: the two-factor step
    and the API throttles are switched off here and back on by the tests that prove them
    (tests/security: the `two_factor_on` and `throttles_on` fixtures)."""
    from rest_framework.throttling import SimpleRateThrottle

    settings.TWO_FACTOR_REQUIRED = False
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", _NoRates())


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas and factories create users in most tests; the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def centre_a(db):
    return CentreFactory(code="ctra", name="Centre A")


@pytest.fixture
def centre_b(db):
    return CentreFactory(code="ctrb", name="Centre B")


@pytest.fixture
def personas(db, centre_a, centre_b):
    """Named users for access tests: one per role, and a centre user at each of two centres."""
    return {
        "centre_a": UserFactory(username="centre_a", role=Role.CENTRE_USER, centre=centre_a),
        "centre_b": UserFactory(username="centre_b", role=Role.CENTRE_USER, centre=centre_b),
        "physician": UserFactory(username="physician", role=Role.PANEL_PHYSICIAN),
        "pharmacist": UserFactory(username="pharmacist", role=Role.PANEL_PHARMACIST),
        "ops": UserFactory(username="ops", role=Role.OPS_MANAGER),
        "admin": UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True),
        "analyst": UserFactory(username="analyst", role=Role.ANALYST),
    }


@pytest.fixture
def reference_data(db):
    """The products and failure reasons seeded by migration, restored if a flush emptied them.

    Transactional tests (live server, threads) end with a flush; the seed migration is
    idempotent, so re-running it puts back exactly what `migrate` created.
    """
    import importlib

    from django.apps import apps

    from cases.models import Product

    if not Product.objects.exists():
        importlib.import_module("cases.migrations.0002_products_and_reasons").seed(apps, None)
