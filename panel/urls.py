"""Panel pages, all in the "panel" namespace: the centre's applications (views_centre.py), the
members' queue and review pages (views_review.py), and the operations manager's pages and
membership management (views_ops.py)."""

from panel import urls_centre, urls_ops, urls_review

app_name = "panel"

urlpatterns = [*urls_centre.urlpatterns, *urls_review.urlpatterns, *urls_ops.urlpatterns]
