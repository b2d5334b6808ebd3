"""URL patterns of panel/views_ops.py; included by panel/urls.py under the "panel" namespace."""

from django.urls import path

from panel import views_ops

urlpatterns: list = [
    path("ops/", views_ops.dashboard, name="dashboard"),
    path("ops/applications/<int:pk>/communicate/", views_ops.communicate, name="communicate"),
    path("ops/members/", views_ops.members, name="members"),
    path("ops/members/new/", views_ops.member_add, name="member_add"),
    path("ops/members/<int:pk>/", views_ops.member_edit, name="member_edit"),
]
