"""The panel members' pages: my queue, and the review page with the vote, thread and questions.

Thin: permission → form → ``panel.services`` / ``panel.review`` → render or redirect. Reads start
from ``applications_visible_to``; the review pages are for the panel, the operations manager and
admins (read), never for centre users or analysts.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import PANEL_ROLES, Role
from cases.errors import DomainError
from config.pagination import CappedPaginator
from panel import review, services
from panel.forms_review import CommentForm, ConflictForm, InformationRequestForm, VoteForm
from panel.models import OPEN_STATUSES, ApplicationStatus, OOSApplication, Vote
from panel.selectors import (
    active_member_for,
    application_tally,
    applications_awaiting_vote,
    applications_recused_open,
    applications_visible_to,
    applications_voted_open,
    eligible_members,
    member_recusal_reason,
    vote_history,
)

READ_ROLES = frozenset({*PANEL_ROLES, Role.OPS_MANAGER, Role.ADMIN})
QUEUE_PAGE_SIZE = 20
# A queue section counts up to this many applications and reads "more than 1,000" beyond: the exact count of a
# registry-sized backlog costs a scan of all of it on every visit (20 ms at 10,000), the page 1 ms.
QUEUE_COUNT_CAP = 1000
# What a queue row shows (the table, the SLA state), and nothing heavier: no JSON snapshots, no letter.
QUEUE_ROW_FIELDS = ("id", "urgency", "status", "sla_due_at", "sla_paused_at", "case__public_id", "case__indication",
                    "case__product__brand", "centre__name")
VOTE_PANEL_TEMPLATE = "panel/_review_vote_panel.html"


def _check_reader(user) -> None:
    if not (user.is_superuser or user.role in READ_ROLES):
        raise PermissionDenied("The panel's review pages are for panel members and the operations manager.")


def _application_for(user, pk) -> OOSApplication:
    _check_reader(user)
    try:
        return applications_visible_to(user).select_related("case__patient").get(pk=pk)
    except OOSApplication.DoesNotExist:
        raise Http404("No such OOS application.") from None


def _url_or_none(name: str, *args) -> str | None:
    # Pages of the centre and operations sides are linked when they are installed.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# --- Presentation helpers ----------------------------------------------------------------------


def sla_state(application: OOSApplication, now: dt.datetime) -> dict:
    """How the SLA stands for display: paused, overdue (by how long) or time left."""
    due = application.sla_due_at
    if due is None:
        return {"kind": "none", "text": "—", "overdue": False}
    if application.status == ApplicationStatus.INFO_REQUESTED and application.sla_paused_at:
        return {"kind": "paused", "text": "Paused: waiting for the centre", "overdue": False}
    if due <= now:
        return {"kind": "overdue", "text": f"Overdue by {timesince(due, now)}", "overdue": True}
    return {"kind": "left", "text": f"{timeuntil(due, now)} left", "overdue": False}


def _with_sla(applications, now):
    for application in applications:
        application.sla = sla_state(application, now)
    return applications


def _age_band(birth_year: int, on: dt.date) -> str:
    # A decade band, never the year of birth: the summary is shown to people outside the centre.
    age = on.year - birth_year
    low = max(age // 10 * 10, 0)
    return f"{low}–{low + 9}"


def patient_summary(application: OOSApplication) -> dict:
    """The patient as the panel sees them: no local id, no year of birth, no centre identifiers."""
    patient = application.case.patient
    on = timezone.localdate(application.submitted_at) if application.submitted_at else timezone.localdate()
    return {"age_band": _age_band(patient.birth_year, on), "sex": patient.get_sex_display(),
            "weight_kg": patient.weight_kg, "height_cm": patient.height_cm}


# --- Queue -------------------------------------------------------------------------------------


def _queue_rows(queryset, prefix: str = "", extra=()):
    """``queryset`` reading only what a queue row shows (``prefix`` leads from a vote to its application)."""
    related = (f"{prefix}case__product", f"{prefix}centre")
    return (queryset.select_related(None).select_related(*related)
            .only(*extra, *(prefix + field for field in QUEUE_ROW_FIELDS)))


@login_required
@require_GET
def queue(request):
    if request.user.role not in PANEL_ROLES:
        raise PermissionDenied("The queue is for panel physicians and pharmacists.")
    member = active_member_for(request.user)
    context = {"member": member}
    if member is not None:
        now = timezone.now()
        sections = {
            "awaiting": (_queue_rows(applications_awaiting_vote(member=member)), "page"),
            "voted": (_queue_rows(applications_voted_open(member=member), "application__", extra=("choice",)),
                      "voted_page"),
            "recused": (_queue_rows(applications_recused_open(member=member)), "recused_page"),
        }
        for name, (queryset, param) in sections.items():
            page = CappedPaginator(queryset, QUEUE_PAGE_SIZE, cap=QUEUE_COUNT_CAP).get_page(request.GET.get(param))
            items = list(page)
            if name == "voted":
                items = [vote.application for vote in items]
                for vote, application in zip(page, items, strict=True):
                    application.my_vote = vote
            context[name] = page
            context[f"{name}_items"] = _with_sla(items, now)
            context[f"{name}_param"] = param
    return render(request, "panel/queue.html", context)


# --- Review page -------------------------------------------------------------------------------


def _vote_panel_context(request, application: OOSApplication, *, vote_form=None, notice=None) -> dict:
    """What the vote panel shows: decision or tally, the member's vote and its history, the form."""
    user = request.user
    member = active_member_for(user)
    recusal_reason = member_recusal_reason(member, application) if member else None
    my_vote = Vote.objects.filter(application=application, member=member).first() if member else None
    decision = getattr(application, "decision", None)
    can_vote = bool(member and member.votes_on_panel and not recusal_reason
                    and application.status == ApplicationStatus.UNDER_REVIEW)
    if can_vote and vote_form is None:
        initial = {"choice": my_vote.choice, "comment": my_vote.comment} if my_vote else None
        vote_form = VoteForm(initial=initial)
    sees_names = user.is_superuser or user.role in (Role.OPS_MANAGER, Role.ADMIN)
    voters = None
    if sees_names:
        votes = {vote.member_id: vote for vote in application.votes.all()}
        voters = [(member_row, votes.get(member_row.pk)) for member_row in eligible_members(application)]
    return {
        "application": application, "member": member, "recusal_reason": recusal_reason,
        "decision": decision, "tally": application_tally(application=application),
        "my_vote": my_vote, "my_vote_history": vote_history(my_vote),
        "can_vote": can_vote, "vote_form": vote_form if can_vote else None,
        "voters": voters, "notice": notice,
        "communicate_url": (_url_or_none("panel:communicate", application.pk)
                            if decision and user.role == Role.OPS_MANAGER
                            and application.status in (ApplicationStatus.APPROVED, ApplicationStatus.DECLINED)
                            else None),
    }


def _review_context(request, application: OOSApplication, **forms) -> dict:
    user = request.user
    context = _vote_panel_context(request, application, vote_form=forms.get("vote_form"))
    member = context["member"]
    open_request = next((item for item in application.information_requests.all() if item.answered_at is None), None)
    is_open = application.status in OPEN_STATUSES
    can_declare = bool(member and not context["recusal_reason"] and is_open)
    can_ask = (application.status == ApplicationStatus.UNDER_REVIEW and open_request is None
               and (user.role == Role.OPS_MANAGER or bool(member and not context["recusal_reason"])))
    can_comment = review.can_discuss(user) and application.status in review.COMMENTABLE_STATUSES
    attachments = [(attachment, _url_or_none("panel:attachment_download", attachment.pk))
                   for attachment in application.attachments.all()]
    attempts = application.case.attempts.prefetch_related("failure_reasons").order_by("number")
    return {
        **context,
        "patient": patient_summary(application),
        "attempts": attempts,
        "attachments": attachments,
        "information_requests": application.information_requests.select_related("asked_by", "answered_by"),
        "open_request": open_request,
        "comments": application.comments.select_related("author"),
        "sla": sla_state(application, timezone.now()),
        "comment_form": forms.get("comment_form") or (CommentForm() if can_comment else None),
        "conflict_form": forms.get("conflict_form") or (ConflictForm() if can_declare else None),
        "info_form": forms.get("info_form") or (InformationRequestForm() if can_ask else None),
        "can_comment": can_comment, "can_declare": can_declare, "can_ask": can_ask,
        "detail_url": _url_or_none("panel:application_detail", application.pk),
    }


@login_required
@require_GET
def review_detail(request, pk):
    application = _application_for(request.user, pk)
    return render(request, "panel/review_detail.html", _review_context(request, application))


def _status_for(error: DomainError) -> int:
    if isinstance(error, services.ApplicationNotOpen):
        return 409
    if isinstance(error, services.NotEligible):
        return 403
    return 400


def _act(request, pk, *, form_class, form_key: str, perform, success, anchor: str):
    """One flow for every action on the review page: validate, call the service, redirect or re-show.

    Errors go next to the field they concern (or on top of the form) with the service's status:
    400 invalid input, 403 not allowed, 409 not in a state that allows it. The vote form is also
    sent by htmx, which gets the vote panel back (always 200, as htmx swaps only 2xx answers).
    """
    application = _application_for(request.user, pk)
    form = form_class(request.POST)
    status = 400
    if form.is_valid():
        try:
            result = perform(application, form.cleaned_data)
        except DomainError as error:
            status = _status_for(error)
            application = _application_for(request.user, pk)
            if status == 400:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            elif request.htmx and form_key == "vote_form":
                return render(request, VOTE_PANEL_TEMPLATE,
                              _vote_panel_context(request, application, notice=error.message))
            else:
                # Not allowed, or no longer possible: the form may be gone from the page, so say it on top.
                messages.error(request, error.message)
        else:
            message = success(result)
            if request.htmx and form_key == "vote_form":
                application = _application_for(request.user, pk)
                return render(request, VOTE_PANEL_TEMPLATE,
                              _vote_panel_context(request, application, notice=message))
            messages.success(request, message)
            return redirect(f"{reverse('panel:review', args=[pk])}#{anchor}")
    if request.htmx and form_key == "vote_form":
        return render(request, VOTE_PANEL_TEMPLATE, _vote_panel_context(request, application, vote_form=form))
    return render(request, "panel/review_detail.html", {**_review_context(request, application, **{form_key: form}),
                                                        "error_form": form_key},
                  status=status)


def _vote_message(result) -> str:
    vote, created, decision = result
    said = "recorded" if created else "changed"
    text = f"Your vote ({vote.get_choice_display().lower()}) is {said}."
    if decision is not None:
        text += f" The panel's decision is made: {decision.get_outcome_display().lower()}."
    return text


def _conflict_message(result) -> str:
    _, decision = result
    text = "Your conflict of interest is recorded: you are recused from this application."
    if decision is not None:
        text += f" Without you approval can no longer be reached: the application is {decision.outcome}."
    return text


def _action_view(*, form_class, form_key: str, anchor: str, perform, success):
    """A POST-only review action: ``perform(user, application_id, cleaned_data)`` calls the service."""

    @login_required
    @require_POST
    def view(request, pk):
        return _act(request, pk, form_class=form_class, form_key=form_key, anchor=anchor, success=success,
                    perform=lambda application, data: perform(request.user, application.pk, data))

    return view


vote = _action_view(
    form_class=VoteForm, form_key="vote_form", anchor="vote", success=_vote_message,
    perform=lambda user, pk, data: services.vote_cast(application_id=pk, user=user, choice=data["choice"],
                                                      comment=data["comment"]))

comment_add = _action_view(
    form_class=CommentForm, form_key="comment_form", anchor="discussion",
    success=lambda comment: "Your comment is added to the discussion.",
    perform=lambda user, pk, data: review.comment_add(application_id=pk, user=user, body=data["body"]))

declare_conflict = _action_view(
    form_class=ConflictForm, form_key="conflict_form", anchor="vote", success=_conflict_message,
    perform=lambda user, pk, data: services.member_declare_conflict(application_id=pk, user=user,
                                                                    reason=data["reason"]))

info_request = _action_view(
    form_class=InformationRequestForm, form_key="info_form", anchor="information",
    success=lambda request_: "Your question is sent to the centre; the review is paused until it answers.",
    perform=lambda user, pk, data: review.information_request_ask(application_id=pk, user=user,
                                                                  question=data["question"]))
