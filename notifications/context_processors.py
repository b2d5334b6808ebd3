from notifications.selectors import unread_count


def unread_notifications(request):
    """The header's unread count (one COUNT query per page, only for signed-in users)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(user)}
