"""Reads of the registry: querysets shaped for the pages and the API."""

from django.db.models import Case as When_
from django.db.models import CharField, Exists, OuterRef, Prefetch, Q, QuerySet, TextChoices, Value, When

from cases.models import (
    FAILED_OUTCOMES,
    Apheresis,
    AttemptOutcome,
    Case,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    ReleaseResult,
)
from cases.permissions import scope_to_user

try:
    from cases import dosing
except ImportError:  # the SmPC dose module is optional for the pages: no verdict without it
    dosing = None


class CaseStatus(TextChoices):
    """Where a case stands, derived from its records (never stored, so it cannot go stale)."""

    AWAITING_APHERESIS = "awaiting_apheresis", "Awaiting apheresis"
    IN_MANUFACTURE = "in_manufacture", "In manufacture"
    PRODUCT_AVAILABLE = "product_available", "Product available"
    INFUSED = "infused", "Infused"
    # Died before any infusion: nothing more will be recorded but the follow-up.
    CLOSED = "closed", "Closed, not infused"


class CaseCohort(TextChoices):
    """The paper's cohorts as far as one case's own records tell (controls need the matched set)."""

    OOS_INFUSED = "oos_infused", "OOS infused"
    DELAYED_INFUSED = "delayed_infused", "Delayed infused"
    MF_NOT_INFUSED = "mf_not_infused", "MF not infused"
    NO_MF = "no_mf", "No manufacturing failure"


STATUSES = CaseStatus.choices
COHORTS = CaseCohort.choices


def _annotated(queryset: QuerySet) -> QuerySet:
    attempts = ManufacturingAttempt.objects.filter(case=OuterRef("pk"))
    infusion = Infusion.objects.filter(case=OuterRef("pk"))
    died = Outcome.objects.filter(case=OuterRef("pk"), death_date__isnull=False)
    queryset = queryset.annotate(
        has_infusion=Exists(infusion),
        has_mf=Exists(attempts.filter(outcome__in=FAILED_OUTCOMES)),
        infused_oos=Exists(infusion.filter(attempt__outcome=AttemptOutcome.OOS)),
        has_attempt=Exists(attempts),
        has_pending=Exists(attempts.filter(outcome=AttemptOutcome.PENDING)),
        has_product=Exists(attempts.filter(outcome__in=[AttemptOutcome.IN_SPEC, AttemptOutcome.OOS])),
        has_apheresis=Exists(Apheresis.objects.filter(case=OuterRef("pk"))),
        has_died=Exists(died),
    )
    return queryset.annotate(
        status=When_(
            When(has_infusion=True, then=Value(CaseStatus.INFUSED)),
            When(has_died=True, then=Value(CaseStatus.CLOSED)),
            When(has_pending=True, then=Value(CaseStatus.IN_MANUFACTURE)),
            When(has_product=True, then=Value(CaseStatus.PRODUCT_AVAILABLE)),
            # Collected but no attempt yet, or every attempt failed: a re-manufacture is the next step.
            When(has_apheresis=True, then=Value(CaseStatus.IN_MANUFACTURE)),
            default=Value(CaseStatus.AWAITING_APHERESIS),
            output_field=CharField(),
        ),
        cohort=When_(
            When(infused_oos=True, then=Value(CaseCohort.OOS_INFUSED)),
            # Infused, not OOS, after a failure: an in-specification product from a re-manufacture.
            When(has_mf=True, has_infusion=True, then=Value(CaseCohort.DELAYED_INFUSED)),
            When(has_mf=True, then=Value(CaseCohort.MF_NOT_INFUSED)),
            default=Value(CaseCohort.NO_MF),
            output_field=CharField(),
        ),
    )


def cases_visible_to(*, user, filters: dict | None = None) -> QuerySet:
    """Cases the user may read, annotated with ``status`` and ``cohort``, filtered."""
    filters = filters or {}
    queryset = _annotated(scope_to_user(user, Case.objects.select_related("product", "centre", "patient")))
    if q := (filters.get("q") or "").strip():
        queryset = queryset.filter(Q(public_id__icontains=q) | Q(patient__local_id__icontains=q))
    if product := filters.get("product"):
        queryset = queryset.filter(product__code=product)
    if centre := filters.get("centre"):
        queryset = queryset.filter(centre__code=centre)
    if status := filters.get("status"):
        queryset = queryset.filter(status=status)
    if cohort := filters.get("cohort"):
        queryset = queryset.filter(cohort=cohort)
    return queryset.order_by("-approval_date", "-id")


def case_timeline(case: Case) -> dict:
    """Everything the case page shows, in clinical order, in a bounded number of queries.

    Each attempt carries ``spec_rows`` (every parameter of the product's specification with its
    result or None) and ``dose_verdict`` (SmPC check, None when it cannot be judged).
    """

    attempts = list(
        _with_live_application(case.attempts.select_related("apheresis"))
        .prefetch_related(
            "failure_reasons",
            Prefetch("release_results", queryset=ReleaseResult.objects.select_related("parameter")),
        )
        .order_by("number")
    )
    parameters = list(case.product.release_parameters.all())
    rules = list(case.product.dose_rules.all())
    for attempt in attempts:
        results = {r.parameter_id: r for r in attempt.release_results.all()}
        attempt.spec_rows = [(p, results.get(p.pk)) for p in parameters]
        attempt.dose_verdict = dose_verdict(rules, case=case, dose=attempt.viable_car_t_dose)
    infusion = Infusion.objects.filter(case=case).select_related("attempt").first()
    outcome = Outcome.objects.filter(case=case).first()
    return {
        "apheresis": list(case.apheresis_set.order_by("date", "number")),
        "attempts": attempts,
        "infusion": infusion,
        "outcome": outcome,
        "cytopenias": list(case.cytopenias.all()),
    }


def _with_live_application(attempts: QuerySet) -> QuerySet:
    """Annotate each attempt with its live OOS application (id and status), in the attempts' own query.

    The panel app owns the applications; it is looked up by name so the registry does not import it.
    """
    from django.apps import apps
    from django.db.models import Subquery

    application_model = apps.get_model("panel", "OOSApplication")
    live = (application_model.objects.filter(attempt=OuterRef("pk"))
            .exclude(status__in=["withdrawn", "declined"]).order_by("-id"))
    return attempts.annotate(live_application_id=Subquery(live.values("pk")[:1]),
                             live_application_status=Subquery(live.values("status")[:1]))


def dose_verdict(rules, *, case: Case, dose):
    """The SmPC verdict for a dose, or None when it cannot be judged (no dose, no matching rule)."""
    if not dose or dosing is None:
        return None
    try:
        return dosing.assess_dose(rules, indication=case.indication, weight_kg=case.patient.weight_kg, dose=dose)
    except ValueError:
        # DoseRuleError (no or several matching rules) is a ValueError: the page shows no verdict.
        return None
