"""Playwright driving Debian's Chromium against the live test server."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures in the
# same thread are still synchronous, so Django's async-safety guard does not apply here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


@pytest.fixture(scope="session")
def browser():
    if not _chromium_available():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`")
        pytest.skip("Chromium is not installed (apt-get install -y chromium); CI requires it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


@pytest.fixture
def new_page(browser, live_server):
    """A fresh browser context per user: each person has their own cookies.

    Every page runs under the site's real Content-Security-Policy, and any violation Chromium reports
    (an inline style or script that htmx or a template slipped in, a blocked resource) fails the test.
    """
    contexts, violations = [], []

    def make(username=None, password="a-long-test-password"):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
                if _is_csp_violation(message.text) else None)
        page.set_default_timeout(15_000)
        if username:
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(lambda url: "/accounts/login/" not in url)
            if "/accounts/two-factor/" in page.url:
                _complete_two_factor(page, username)
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


def _complete_two_factor(page, username):
    """Enter the current TOTP code when the two-factor step is switched on (tests/security):
    from the key shown on the set-up page, or from the user's device when already set up."""
    from base64 import b32decode
    from binascii import unhexlify

    from django_otp.oath import totp

    if "/setup/" in page.url:
        key = b32decode(page.locator("#totp-secret").inner_text().replace(" ", ""))
        button = "Confirm"
    else:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        key = unhexlify(TOTPDevice.objects.get(user__username=username, confirmed=True).key)
        button = "Verify"
    page.get_by_label("Code", exact=True).fill(f"{totp(key):06d}")
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(lambda url: "/accounts/two-factor/setup/" not in url and "/verify/" not in url)
