"""API throttles beyond DRF's anonymous and per-user ones."""

from rest_framework.throttling import UserRateThrottle


class VoteRateThrottle(UserRateThrottle):
    """A tighter per-user rate for casting votes (POST .../applications/{id}/votes/).

    Listed in DEFAULT_THROTTLE_CLASSES so it needs nothing on the view: it counts only the vote
    action and lets every other request through.
    """

    scope = "vote"

    def allow_request(self, request, view):
        if request.method != "POST" or getattr(view, "action", None) != "votes":
            return True
        return super().allow_request(request, view)
