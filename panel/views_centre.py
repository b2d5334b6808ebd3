"""The treating centre's application pages (and the read-only view of them for the panel's other roles).

Thin: fetch through ``applications_visible_to`` (another centre's application is a 404), check
that the user may act for the centre (403 otherwise), hand the form's values to a
``panel.submission`` service and put its ``DomainError`` next to the field it names.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import PANEL_ROLES, Role
from audit.labels import label as audit_label
from audit.models import AuditEvent
from cases.errors import DomainError
from cases.models import AttemptOutcome, ManufacturingAttempt
from cases.permissions import scope_to_user
from panel import forms_centre as forms
from panel import submission
from panel.files import private_pdf_response
from panel.models import (
    OPEN_STATUSES,
    ApplicationStatus,
    Attachment,
    DecisionOutcome,
    InformationRequest,
    OOSApplication,
)
from panel.selectors import application_tally, applications_visible_to
from panel.services import dose_verdict, failed_parameters
from panel.uploads import limit_upload_size, oversized_fields, too_large_message

PAGE_SIZE = getattr(settings, "PANEL_PAGE_SIZE", 25)
LIVE_EXCLUDED = (ApplicationStatus.WITHDRAWN, ApplicationStatus.DECLINED)
# Statuses after which the decision letter exists and the centre sees the outcome in full.
COMMUNICATED_STATUSES = (ApplicationStatus.COMMUNICATED, ApplicationStatus.INFUSED, ApplicationStatus.NOT_INFUSED)
# Statuses in which the centre may add evidence: its draft, or when the panel asked for more.
DOCUMENT_STATUSES = (ApplicationStatus.DRAFT, ApplicationStatus.INFO_REQUESTED)


def may_act_for_centre(user, centre_id) -> bool:
    """The centre's own users (and superusers acting for them) write applications; nobody else does."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.role == Role.CENTRE_USER and user.centre_id is not None and user.centre_id == centre_id


def _application_for(user, pk, *, write: bool = False, withdraw: bool = False) -> OOSApplication:
    try:
        application = applications_visible_to(user).get(pk=pk)
    except (OOSApplication.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    allowed = may_act_for_centre(user, application.centre_id) or (withdraw and user.role == Role.OPS_MANAGER)
    if (write or withdraw) and not allowed:
        raise PermissionDenied("Only the treating centre changes its application.")
    return application


def _for_step(request, pk, *, statuses, refusal: str, withdraw: bool = False):
    """The application for one of the centre's steps, and a redirect to its page (saying why) when
    its status does not allow that step; permission is checked first, as for every write."""
    application = _application_for(request.user, pk, write=not withdraw, withdraw=withdraw)
    if application.status not in statuses:
        messages.error(request, refusal)
        return application, _detail(application)
    return application, None


def _add_error(form, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _saved(request, form, save, *, success):
    """Run ``save(cleaned_data)`` for a valid POST; its result, or None with the error next to its field.

    ``success`` is the message for the next page, or a function of the result giving it.
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        result = save(form.cleaned_data)
    except DomainError as error:
        _add_error(form, error)
        return None
    messages.success(request, success(result) if callable(success) else success)
    return result


def _optional_url(name: str, *args) -> str:
    """A link to a page another part of the panel provides, or "" while that page does not exist."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _posted(request):
    # A POST with every field empty is still a submission to validate, never an unbound form.
    return request.POST if request.method == "POST" else None


def _detail(application: OOSApplication):
    return redirect("panel:application_detail", pk=application.pk)


# --- Lists ---------------------------------------------------------------------------------------

@login_required
@require_GET
def application_list(request):
    user = request.user
    if not (user.is_superuser or user.role in (Role.CENTRE_USER, Role.OPS_MANAGER, Role.ADMIN, *PANEL_ROLES)):
        raise PermissionDenied("Your role does not work with OOS applications.")
    filter_form = forms.StatusFilterForm(request.GET or None)
    status = filter_form.cleaned_data["status"] if filter_form.is_valid() else ""
    queryset = applications_visible_to(user).order_by("-updated_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "filter_form": filter_form, "status": status, "query": query.urlencode(),
               "is_centre_user": user.role == Role.CENTRE_USER,
               "attempts_to_apply": _attempts_without_application(user) if user.role == Role.CENTRE_USER else []}
    template = "panel/_application_rows.html" if request.htmx else "panel/application_list.html"
    return render(request, template, context)


def _attempts_without_application(user, limit: int = 10):
    """The centre's OOS products with no live application: where a new application starts."""
    live = OOSApplication.objects.filter(attempt=OuterRef("pk")).exclude(status__in=LIVE_EXCLUDED)
    attempts = (scope_to_user(user, ManufacturingAttempt.objects.all(), "case__centre")
                .filter(outcome=AttemptOutcome.OOS).exclude(Exists(live))
                .select_related("case__product").order_by("-result_on", "-id"))
    return list(attempts[:limit])


# --- Draft: create, edit, submit, withdraw ------------------------------------------------------

def _facts(application: OOSApplication | None, attempt: ManufacturingAttempt) -> dict:
    """What the panel is (or will be) shown: the submission snapshot, or the live values for a draft."""
    if application is not None and application.status != ApplicationStatus.DRAFT:
        return {"failed_parameters": application.failed_parameters, "dose_verdict": application.dose_verdict,
                "live": False}
    return {"failed_parameters": failed_parameters(attempt), "dose_verdict": dose_verdict(attempt), "live": True}


@login_required
def application_new(request, attempt_pk):
    queryset = ManufacturingAttempt.objects.select_related("case__product", "case__patient", "case__centre")
    try:
        attempt = scope_to_user(request.user, queryset, "case__centre").get(pk=attempt_pk)
    except ManufacturingAttempt.DoesNotExist:
        raise Http404("Not found") from None
    if not may_act_for_centre(request.user, attempt.case.centre_id):
        raise PermissionDenied("OOS applications are made by the treating centre.")
    if attempt.outcome != AttemptOutcome.OOS:
        messages.error(request, f"Attempt {attempt.number} is not out of specification: there is nothing to apply "
                                "for.")
        return redirect("cases:case_detail", pk=attempt.case_id)
    existing = submission.live_application_for(attempt)
    if existing is not None and request.method != "POST":
        messages.info(request, f"This product already has OOS application {existing.pk}.")
        return _detail(existing)
    form = forms.ApplicationForm(_posted(request), initial={"contact": request.user.display_name,
                                                                "contact_email": request.user.email})
    application = _saved(request, form, lambda data: submission.application_create(
        user=request.user, attempt=attempt, **data),
        success=lambda created: f"Draft OOS application {created.pk} saved. Add the certificate of analysis, "
                                "then submit it to the panel.")
    if application is not None:
        return _detail(application)
    return render(request, "panel/application_form.html", {
        "form": form, "attempt": attempt, "case": attempt.case, "facts": _facts(None, attempt),
        "title": f"Apply to the OOS panel · {attempt.case.public_id}, attempt {attempt.number}"})


@login_required
def application_edit(request, pk):
    application, refused = _for_step(
        request, pk, statuses=(ApplicationStatus.DRAFT,),
        refusal="Only a draft can be changed: once submitted the panel decides on what it was sent.")
    if refused:
        return refused
    initial = {name: getattr(application, name) for name in submission.DRAFT_FIELDS}
    form = forms.ApplicationForm(_posted(request), initial=initial)
    if _saved(request, form, lambda data: submission.application_update_draft(
            application_id=application.pk, user=request.user, **data), success="Draft saved."):
        return _detail(application)
    return render(request, "panel/application_form.html", {
        "form": form, "application": application, "attempt": application.attempt, "case": application.case,
        "facts": _facts(application, application.attempt), "title": f"Edit draft OOS application {application.pk}"})


@login_required
def application_submit(request, pk):
    application, refused = _for_step(request, pk, statuses=(ApplicationStatus.DRAFT,),
                                     refusal="This application has already been submitted.")
    if refused:
        return refused
    form = forms.SubmitForm(_posted(request))
    missing = submission.missing_for_submission(application)
    if _saved(request, form, lambda data: submission.application_submit(application_id=application.pk,
                                                                         user=request.user),
              success=f"OOS application {application.pk} submitted: the panel has been notified."):
        return _detail(application)
    return render(request, "panel/application_confirm.html", {
        "form": form, "application": application, "missing": missing, "action": "submit",
        "attachments": list(application.attachments.all()), "facts": _facts(application, application.attempt),
        "title": f"Submit OOS application {application.pk} to the panel", "button": "Submit to the panel"})


@login_required
def application_withdraw(request, pk):
    application, refused = _for_step(request, pk, statuses=(ApplicationStatus.DRAFT, *OPEN_STATUSES), withdraw=True,
                                     refusal="A decided or withdrawn application cannot be withdrawn.")
    if refused:
        return refused
    form = forms.WithdrawForm(_posted(request))
    if _saved(request, form, lambda data: submission.application_withdraw(
            application_id=application.pk, user=request.user, reason=data["reason"]),
            success=f"OOS application {application.pk} withdrawn."):
        return _detail(application)
    return render(request, "panel/application_confirm.html", {
        "form": form, "application": application, "action": "withdraw",
        "title": f"Withdraw OOS application {application.pk}", "button": "Withdraw the application"})


# --- Evidence -----------------------------------------------------------------------------------

def _file_form(request, form_class, **kwargs):
    form = form_class(_posted(request), request.FILES if request.method == "POST" else None, **kwargs)
    if request.method == "POST" and "file" in oversized_fields(request):
        # The handler dropped the file part way: say why instead of "choose a file".
        form.is_valid()
        form.errors.pop("file", None)
        form.add_error("file", too_large_message())
    return form


@login_required
@limit_upload_size
def attachment_upload(request, pk):
    application, refused = _for_step(
        request, pk, statuses=DOCUMENT_STATUSES,
        refusal="Documents can be added to a draft, or when the panel has asked for information.")
    if refused:
        return refused
    form = _file_form(request, forms.AttachmentForm)
    if _saved(request, form, lambda data: submission.attachment_add(
            application_id=application.pk, user=request.user, kind=data["kind"], uploaded_file=data["file"]),
            success=lambda attachment: f"{attachment.get_kind_display()} attached: {attachment.original_name}."):
        return _detail(application)
    return render(request, "panel/application_form_page.html", {
        "form": form, "application": application, "multipart": True, "button": "Upload",
        "title": f"Attach a document to OOS application {application.pk}"})


@login_required
@require_GET
def attachment_download(request, pk):
    try:
        attachment = Attachment.objects.select_related("application__centre").get(
            pk=pk, application__in=applications_visible_to(request.user))
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    application = attachment.application
    return private_pdf_response(
        field_file=attachment.file, download_name=attachment.original_name, user=request.user,
        audit_code="panel.attachment.downloaded", obj=attachment, centre_code=application.centre.code,
        context={"application": application.pk, "kind": attachment.kind, "sha256": attachment.sha256})


@login_required
@require_GET
def letter_download(request, pk):
    application = _application_for(request.user, pk)
    communication = getattr(application, "communication", None)
    if communication is None or not communication.letter:
        raise Http404("No decision letter yet")
    return private_pdf_response(
        field_file=communication.letter,
        download_name=f"OOS-decision-{application.pk}-{application.case.public_id}.pdf",
        user=request.user, audit_code="panel.letter.downloaded", obj=communication,
        centre_code=application.centre.code,
        context={"application": application.pk, "sha256": communication.letter_sha256})


# --- Information requests -----------------------------------------------------------------------

@login_required
@limit_upload_size
def info_answer(request, pk):
    try:
        application_id = InformationRequest.objects.values_list("application_id", flat=True).get(pk=pk)
    except (InformationRequest.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None
    application = _application_for(request.user, application_id, write=True)
    info_request = application.information_requests.get(pk=pk)
    if info_request.answered_at is not None or application.status != ApplicationStatus.INFO_REQUESTED:
        messages.info(request, "This question has already been answered.")
        return _detail(application)
    form = _file_form(request, forms.InformationAnswerForm)
    if _saved(request, form, lambda data: submission.information_answer(
            request_id=info_request.pk, user=request.user, answer=data["answer"],
            attachment_kind=data.get("kind") or "", uploaded_file=data.get("file") or None),
            success="Answer sent: the panel's review has resumed."):
        return _detail(application)
    return render(request, "panel/application_form_page.html", {
        "form": form, "application": application, "info_request": info_request, "multipart": True,
        "button": "Send the answer", "title": f"Answer the panel · OOS application {application.pk}"})


# --- After the decision -------------------------------------------------------------------------

def _is_approved(application: OOSApplication) -> bool:
    decision = getattr(application, "decision", None)
    return decision is not None and decision.outcome == DecisionOutcome.APPROVED


@login_required
def record_infusion(request, pk):
    application, refused = _for_step(
        request, pk, statuses=(ApplicationStatus.COMMUNICATED,),
        refusal="The infusion is recorded once, after the decision has been communicated.")
    if refused:
        return refused
    form = forms.InfusionForm(_posted(request), approved=_is_approved(application))
    if _saved(request, form, lambda data: submission.application_record_infusion(
            application_id=application.pk, user=request.user, infused=data["infused"],
            infused_at=data.get("infused_at")),
            success=lambda recorded: "Infusion recorded." if recorded.status == ApplicationStatus.INFUSED
            else "Recorded that the OOS product was not infused."):
        return _detail(application)
    return render(request, "panel/application_form_page.html", {
        "form": form, "application": application, "button": "Record",
        "title": f"Record the infusion · OOS application {application.pk}"})


@login_required
def record_regulatory_notification(request, pk):
    application, refused = _for_step(request, pk, statuses=(ApplicationStatus.INFUSED,),
                                     refusal="Notifications are recorded for an infused OOS product.")
    if refused:
        return refused
    form = forms.RegulatoryNotificationForm(_posted(request), initial={
        "manufacturer_notified_at": application.manufacturer_notified_at,
        "authority_notified_at": application.authority_notified_at})
    if _saved(request, form, lambda data: submission.application_record_regulatory_notification(
            application_id=application.pk, user=request.user, **data), success="Notifications recorded."):
        return _detail(application)
    return render(request, "panel/application_form_page.html", {
        "form": form, "application": application, "button": "Record",
        "title": f"Record the regulatory notifications · OOS application {application.pk}"})


# --- The application page -----------------------------------------------------------------------

def regulatory_deadline(application: OOSApplication, now=None) -> dict | None:
    """The 48-hour notification deadline while it is still open: due time, overdue or not, what is missing."""
    if application.status != ApplicationStatus.INFUSED or application.regulatory_deadline_at is None:
        return None
    missing = [label for label, value in (("the manufacturer", application.manufacturer_notified_at),
                                          ("the competent authority", application.authority_notified_at))
               if value is None]
    if not missing:
        return None
    now = now or timezone.now()
    return {"due_at": application.regulatory_deadline_at, "overdue": now > application.regulatory_deadline_at,
            "missing": missing}


def _activity(application: OOSApplication) -> list[dict]:
    """What was done to the application itself, oldest first, in the audit trail's words."""
    events = (AuditEvent.objects.filter(object_type=OOSApplication._meta.label_lower, object_id=str(application.pk))
              .order_by("id").values("created_at", "actor_username", "code"))
    return [{**event, "text": audit_label(event["code"])} for event in events]


@login_required
@require_GET
def application_detail(request, pk):
    application = _application_for(request.user, pk)
    user = request.user
    can_act = may_act_for_centre(user, application.centre_id)
    decision = getattr(application, "decision", None)
    communication = getattr(application, "communication", None) \
        if application.status in COMMUNICATED_STATUSES else None
    info_requests = list(application.information_requests.select_related("asked_by", "answered_by"))
    open_request = next((r for r in info_requests if r.answered_at is None), None)
    context = {
        "application": application,
        "case": application.case,
        "attempt": application.attempt,
        "facts": _facts(application, application.attempt),
        "attachments": list(application.attachments.select_related("uploaded_by")),
        "info_requests": info_requests,
        "open_request": open_request,
        "answer_form": forms.InformationAnswerForm() if can_act and open_request
        and application.status == ApplicationStatus.INFO_REQUESTED else None,
        "decision": decision,
        "tally": application_tally(application=application) if decision is not None else None,
        "communication": communication,
        "deadline": regulatory_deadline(application),
        "activity": _activity(application),
        "can_act": can_act,
        "is_draft": application.status == ApplicationStatus.DRAFT,
        "sla_open": application.sla_due_at is not None and application.status in OPEN_STATUSES,
        "can_upload": can_act and application.status in DOCUMENT_STATUSES,
        "can_withdraw": (can_act or user.role == Role.OPS_MANAGER)
        and application.status in (ApplicationStatus.DRAFT, *OPEN_STATUSES),
        "can_record_infusion": can_act and application.status == ApplicationStatus.COMMUNICATED,
        "can_record_notification": can_act and application.status == ApplicationStatus.INFUSED,
        "review_url": _optional_url("panel:review", application.pk) if user.role in PANEL_ROLES else "",
        "communicate_url": _optional_url("panel:communicate", application.pk)
        if user.role == Role.OPS_MANAGER and application.status in (ApplicationStatus.APPROVED,
                                                                     ApplicationStatus.DECLINED) else "",
    }
    return render(request, "panel/application_detail.html", context)
