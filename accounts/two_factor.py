"""Two-factor authentication (TOTP + single-use recovery codes) and login lockout.

Panel members, the operations manager and admins cast or administer decisions about a patient's
treatment: after the password they confirm a code from an authenticator app (django-otp TOTP
device) or one of ten recovery codes (django-otp static device). Until they do, the middleware
below sends every page to the two-factor step. API calls authenticated by an admin-issued token
are not affected; API calls riding on an unverified browser session are refused.
"""

from urllib.parse import urlencode

from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from audit.services import audit_log

TWO_FACTOR_ROLES = frozenset({Role.PANEL_PHYSICIAN, Role.PANEL_PHARMACIST, Role.OPS_MANAGER, Role.ADMIN})
RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
# Demo mode only (`manage.py demo_totp USER`): the RFC 6238 test secret, so a newcomer can add it
# to any authenticator app (base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ) or print the current code.
DEMO_TOTP_KEY = "3132333435363738393031323334353637383930"
# Session key holding freshly generated recovery codes until the page showing them once is read.
NEW_CODES_SESSION_KEY = "two_factor_new_codes"

AUDIT_EVENTS = {
    "accounts.two_factor.enrolled": "set up two-factor authentication",
    "accounts.two_factor.verified": "confirmed a two-factor code",
    "accounts.two_factor.recovery_used": "signed in with a recovery code",
    "accounts.two_factor.failed": "entered a wrong two-factor code",
    "accounts.two_factor.codes_regenerated": "generated new recovery codes",
    "accounts.locked_out": "was locked out after repeated wrong passwords",
}


class TwoFactorError(Exception):
    """A code that was refused, with the message to show."""


def two_factor_required(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)
                and (user.is_superuser or getattr(user, "role", None) in TWO_FACTOR_ROLES))


def confirmed_totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_totp_device(user) -> TOTPDevice:
    """The unconfirmed device shown on the set-up page; the same secret until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG (no image request, no inline style)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(device.config_url, image_factory=SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def base32_secret(device: TOTPDevice) -> str:
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _normalise(code: str) -> str:
    return "".join((code or "").split()).lower()


def recovery_codes_issue(user) -> list[str]:
    """Replace the user's recovery codes with ten new single-use ones; returns them (shown once)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME,
                                                   defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def recovery_codes_regenerate(user) -> list[str]:
    codes = recovery_codes_issue(user)
    audit_log(code="accounts.two_factor.codes_regenerated", actor=user, obj=user)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def enrol_confirm(request, code: str) -> list[str]:
    """Confirm the pending authenticator with a first code; verifies the session, issues codes."""
    user = request.user
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or confirmed_totp_device(user) is not None:
        raise TwoFactorError("Two-factor authentication is already set up for this account.")
    if not device.verify_token(_normalise(code)):
        audit_log(code="accounts.two_factor.failed", actor=user, obj=user, context={"step": "enrol"})
        raise TwoFactorError("That code is not valid. Scan the QR code again and enter the 6-digit code "
                             "your app shows now.")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    codes = recovery_codes_issue(user)
    otp_login(request, device)
    audit_log(code="accounts.two_factor.enrolled", actor=user, obj=user)
    return codes


def verify(request, code: str):
    """Check a TOTP or recovery code for the logged-in user and mark the session verified."""
    user = request.user
    token = _normalise(code)
    if not token:
        raise TwoFactorError("Enter the 6-digit code from your authenticator app, or a recovery code.")
    device = confirmed_totp_device(user)
    if device is not None:
        allowed, details = device.verify_is_allowed()
        if not allowed:
            wait = ""
            if details and details.get("locked_until"):
                from django.utils import timezone

                seconds = max(1, int((details["locked_until"] - timezone.now()).total_seconds()))
                wait = f" Try again in {seconds} seconds."
            raise TwoFactorError(f"Too many wrong codes.{wait}")
        if token.isdigit() and device.verify_token(token):
            otp_login(request, device)
            audit_log(code="accounts.two_factor.verified", actor=user, obj=user)
            return device
    with transaction.atomic():
        for recovery in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if recovery.verify_token(token):  # deletes the token: each code works once
                otp_login(request, recovery)
                audit_log(code="accounts.two_factor.recovery_used", actor=user, obj=user,
                          context={"codes_left": recovery.token_set.count()})
                return recovery
    audit_log(code="accounts.two_factor.failed", actor=user, obj=user, context={"step": "verify"})
    raise TwoFactorError("That code is not valid. Check that your phone's clock is right, or use one of "
                         "your recovery codes.")


def demo_device(user) -> TOTPDevice:
    """Demo mode: give the user a confirmed authenticator with the documented demo secret."""
    if not settings.DEMO_MODE:
        raise TwoFactorError("The demo authenticator exists only in demo mode (DEMO_MODE=1).")
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, key=DEMO_TOTP_KEY, confirmed=True)
    if not recovery_codes_left(user):
        recovery_codes_issue(user)
    return device


def safe_next(request, fallback: str = "") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback or reverse(settings.LOGIN_REDIRECT_URL)


class TwoFactorRequiredMiddleware:
    """Sends users who need two factors to the two-factor step until their session is verified."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.TWO_FACTOR_REQUIRED and self._blocks(request):
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        return (path.startswith(("/accounts/two-factor/", settings.STATIC_URL, "/healthz"))
                or path in (reverse("accounts:logout"), reverse("accounts:login")))

    def _blocks(self, request) -> bool:
        user = getattr(request, "user", None)
        if not two_factor_required(user) or user.is_verified() or self._exempt(request.path):
            return False
        # Token-authenticated API calls carry their own credentials, issued by an admin.
        return not (request.path.startswith("/api/") and request.META.get("HTTP_AUTHORIZATION"))

    @staticmethod
    def _refuse(request):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Two-factor verification is required for this session."}, status=403)
        target = reverse("accounts:two_factor")
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        if request.headers.get("HX-Request"):
            # Not a 302: the browser would follow it inside the htmx request and swap the whole
            # two-factor page into the fragment. An empty answer with HX-Redirect moves the page.
            response = HttpResponse(status=200)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, which needs the request to know the address.

    Logins through the site always pass the request; internal calls without one (a shell, the
    test client's login) have no address to count against and go straight to the model backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


@receiver(user_locked_out)
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    user = get_user_model().objects.filter(username=username).first() if username else None
    audit_log(code="accounts.locked_out", obj=user, context={"username": username or ""}, ip=ip_address)
