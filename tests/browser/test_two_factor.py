"""In Chromium: password then code, under the real Content-Security-Policy (the `new_page` fixture fails a
test on any violation)."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("two_factor_on")]


@pytest.fixture
def two_factor_on(settings):
    """The production behaviour (the suite switches the second factor off for other tests)."""
    settings.TWO_FACTOR_REQUIRED = True


def test_a_physician_sets_up_the_authenticator_then_uses_the_site(new_page, personas):
    page = new_page("physician")
    # The set-up step was completed with the code for the key shown on the page; codes follow.
    assert "/accounts/two-factor/recovery-codes/" in page.url
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    assert TOTPDevice.objects.get(user=personas["physician"]).confirmed
    page.get_by_role("button", name="I have saved my codes").click()
    page.goto("/panel/queue/")
    assert page.get_by_role("heading").first.is_visible()
    page.goto("/cases/")
    assert "/accounts/two-factor/" not in page.url  # and no CSP violation on the way (the new_page fixture)


def test_an_enrolled_ops_manager_logs_in_with_a_code(new_page, personas):
    TOTPDevice.objects.create(user=personas["ops"], name="phone", confirmed=True)
    page = new_page("ops")
    assert "/accounts/two-factor/" not in page.url
    expect(page.get_by_role("button", name="Log out").first).to_be_visible()
