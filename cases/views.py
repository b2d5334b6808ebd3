"""Registry pages: thin — permission helper → form → service/selector → render or redirect."""

import copy

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.roles import Role
from cases import forms, selectors, services
from cases.errors import DomainError
from cases.models import Apheresis, Centre, Cytopenia, Infusion, ManufacturingAttempt, Outcome, Patient, Product
from cases.permissions import (
    can_register,
    can_write_centre,
    get_attempt_for_user,
    get_case_for_user,
    get_patient_for_user,
    scope_to_user,
)


def _scratch(obj):
    """A copy for the form to validate against: the model's own ``clean()`` then reports every
    cross-record error at once, while the row itself stays untouched until the service applies the
    change and audits its before/after values."""
    return copy.copy(obj)


def _add_errors(form, exc) -> None:
    """Put a model/domain error next to the field it concerns (or on top of the form)."""
    if isinstance(exc, DomainError):
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _form_page(request, *, case, form, title: str, save, section: str):
    """One flow for every record form: full page or htmx partial, errors next to fields, never a 500."""
    if request.method == "POST" and form.is_valid():
        try:
            save(form)
        except (ValidationError, DomainError) as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{title}: saved.")
            if request.htmx:
                # The form lives in #form-slot; on success the timeline is redrawn and the slot emptied.
                response = render(request, "cases/partials/_timeline.html",
                                  {**_detail_context(request, case), "clear_form_slot": True})
                response["HX-Retarget"] = "#timeline"
                response["HX-Reswap"] = "outerHTML"
                return response
            return redirect(f"{reverse('cases:case_detail', args=[case.pk])}#{section}")
    template = "cases/partials/_form.html" if request.htmx else "cases/form_page.html"
    # htmx swaps only 2xx answers: a form with errors comes back as 200 and replaces itself.
    return render(request, template, {"form": form, "title": title, "case": case, "action": request.path,
                                      "section": section})


@login_required
@require_GET
def case_list(request):
    filters = {key: request.GET.get(key, "") for key in ("q", "product", "status", "cohort", "centre")}
    if request.user.role == Role.CENTRE_USER:
        filters["centre"] = ""
    queryset = selectors.cases_visible_to(user=request.user, filters=filters)
    page = Paginator(queryset, settings.CASES_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "query": query.urlencode(),
        "products": Product.objects.filter(active=True).only("code", "brand"),
        "statuses": selectors.STATUSES,
        "cohorts": selectors.COHORTS,
        "centres": None if request.user.role == Role.CENTRE_USER else _centres(),
        "can_create": can_register(request.user),
    }
    template = "cases/partials/_case_rows.html" if request.htmx else "cases/case_list.html"
    return render(request, template, context)


def _centres():
    return Centre.objects.filter(active=True).only("code", "name")


def _detail_context(request, case):
    return {"case": case, "timeline": selectors.case_timeline(case),
            "can_write": can_write_centre(request.user, case.centre_id)}


@login_required
@require_GET
def case_detail(request, pk):
    case = get_case_for_user(request.user, pk)
    return render(request, "cases/case_detail.html", _detail_context(request, case))


@login_required
def patient_create(request):
    if not can_register(request.user):
        raise PermissionDenied("Patients are registered by their centre.")
    if request.user.is_centre_user:
        form = forms.PatientForm(request.POST or None, instance=Patient(centre=request.user.centre))
    else:
        form = forms.PatientWithCentreForm(request.POST or None)
        form.fields["centre"].queryset = Centre.objects.filter(active=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        centre = data.pop("centre", None) or request.user.centre
        try:
            patient = services.patient_create(actor=request.user, centre=centre, **data)
        except (ValidationError, DomainError) as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Patient {patient.local_id} registered.")
            return redirect(f"{reverse('cases:case_create')}?patient={patient.pk}")
    return render(request, "cases/form_page.html", {"form": form, "title": "Register a patient",
                                                    "action": request.path})


@login_required
def patient_edit(request, pk):
    patient = get_patient_for_user(request.user, pk, write=True)
    form = forms.PatientForm(request.POST or None, instance=_scratch(patient))
    next_case = _next_case(request, patient)
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(actor=request.user, patient=patient, **form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Patient {patient.local_id}: saved.")
            return redirect("cases:case_detail", pk=next_case.pk) if next_case else redirect("cases:case_list")
    return render(request, "cases/form_page.html", {"form": form, "title": f"Patient {patient.local_id}",
                                                    "action": request.get_full_path(), "case": next_case})


def _next_case(request, patient):
    """The case page to return to after editing its patient (``?case=``), if it is that patient's."""
    case_pk = request.GET.get("case")
    if not (case_pk and case_pk.isdigit()):
        return None
    return patient.cases.filter(pk=case_pk).first()


@login_required
def case_create(request):
    if not can_register(request.user):
        raise PermissionDenied("Cases are registered by their centre.")
    # The choice labels show centre/local id: fetch the centres with the patients.
    patients = scope_to_user(request.user, Patient.objects.select_related("centre"))
    form = forms.NewCaseForm(request.POST or None, patients=patients,
                             initial={"patient": request.GET.get("patient", "")})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        patient = data.pop("patient")
        try:
            case = services.case_create(actor=request.user, patient=patient, **data)
        except (ValidationError, DomainError) as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Case {case.public_id} registered.")
            return redirect("cases:case_detail", pk=case.pk)
    return render(request, "cases/form_page.html", {"form": form, "title": "Register a case",
                                                    "action": request.path, "no_patients": not patients.exists()})


@login_required
def case_edit(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    form = forms.CaseForm(request.POST or None, instance=_scratch(case))
    return _form_page(request, case=case, form=form, title="Baseline", section="baseline",
                      save=lambda f: services.case_update(actor=request.user, case=case, **f.cleaned_data))


@login_required
def apheresis_add(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    form = forms.ApheresisForm(request.POST or None,
                               instance=Apheresis(case=case, number=case.apheresis_set.count() + 1))
    return _form_page(request, case=case, form=form, title="Apheresis", section="apheresis",
                      save=lambda f: services.apheresis_record(actor=request.user, case=case, **f.cleaned_data))


def _attempt_save(request, case, attempt=None):
    def save(form):
        data = dict(form.cleaned_data)
        reasons = list(data.pop("failure_reasons"))
        if attempt is None:
            services.attempt_record(actor=request.user, case=case, failure_reasons=reasons, **data)
        else:
            services.attempt_update(actor=request.user, attempt=attempt, failure_reasons=reasons, **data)
    return save


@login_required
def attempt_add(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    form = forms.AttemptForm(request.POST or None, case=case,
                             instance=ManufacturingAttempt(case=case, number=case.attempts.count() + 1))
    return _form_page(request, case=case, form=form, title="Manufacturing attempt", section="timeline",
                      save=_attempt_save(request, case))


def _attempt_for(request, pk, number):
    attempt = get_attempt_for_user(request.user, pk, number, write=True)
    return attempt.case, attempt


@login_required
def attempt_edit(request, pk, number):
    case, attempt = _attempt_for(request, pk, number)
    form = forms.AttemptForm(request.POST or None, instance=_scratch(attempt), case=case)
    return _form_page(request, case=case, form=form, title=f"Attempt {number}", section=f"attempt-{number}",
                      save=_attempt_save(request, case, attempt))


@login_required
def attempt_results(request, pk, number):
    case, attempt = _attempt_for(request, pk, number)
    parameters = case.product.release_parameters.all()
    existing = {r.parameter_id: r for r in attempt.release_results.all()}
    form = forms.ReleaseResultsForm(request.POST or None, parameters=parameters, existing=existing)
    return _form_page(
        request, case=case, form=form, title=f"Release results, attempt {number}", section=f"attempt-{number}",
        save=lambda f: services.attempt_record_release_results(actor=request.user, attempt=attempt,
                                                               values=f.values()),
    )


@login_required
def infusion_edit(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    infusion = case.infusion if hasattr(case, "infusion") else None
    form = forms.InfusionForm(request.POST or None, instance=_scratch(infusion) if infusion else Infusion(case=case),
                              case=case)

    def save(form):
        if infusion is None:
            services.infusion_record(actor=request.user, case=case, **form.cleaned_data)
        else:
            services.infusion_update(actor=request.user, infusion=infusion, **form.cleaned_data)

    return _form_page(request, case=case, form=form, title="Infusion", section="infusion", save=save)


@login_required
def outcome_edit(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    outcome = case.outcome if hasattr(case, "outcome") else None
    form = forms.OutcomeForm(request.POST or None, instance=_scratch(outcome) if outcome else Outcome(case=case))

    def save(form):
        if outcome is None:
            services.outcome_record(actor=request.user, case=case, **form.cleaned_data)
        else:
            services.outcome_update(actor=request.user, outcome=outcome, **form.cleaned_data)

    return _form_page(request, case=case, form=form, title="Outcome and follow-up", section="outcome", save=save)


@login_required
def cytopenia_add(request, pk):
    case = get_case_for_user(request.user, pk, write=True)
    form = forms.CytopeniaForm(request.POST or None, instance=Cytopenia(case=case))
    return _form_page(request, case=case, form=form, title="Cytopenia", section="outcome",
                      save=lambda f: services.cytopenia_record(actor=request.user, case=case, **f.cleaned_data))
