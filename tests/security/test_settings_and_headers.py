"""Production settings, security headers, CSP-clean templates, session timeout, body limits, secrets."""

import json
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.sessions import REFRESHED_AT

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(DEMO_MODE="0", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50),
               ALLOWED_HOSTS="oos-panel.example.nhs.uk", DJANGO_SETTINGS_MODULE="config.settings", **extra)
    return env


def test_production_settings_pass_the_deployment_check_without_warnings():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_values_of_the_security_settings():
    code = ("from django.conf import settings as s; "
            "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_PROXY_SSL_HEADER, s.TWO_FACTOR_REQUIRED)")
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT,
                            env=_production_env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "True", "True", "True", "True",
                                     "('HTTP_X_FORWARDED_PROTO',", "'https')", "True"], result.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_security_headers(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def _templates():
    for directory in [ROOT / "templates", *ROOT.glob("*/templates")]:
        yield from directory.rglob("*.html")


INLINE = [
    (re.compile(r"\sstyle\s*=", re.I), "an inline style attribute"),
    (re.compile(r"<style[\s>]", re.I), "an inline <style> element"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"hx-on", re.I), "an hx-on handler (evaluated inline)"),
]


def test_templates_need_no_unsafe_inline():
    """The policy forbids inline code: every template keeps scripts and styles in static files."""
    problems = []
    for template in _templates():
        text = template.read_text(encoding="utf-8")
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert not problems, "\n".join(problems)


def test_htmx_does_not_inject_its_indicator_style_nor_settle_style_attributes():
    # Settling copies the listed attributes from the old element to the new one; a style attribute left
    # by a password manager would then be an inline style the CSP blocks (and reports).
    base = (ROOT / "templates" / "base.html").read_text(encoding="utf-8")
    config = json.loads(re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', base).group(1))
    assert config["includeIndicatorStyles"] is False
    assert "style" not in config["attributesToSettle"] and "class" in config["attributesToSettle"]
    assert ".htmx-indicator" in (ROOT / "static" / "css" / "app.css").read_text(encoding="utf-8")


def _age_refresh(seconds):
    # As if the session had last been written ``seconds`` ago (its end is set separately).
    store = SessionStore(session_key=Session.objects.get().session_key)
    store[REFRESHED_AT] -= seconds
    store.save()


@pytest.mark.django_db
def test_a_session_ends_after_thirty_idle_minutes(client, personas):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_REFRESH_SECONDS == 60
    client.force_login(personas["centre_a"])
    response = client.get("/")
    assert response.status_code == 200
    assert response.cookies["sessionid"]["max-age"] == 1800
    session = Session.objects.get()
    # Each request moves the end 30 minutes on (idle timeout, not a fixed lifetime) ...
    assert abs((session.expire_date - timezone.now()) - timedelta(minutes=30)) < timedelta(seconds=30)
    _age_refresh(61)
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get("/").status_code == 200
    assert Session.objects.get().expire_date > timezone.now() + timedelta(minutes=29)
    # ... written at most once a minute: a request soon after the last write leaves the end where it is.
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=5))
    assert client.get("/").status_code == 200
    assert Session.objects.get().expire_date < timezone.now() + timedelta(minutes=6)
    # Thirty-one minutes without a request: the session has expired.
    Session.objects.update(expire_date=timezone.now() - timedelta(minutes=1))
    response = client.get("/cases/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_page_view_between_refreshes_writes_no_session(client, personas):
    client.force_login(personas["centre_a"])
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/cases/").status_code == 200
    assert not [q for q in queries.captured_queries if "django_session" in q["sql"]
                and not q["sql"].startswith("SELECT")]


@pytest.mark.django_db
def test_an_anonymous_visit_creates_no_session(client):
    assert client.get("/accounts/login/").status_code == 200
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_oversized_request_bodies_are_refused(client):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 5 * 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= settings.UPLOAD_MAX_BYTES
    body = "username=x&password=" + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post("/accounts/login/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"), "a GitHub token"),
    (re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"sk_live_[A-Za-z0-9]{16,}"), "a payment key"),
    (re.compile(r"""SECRET_KEY\s*[=:]\s*["'](?!demo-only-insecure-key)[^"'\s]{16,}["']"""), "a hard-coded SECRET_KEY"),
    (re.compile(r"://[^/\s:@\"']+:(?!pass@|password@|\$\{?|<)[^@\s/\"']{6,}@"), "a password in a URL"),
]


def test_no_secret_is_committed():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [name for name in listed.stdout.split("\0") if name]
    assert not [name for name in files if Path(name).name in (".env", "id_rsa", "id_ed25519")
                or name.endswith((".pem", ".key", ".p12"))]
    problems = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000 or name.startswith("static/vendor/"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(text):
                problems.append(f"{name}: {what}")
    assert not problems, "\n".join(problems)
