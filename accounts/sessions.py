"""The idle timeout, kept without writing the session on every request."""

import time

from django.conf import settings

REFRESHED_AT = "_refreshed_at"


class SessionRefreshMiddleware:
    """Moves a signed-in session's end ``SESSION_COOKIE_AGE`` on from the latest request, writing the
    session at most once every ``SESSION_REFRESH_SECONDS``: the idle timeout holds to within that
    interval, and a page view in between costs no database write (``SESSION_SAVE_EVERY_REQUEST``
    would write on every one). After ``AuthenticationMiddleware``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            if now - request.session.get(REFRESHED_AT, 0) >= settings.SESSION_REFRESH_SECONDS:
                request.session[REFRESHED_AT] = now  # modified: SessionMiddleware saves it with a new expiry
        return self.get_response(request)
