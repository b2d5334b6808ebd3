"""Two-factor authentication for the roles that decide: enforced, enrolment, codes, recovery codes."""

import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from accounts import two_factor
from audit.models import AuditEvent
from tests.security.conftest import code_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor_on")]

SETUP = "/accounts/two-factor/setup/"
VERIFY = "/accounts/two-factor/verify/"


def _login(client, user):
    client.force_login(user)
    return client


def _enrolled(user):
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    codes = two_factor.recovery_codes_issue(user)
    return device, codes


@pytest.mark.parametrize("persona", ["physician", "pharmacist", "ops", "admin"])
def test_deciding_roles_are_sent_to_the_two_factor_step_before_any_page(client, personas, persona):
    _login(client, personas[persona])
    for url in ("/", "/cases/", "/panel/applications/", "/accounts/password/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/two-factor/"), url
    # Not enrolled yet: the step is the set-up page.
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith(SETUP)


@pytest.mark.parametrize("persona", ["centre_a", "analyst"])
def test_other_roles_need_no_second_factor(client, personas, persona):
    _login(client, personas[persona])
    assert client.get("/").status_code == 200


def test_an_unverified_session_cannot_use_the_api_but_a_token_can(client, personas):
    physician = personas["physician"]
    _login(client, physician)
    response = client.get("/api/v1/applications/")
    assert response.status_code == 403
    assert "Two-factor" in response.json()["detail"]
    token = Token.objects.create(user=physician)
    anonymous = client.__class__()
    assert anonymous.get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_htmx_requests_are_redirected_by_htmx(client, personas):
    _login(client, personas["physician"])
    response = client.get("/cases/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith("/accounts/two-factor/")
    # Not a 302: the browser would follow it inside the fragment request and swap the whole
    # two-factor page into the fragment (the header badge then nested copies of the page).
    assert response.status_code == 200
    assert response.content == b""


def test_the_half_signed_in_page_has_no_menu_and_polls_nothing(client, personas):
    _login(client, personas["physician"])
    page = client.get("/", follow=True)
    assert page.redirect_chain[-1][0].startswith(SETUP)
    html = page.content.decode()
    assert "hx-get" not in html
    assert "/notifications/" not in html
    assert 'href="/cases/"' not in html


def test_enrolment_shows_qr_and_secret_then_confirms_and_shows_ten_codes_once(client, personas):
    physician = personas["physician"]
    _login(client, physician)
    page = client.get(SETUP + "?next=/cases/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and "<img" not in html
    device = TOTPDevice.objects.get(user=physician, confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    assert secret.replace(" ", "") == two_factor.base32_secret(device).replace(" ", "")
    # Reloading keeps the same secret until it is confirmed.
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=physician).count() == 1

    response = client.post(SETUP, {"code": code_for(device), "next": "/cases/"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/recovery-codes/")
    device.refresh_from_db()
    assert device.confirmed
    shown = client.get(response["Location"])
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", shown.content.decode())
    assert len(codes) == 10 == len(set(codes))
    assert set(codes) == set(StaticToken.objects.filter(device__user=physician).values_list("token", flat=True))
    assert 'href="/cases/"' in shown.content.decode()
    # Shown once: the page does not repeat them.
    again = client.get("/accounts/two-factor/recovery-codes/").content.decode()
    assert not any(code in again for code in codes)
    assert "10 unused recovery codes" in again
    # The session is verified: pages open.
    assert client.get("/cases/").status_code == 200
    assert AuditEvent.objects.filter(code="accounts.two_factor.enrolled", actor=physician).count() == 1


def test_enrolment_refuses_a_wrong_code(client, personas):
    physician = personas["physician"]
    _login(client, physician)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=physician)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(SETUP, {"code": wrong})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/").status_code == 302


def test_enrolled_user_enters_a_code_and_a_wrong_code_is_refused(client, personas):
    ops = personas["ops"]
    device, _ = _enrolled(ops)
    _login(client, ops)
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith(VERIFY)
    # Enrolled: the set-up page cannot replace the device with only a password.
    assert client.get(SETUP)["Location"].startswith(VERIFY)

    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    refused = client.post(VERIFY, {"code": wrong, "next": "/cases/"})
    assert refused.status_code == 400
    assert "not valid" in refused.content.decode()
    assert client.get("/cases/").status_code == 302
    assert AuditEvent.objects.filter(code="accounts.two_factor.failed", actor=ops).exists()

    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    accepted = client.post(VERIFY, {"code": code_for(device), "next": "/cases/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/cases/"
    assert client.get("/cases/").status_code == 200
    assert AuditEvent.objects.filter(code="accounts.two_factor.verified", actor=ops).count() == 1


def test_a_used_code_cannot_be_replayed_in_another_session(client, personas):
    ops = personas["ops"]
    device, _ = _enrolled(ops)
    code = code_for(device)
    _login(client, ops)
    assert client.post(VERIFY, {"code": code})["Location"] == "/"
    other = client.__class__()
    _login(other, ops)
    assert other.post(VERIFY, {"code": code}).status_code == 400


def test_repeated_wrong_codes_are_slowed_down(client, personas):
    admin = personas["admin"]
    device, _ = _enrolled(admin)
    _login(client, admin)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    client.post(VERIFY, {"code": wrong})
    response = client.post(VERIFY, {"code": code_for(device)})
    assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()


def test_a_recovery_code_works_once(client, personas):
    pharmacist = personas["pharmacist"]
    _, codes = _enrolled(pharmacist)
    _login(client, pharmacist)
    response = client.post(VERIFY, {"code": codes[3].upper(), "next": "/cases/"})
    assert response.status_code == 302 and response["Location"] == "/cases/"
    assert client.get("/cases/").status_code == 200
    assert two_factor.recovery_codes_left(pharmacist) == 9
    assert AuditEvent.objects.filter(code="accounts.two_factor.recovery_used", actor=pharmacist).count() == 1

    second = client.__class__()
    _login(second, pharmacist)
    assert second.post(VERIFY, {"code": codes[3]}).status_code == 400
    assert second.get("/cases/").status_code == 302


def test_new_recovery_codes_cancel_the_old_ones(client, personas):
    pharmacist = personas["pharmacist"]
    _, old = _enrolled(pharmacist)
    _login(client, pharmacist)
    client.post(VERIFY, {"code": old[0]})
    response = client.post("/accounts/two-factor/recovery-codes/", follow=True)
    new = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert two_factor.recovery_codes_left(pharmacist) == 10


def test_next_must_stay_on_this_site(client, personas):
    ops = personas["ops"]
    device, _ = _enrolled(ops)
    _login(client, ops)
    response = client.post(VERIFY, {"code": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_the_demo_command_prints_a_code_that_logs_in(client, personas, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEMO_MODE = True
    out = StringIO()
    call_command("demo_totp", "physician", stdout=out)
    code = re.search(r"code for physician: (\d{6})", out.getvalue()).group(1)
    assert "GEZD GNBV" in out.getvalue()
    _login(client, personas["physician"])
    assert client.post(VERIFY, {"code": code})["Location"] == "/"
    assert client.get("/cases/").status_code == 200


def test_the_demo_key_is_refused_outside_demo_mode(personas, settings):
    from django.core.management import CommandError, call_command

    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="only in demo mode"):
        call_command("demo_totp", "physician")
    assert not TOTPDevice.objects.filter(user=personas["physician"]).exists()


def test_password_login_then_code_in_one_flow(client, personas):
    """Through the real login form (not force_login): password, then the code."""
    physician = personas["physician"]
    physician.set_password("a-long-test-password")
    physician.save()
    device, _ = _enrolled(physician)
    response = client.post("/accounts/login/", {"username": "physician", "password": "a-long-test-password"},
                           follow=True)
    assert response.redirect_chain[-1][0].startswith(VERIFY)
    response = client.post(VERIFY, {"code": code_for(device)}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
