"""URL patterns of panel/views_centre.py; included by panel/urls.py under the "panel" namespace."""

from django.urls import path

from panel import views_centre as views

urlpatterns: list = [
    path("applications/", views.application_list, name="application_list"),
    path("applications/new/<int:attempt_pk>/", views.application_new, name="application_new"),
    path("applications/<int:pk>/", views.application_detail, name="application_detail"),
    path("applications/<int:pk>/edit/", views.application_edit, name="application_edit"),
    path("applications/<int:pk>/submit/", views.application_submit, name="application_submit"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="application_withdraw"),
    path("applications/<int:pk>/attachments/", views.attachment_upload, name="attachment_upload"),
    path("applications/<int:pk>/letter/", views.letter_download, name="letter_download"),
    path("applications/<int:pk>/infusion/", views.record_infusion, name="record_infusion"),
    path("applications/<int:pk>/regulatory-notification/", views.record_regulatory_notification,
         name="record_regulatory_notification"),
    path("attachments/<int:pk>/download/", views.attachment_download, name="attachment_download"),
    path("information-requests/<int:pk>/answer/", views.info_answer, name="info_answer"),
]
