"""URL patterns of panel/views_centre.py; included by panel/urls.py under the "panel" namespace."""

urlpatterns: list = []
