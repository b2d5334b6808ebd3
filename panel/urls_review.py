"""URL patterns of panel/views_review.py; included by panel/urls.py under the "panel" namespace."""

urlpatterns: list = []
