"""Panel pages: the centre's applications and the members' review pages (views.py), and the
operations manager's pages and membership management (views_ops.py)."""

from django.urls import path  # noqa: F401

app_name = "panel"

urlpatterns: list = []

try:
    from panel.urls_ops import urlpatterns as ops_urlpatterns
except ImportError:  # pragma: no cover - while the ops pages are not installed
    ops_urlpatterns = []

urlpatterns += ops_urlpatterns
