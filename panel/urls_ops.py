"""URL patterns of panel/views_ops.py; included by panel/urls.py under the "panel" namespace."""

urlpatterns: list = []
