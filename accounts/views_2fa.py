"""The two-factor step after the password: set up an authenticator, confirm a code, recovery codes."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import two_factor
from accounts.two_factor import TwoFactorError


@login_required
def two_factor_start(request):
    """Where the middleware sends an unverified session: verify if set up, otherwise set up."""
    query = request.GET.urlencode()
    if not two_factor.two_factor_required(request.user) or request.user.is_verified():
        return redirect(two_factor.safe_next(request))
    enrolled = two_factor.confirmed_totp_device(request.user) is not None
    name = "accounts:two_factor_verify" if enrolled else "accounts:two_factor_setup"
    return redirect(reverse(name) + (f"?{query}" if query else ""))


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    user = request.user
    if two_factor.confirmed_totp_device(user) is not None:
        # Re-enrolling needs the current factor first: a password alone must not replace it.
        return redirect(reverse("accounts:two_factor_verify") + _next_query(request))
    device = two_factor.pending_totp_device(user)
    error = ""
    if request.method == "POST":
        try:
            codes = two_factor.enrol_confirm(request, request.POST.get("code", ""))
        except TwoFactorError as exc:
            error = str(exc)
        else:
            request.session[two_factor.NEW_CODES_SESSION_KEY] = codes
            return redirect(reverse("accounts:recovery_codes") + _next_query(request))
    return render(request, "accounts/two_factor_setup.html", {
        "qr_svg": two_factor.qr_svg(device), "secret": two_factor.base32_secret(device), "error": error,
        "next": two_factor.safe_next(request), "demo_mode": settings.DEMO_MODE,
    }, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    user = request.user
    if two_factor.confirmed_totp_device(user) is None and not two_factor.recovery_codes_left(user):
        return redirect(reverse("accounts:two_factor_setup") + _next_query(request))
    error = ""
    if request.method == "POST":
        try:
            two_factor.verify(request, request.POST.get("code", ""))
        except TwoFactorError as exc:
            error = str(exc)
        else:
            return redirect(two_factor.safe_next(request))
    return render(request, "accounts/two_factor_verify.html", {
        "error": error, "next": two_factor.safe_next(request), "demo_mode": settings.DEMO_MODE,
    }, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """Shows new recovery codes once; a verified user may replace them (the old ones stop working)."""
    if request.method == "POST":
        if not request.user.is_verified():
            return redirect("accounts:two_factor")
        request.session[two_factor.NEW_CODES_SESSION_KEY] = two_factor.recovery_codes_regenerate(request.user)
        return redirect("accounts:recovery_codes")
    codes = request.session.pop(two_factor.NEW_CODES_SESSION_KEY, None)
    return render(request, "accounts/recovery_codes.html", {
        "codes": codes, "codes_left": two_factor.recovery_codes_left(request.user),
        "next": two_factor.safe_next(request), "required": two_factor.two_factor_required(request.user),
    })


def _next_query(request) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    return f"?{urlencode({'next': target})}" if target else ""

