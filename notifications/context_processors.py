from django.utils.functional import SimpleLazyObject

from notifications.selectors import unread_count


def unread_notifications(request):
    """The user's unread count, counted only if a template shows it.

    The header loads its badge with htmx (``notifications:unread_badge``, refreshed every minute)
    rather than from here, so an ordinary page costs no query for it.
    """
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user))}
