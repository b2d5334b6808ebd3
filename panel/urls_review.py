"""URL patterns of panel/views_review.py; included by panel/urls.py under the "panel" namespace."""

from django.urls import path

from panel import views_review

urlpatterns: list = [
    path("queue/", views_review.queue, name="queue"),
    path("review/<int:pk>/", views_review.review_detail, name="review"),
    path("review/<int:pk>/vote/", views_review.vote, name="vote"),
    path("review/<int:pk>/comments/", views_review.comment_add, name="comment_add"),
    path("review/<int:pk>/conflict/", views_review.declare_conflict, name="declare_conflict"),
    path("review/<int:pk>/information-requests/", views_review.info_request, name="info_request"),
]
