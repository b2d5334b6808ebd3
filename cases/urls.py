from django.urls import path

from cases import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("new/", views.case_create, name="case_create"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("<int:pk>/", views.case_detail, name="case_detail"),
    path("<int:pk>/edit/", views.case_edit, name="case_edit"),
    path("<int:pk>/apheresis/new/", views.apheresis_add, name="apheresis_add"),
    path("<int:pk>/attempts/new/", views.attempt_add, name="attempt_add"),
    path("<int:pk>/attempts/<int:number>/", views.attempt_edit, name="attempt_edit"),
    path("<int:pk>/attempts/<int:number>/results/", views.attempt_results, name="attempt_results"),
    path("<int:pk>/infusion/", views.infusion_edit, name="infusion_edit"),
    path("<int:pk>/outcome/", views.outcome_edit, name="outcome_edit"),
    path("<int:pk>/cytopenias/new/", views.cytopenia_add, name="cytopenia_add"),
]
