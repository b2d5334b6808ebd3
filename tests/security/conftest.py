import time
from binascii import unhexlify

import pytest
from django_otp.oath import TOTP


@pytest.fixture
def two_factor_on(settings):
    """The production behaviour: panel, operations and admin sessions need a verified second factor."""
    settings.TWO_FACTOR_REQUIRED = True


@pytest.fixture
def throttles_on(settings, monkeypatch):
    """Real throttle rates on a private in-memory cache (a fresh count for each test)."""
    from rest_framework.throttling import SimpleRateThrottle

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "throttle-tests"}}
    from django.core.cache import cache

    cache.clear()

    def set_rates(**rates):
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)

    set_rates(**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    return set_rates


def code_for(device, offset_steps: int = 0) -> str:
    """The TOTP code a phone would show for this device now (or `offset_steps` periods away)."""
    model = TOTP(unhexlify(device.key), device.step, device.t0, device.digits)
    model.time = time.time() + offset_steps * device.step
    return f"{model.token():0{device.digits}d}"
