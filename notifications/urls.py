from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("<int:pk>/read/", views.notification_read, name="read"),
    path("unread/", views.unread_badge, name="unread_badge"),
    path("read-all/", views.notification_read_all, name="read_all"),
]
