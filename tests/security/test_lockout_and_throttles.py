"""Login lockout (django-axes) and the API throttles."""

import pytest
from axes.models import AccessAttempt
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password"


def _try(client, username, password, ip="10.0.0.5"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_lock_the_username_from_that_address(client, personas):
    for _ in range(4):
        response = _try(client, "physician", "wrong-password-x")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    locked = _try(client, "physician", "wrong-password-x")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "15 minutes" in locked.content.decode()
    # Even the right password is refused while locked, with the same clear page.
    right = _try(client, "physician", PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    # Audited: every failure (the existing signal) and the lockout itself.
    assert AuditEvent.objects.filter(code="accounts.login_failed", context__username="physician").count() >= 5
    lockout = AuditEvent.objects.filter(code="accounts.locked_out").first()
    assert lockout.context["username"] == "physician" and lockout.ip == "10.0.0.5"
    assert lockout.object_id == str(personas["physician"].pk)


def test_the_lock_is_per_username_and_address(client, personas):
    for _ in range(5):
        _try(client, "physician", "wrong-password-x")
    # The same person from another address, and another user from the same address, can log in.
    assert _try(client.__class__(), "physician", PASSWORD, ip="10.0.0.6").status_code == 302
    assert _try(client.__class__(), "pharmacist", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, personas, settings):
    for _ in range(5):
        _try(client, "physician", "wrong-password-x")
    assert _try(client, "physician", PASSWORD).status_code == 429
    # Fifteen minutes later (the attempt's timestamp moved back) the right password works again.
    from datetime import timedelta

    from django.utils import timezone

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _try(client, "physician", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(personas["physician"].pk)


def test_a_successful_login_resets_the_count(client, personas):
    for _ in range(4):
        _try(client, "physician", "wrong-password-x")
    assert _try(client, "physician", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert _try(client, "physician", "wrong-password-x").status_code == 200


def test_user_api_calls_are_throttled(client, personas, throttles_on):
    throttles_on(anon="1000/min", user="3/min", vote="1000/min")
    token = Token.objects.create(user=personas["physician"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    statuses = [client.get("/api/v1/applications/", **auth).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Retry-After" in client.get("/api/v1/applications/", **auth)


def test_votes_have_a_tighter_rate_than_reading(client, personas, throttles_on):
    throttles_on(anon="1000/min", user="1000/min", vote="2/min")
    token = Token.objects.create(user=personas["physician"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    # The throttle runs before the view looks the application up, so any id counts.
    url = "/api/v1/applications/999999/votes/"
    statuses = [client.post(url, {"choice": "abstain"}, content_type="application/json", **auth).status_code
                for _ in range(3)]
    assert statuses[2] == 429 and 429 not in statuses[:2]
    # Reading is not limited by the vote rate.
    assert client.get("/api/v1/applications/", **auth).status_code == 200
