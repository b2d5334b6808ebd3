"""The user's notifications: the list, and marking them read."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from notifications.models import Notification
from notifications.selectors import notifications_for

PAGE_SIZE = 25


@login_required
@require_GET
def notification_list(request):
    page = Paginator(notifications_for(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page})


@login_required
@require_GET
def unread_badge(request):
    """The header's link text with the unread count (htmx fragment)."""
    return render(request, "notifications/unread_badge.html")


@login_required
@require_POST
def notification_read(request, pk):
    """Mark one of the user's notifications read; then follow its link when asked to ("open")."""
    notification = Notification.objects.filter(pk=pk, user=request.user).first()
    if notification is None:
        return redirect("notifications:list")
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
    target = notification.url if request.POST.get("open") else ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all(request):
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    return redirect("notifications:list")
