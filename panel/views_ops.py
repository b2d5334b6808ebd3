"""The operations manager's pages: the dashboard, communicating decisions, panel membership."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.errors import DomainError
from panel import communication, membership
from panel.dashboard import composition_can_approve, open_application_rows, panel_strength
from panel.forms_ops import CommunicateForm, MemberAddForm, MemberEditForm
from panel.letters import vote_breakdown
from panel.models import ApplicationStatus, Communication, Decision, PanelMember
from panel.selectors import application_tally, applications_visible_to
from panel.services import ApplicationNotOpen

PAGE_SIZE = 50


def _require_ops(request) -> None:
    if not membership.can_manage_members(request.user):
        raise PermissionDenied("This page is for the operations manager and admins.")


def _add_error(form, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _strength_warning(request, strength) -> None:
    if not strength.can_approve:
        messages.warning(request, f"The active panel can no longer approve any application: it needs "
                                  f"{strength.shortfall} more (3 physicians, 1 pharmacist, 4 members in all).")


def _dashboard_context(request) -> dict:
    now = timezone.now()
    visible = applications_visible_to(request.user)
    rows = open_application_rows(visible, now=now)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    to_communicate = (visible.filter(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.DECLINED])
                      .select_related("decision").order_by("decision__decided_at", "id"))
    regulatory = (visible.filter(status=ApplicationStatus.INFUSED)
                  .filter(Q(manufacturer_notified_at__isnull=True) | Q(authority_notified_at__isnull=True))
                  .order_by("regulatory_deadline_at", "id"))
    return {"page": page, "rows": page.object_list, "to_communicate": list(to_communicate),
            "regulatory": list(regulatory), "strength": panel_strength(day=timezone.localdate(now)), "now": now,
            "at_risk": sum(1 for row in rows if not row.panel_can_approve),
            "overdue": sum(1 for row in rows if row.overdue),
            "can_communicate": communication.can_communicate(request.user)}


@login_required
@require_GET
def dashboard(request):
    _require_ops(request)
    context = _dashboard_context(request)
    if request.htmx:
        return render(request, "panel/ops_open_rows.html", context)
    _strength_warning(request, context["strength"])
    return render(request, "panel/ops_dashboard.html", context)


def _decided_application(request, pk):
    queryset = applications_visible_to(request.user).select_related("decision", "case__product")
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None


@login_required
def communicate(request, pk):
    _require_ops(request)
    if not communication.can_communicate(request.user):
        raise PermissionDenied("Only the operations manager communicates the panel's decisions.")
    application = _decided_application(request, pk)
    initial = {"recipients": ", ".join(communication.default_recipients(application))}
    form = CommunicateForm(request.POST or None, initial=initial)
    status = 200
    already = Communication.objects.filter(application=application).select_related("sent_by").first()
    if request.method == "POST" and form.is_valid():
        try:
            communication.decision_communicate(application_id=application.pk, user=request.user,
                                               conditions=form.cleaned_data["conditions"],
                                               recipients=form.cleaned_data["recipients"])
        except ApplicationNotOpen as error:
            form.add_error(None, error.message)
            status = 409
        except DomainError as error:
            _add_error(form, error)
            status = 400
        else:
            messages.success(request, f"The decision letter for application {application.pk} was sent.")
            return redirect(reverse("panel:dashboard"))
    elif request.method == "POST":
        status = 400
    decided = application.status in (ApplicationStatus.APPROVED, ApplicationStatus.DECLINED)
    has_decision = Decision.objects.filter(application=application).exists()
    context = {"application": application, "form": form, "already": already, "decided": decided,
               "tally": application_tally(application=application) if has_decision else None,
               "breakdown": vote_breakdown(application) if has_decision else None}
    return render(request, "panel/ops_communicate.html", context, status=status)


@login_required
@require_GET
def members(request):
    _require_ops(request)
    today = timezone.localdate()
    page = Paginator(membership.members_for_management(), PAGE_SIZE).get_page(request.GET.get("page"))
    strength = panel_strength(day=today)
    _strength_warning(request, strength)
    return render(request, "panel/member_list.html", {"page": page, "today": today, "strength": strength,
                                                      "can_approve": composition_can_approve})


def _member_form_page(request, *, form, title: str, save, member=None):
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = save(form.cleaned_data)
            except DomainError as error:
                _add_error(form, error)
            else:
                messages.success(request, f"{title}: saved for {saved.user.username}.")
                _strength_warning(request, panel_strength())
                return redirect(reverse("panel:members"))
        status = 400
    return render(request, "panel/member_form.html", {"form": form, "title": title, "member": member},
                  status=status)


@login_required
def member_add(request):
    _require_ops(request)
    form = MemberAddForm(request.POST or None, initial={"active_from": timezone.localdate()})

    def save(data):
        return membership.member_add(user=request.user, member_user=data["user"], role=data["role"],
                                     active_from=data["active_from"], active_to=data["active_to"],
                                     affiliations=data["affiliations"], deputy_of=data["deputy_of"])

    return _member_form_page(request, form=form, title="New panel member", save=save)


@login_required
def member_edit(request, pk):
    _require_ops(request)
    try:
        member = PanelMember.objects.select_related("user").get(pk=pk)
    except (PanelMember.DoesNotExist, ValueError):
        raise Http404("Not found") from None
    initial = {"active_from": member.active_from, "active_to": member.active_to, "deputy_of": member.deputy_of_id,
               "affiliations": list(member.affiliations.all())}
    form = MemberEditForm(request.POST or None, initial=initial, exclude_member=member)

    def save(data):
        return membership.member_update(user=request.user, member_id=member.pk, active_from=data["active_from"],
                                        active_to=data["active_to"], affiliations=data["affiliations"],
                                        deputy_of=data["deputy_of"])

    return _member_form_page(request, form=form, title=f"Panel membership of {member.user.username}", save=save,
                             member=member)
