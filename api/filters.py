"""Query filters of the list endpoints (django-filter); unknown choices are a 400, never a 500."""

import django_filters as filters

from cases.models import (
    Apheresis,
    AttemptOutcome,
    Case,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    ReleaseResult,
    Response,
)
from panel.models import ApplicationStatus, Decision, DecisionOutcome, OOSApplication, Urgency, Vote


class ApplicationFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=ApplicationStatus.choices)
    centre = filters.CharFilter(field_name="centre__code")
    product = filters.CharFilter(field_name="case__product__code")
    urgency = filters.ChoiceFilter(choices=Urgency.choices)
    submitted_after = filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="lt")

    class Meta:
        model = OOSApplication
        fields = ["status", "centre", "product", "urgency", "submitted_after", "submitted_before"]


class VoteFilter(filters.FilterSet):
    application = filters.NumberFilter(field_name="application_id")
    choice = filters.ChoiceFilter(choices=Vote._meta.get_field("choice").choices)
    member = filters.CharFilter(field_name="member__user__username")

    class Meta:
        model = Vote
        fields = ["application", "choice", "member"]


class DecisionFilter(filters.FilterSet):
    outcome = filters.ChoiceFilter(choices=DecisionOutcome.choices)
    centre = filters.CharFilter(field_name="application__centre__code")
    decided_after = filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="gte")
    decided_before = filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="lt")

    class Meta:
        model = Decision
        fields = ["outcome", "centre", "decided_after", "decided_before"]


class CentreScopedFilter(filters.FilterSet):
    """``centre`` by code, for the registry rows reached through their case."""

    centre = filters.CharFilter(field_name="case__centre__code")
    case = filters.CharFilter(field_name="case__public_id")


class PatientFilter(filters.FilterSet):
    centre = filters.CharFilter(field_name="centre__code")
    sex = filters.CharFilter()

    class Meta:
        model = Patient
        fields = ["centre", "sex"]


class CaseFilter(filters.FilterSet):
    centre = filters.CharFilter(field_name="centre__code")
    product = filters.CharFilter(field_name="product__code")
    approved_after = filters.DateFilter(field_name="approval_date", lookup_expr="gte")
    approved_before = filters.DateFilter(field_name="approval_date", lookup_expr="lte")

    class Meta:
        model = Case
        fields = ["centre", "product", "indication", "approved_after", "approved_before"]


class ApheresisFilter(CentreScopedFilter):
    class Meta:
        model = Apheresis
        fields = ["centre", "case"]


class AttemptFilter(CentreScopedFilter):
    outcome = filters.ChoiceFilter(choices=AttemptOutcome.choices)

    class Meta:
        model = ManufacturingAttempt
        fields = ["centre", "case", "outcome"]


class InfusionFilter(CentreScopedFilter):
    class Meta:
        model = Infusion
        fields = ["centre", "case"]


class OutcomeFilter(CentreScopedFilter):
    best_response = filters.ChoiceFilter(choices=Response.choices)

    class Meta:
        model = Outcome
        fields = ["centre", "case", "best_response"]


class ReleaseResultFilter(filters.FilterSet):
    centre = filters.CharFilter(field_name="attempt__case__centre__code")
    case = filters.CharFilter(field_name="attempt__case__public_id")

    class Meta:
        model = ReleaseResult
        fields = ["centre", "case", "attempt", "within_spec"]
