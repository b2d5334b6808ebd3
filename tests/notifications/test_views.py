"""The notifications page and the header's unread count."""

import pytest
from django.urls import reverse

from notifications.models import Channel, Notification, OutboxMessage

pytestmark = pytest.mark.django_db
URL = reverse("notifications:list")


def _notification(user, subject, *, read=False, url=""):
    from django.utils import timezone

    outbox = OutboxMessage.objects.create(idempotency_key=f"test:{subject}:{user.pk}", channel=Channel.IN_APP,
                                          recipient=user, subject=subject, body=f"Body of {subject}", url=url)
    return Notification.objects.create(user=user, outbox=outbox, subject=subject, body=outbox.body, url=url,
                                       read_at=timezone.now() if read else None)


def test_list_shows_my_notifications_unread_first(client, personas):
    me, other = personas["physician"], personas["pharmacist"]
    _notification(me, "old unread")
    _notification(me, "read one", read=True)
    _notification(me, "new unread")
    _notification(other, "not mine")
    client.force_login(me)

    page = client.get(URL).content.decode()

    assert "not mine" not in page
    assert page.index("new unread") < page.index("old unread") < page.index("read one")
    # The header loads its badge, which counts the unread ones.
    assert f'hx-get="{reverse("notifications:unread_badge")}"' in page
    badge = client.get(reverse("notifications:unread_badge"), headers={"HX-Request": "true"}).content.decode()
    assert 'aria-label="2 unread"' in badge and "<html" not in badge


def test_badge_without_unread_shows_no_count(client, personas):
    _notification(personas["ops"], "seen", read=True)
    client.force_login(personas["ops"])
    assert client.get(reverse("notifications:unread_badge")).content.decode().strip() == "Notifications"


def test_pages_spend_no_query_on_the_unread_count(client, personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(personas["ops"])
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("home"))
    assert not any("notifications_notification" in query["sql"] for query in queries.captured_queries)


def test_empty_state(client, personas):
    client.force_login(personas["ops"])
    page = client.get(URL).content.decode()
    assert "You have no notifications." in page and "Mark all as read" not in page


def test_mark_one_read_and_open_its_link(client, personas):
    me = personas["physician"]
    notification = _notification(me, "vote", url="/panel/queue/")
    client.force_login(me)
    response = client.post(reverse("notifications:read", args=[notification.pk]), {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/panel/queue/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_open_never_redirects_off_site(client, personas):
    me = personas["physician"]
    notification = _notification(me, "evil", url="https://evil.example.org/")
    client.force_login(me)
    response = client.post(reverse("notifications:read", args=[notification.pk]), {"open": "1"})
    assert response["Location"] == URL


def test_cannot_mark_someone_elses_notification(client, personas):
    theirs = _notification(personas["pharmacist"], "theirs")
    client.force_login(personas["physician"])
    client.post(reverse("notifications:read", args=[theirs.pk]))
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read(client, personas):
    me = personas["physician"]
    for index in range(3):
        _notification(me, f"n{index}")
    theirs = _notification(personas["pharmacist"], "theirs")
    client.force_login(me)
    assert client.post(reverse("notifications:read_all")).status_code == 302
    assert not Notification.objects.filter(user=me, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_get_cannot_mark_read(client, personas):
    me = personas["physician"]
    notification = _notification(me, "x")
    client.force_login(me)
    assert client.get(reverse("notifications:read", args=[notification.pk])).status_code == 405


def test_login_required(client):
    assert client.get(URL).status_code == 302


def test_pagination_and_bounded_queries(client, personas, django_assert_max_num_queries):
    me = personas["physician"]
    for index in range(3):
        _notification(me, f"first {index}")
    client.force_login(me)
    with django_assert_max_num_queries(20) as small:
        client.get(URL)
    for index in range(60):
        _notification(me, f"more {index}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(URL).content.decode()
    assert "Page 1 of 3" in page and page.count("<article>") == 25
    assert "Page 3 of 3" in client.get(URL, {"page": 3}).content.decode()
