"""The registry's endpoints: every read scoped like the pages, every write through cases.services."""

from django.core.exceptions import PermissionDenied
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError

from api import filters as api_filters
from api import serializers_registry as s
from cases import services
from cases.models import (
    Apheresis,
    Centre,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    Product,
    ReleaseResult,
)
from cases.permissions import can_register, check_write, scope_to_user
from cases.selectors import cases_visible_to


class _ScopedReadViewSet(viewsets.ReadOnlyModelViewSet):
    """Rows of the centres the user may read (``scope_to_user``): another centre's row is a 404."""

    lookup_value_regex = r"\d+"
    base_queryset = None
    centre_field = "centre"

    def get_queryset(self):
        return scope_to_user(self.request.user, self.base_queryset.all(), self.centre_field)


class CentreViewSet(viewsets.ReadOnlyModelViewSet):
    """Treatment centres (reference data every user may read)."""

    lookup_value_regex = r"\d+"
    queryset = Centre.objects.order_by("code")
    serializer_class = s.CentreSerializer
    filterset_fields = ["active", "code"]


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """CAR-T products with their release specification."""

    lookup_value_regex = r"\d+"
    queryset = Product.objects.prefetch_related("release_parameters").order_by("code")
    serializer_class = s.ProductSerializer
    filterset_fields = ["active", "code"]


class PatientViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, _ScopedReadViewSet):
    """Pseudonymised patients; centre users register and correct their own centre's, admins any centre's."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    base_queryset = Patient.objects.select_related("centre")
    serializer_class = s.PatientSerializer
    filterset_class = api_filters.PatientFilter

    def perform_create(self, serializer):
        user = self.request.user
        if not can_register(user):
            raise PermissionDenied("Your role cannot register patients.")
        data = dict(serializer.validated_data)
        centre = data.pop("centre", None) or user.centre
        if centre is None:
            raise ValidationError({"centre": ["Name the centre the patient belongs to."]})
        serializer.instance = services.patient_create(actor=user, centre=centre, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        centre = data.pop("centre", None)
        if centre is not None and centre.pk != serializer.instance.centre_id:
            raise PermissionDenied("A patient cannot move to another centre.")
        check_write(self.request.user, serializer.instance.centre_id)
        serializer.instance = services.patient_update(actor=self.request.user, patient=serializer.instance, **data)


class CaseViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, _ScopedReadViewSet):
    """Cases with their derived status and cohort; registered and edited like on the case pages."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = s.CaseSerializer
    filterset_class = api_filters.CaseFilter

    def get_queryset(self):
        return cases_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        user = self.request.user
        if not can_register(user):
            raise PermissionDenied("Your role cannot register cases.")
        case = services.case_create(actor=user, **serializer.validated_data)
        serializer.instance = cases_visible_to(user=user).get(pk=case.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        patient = data.pop("patient", None)
        if patient is not None and patient.pk != serializer.instance.patient_id:
            raise PermissionDenied("A case cannot move to another patient.")
        check_write(self.request.user, serializer.instance.centre_id)
        case = services.case_update(actor=self.request.user, case=serializer.instance, **data)
        serializer.instance = cases_visible_to(user=self.request.user).get(pk=case.pk)


class _CaseRecordViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, _ScopedReadViewSet):
    """A record of a case, written through its ``cases.services`` pair as the case page does.

    The case is fixed once recorded; whether the user may write it is the service's check.
    """

    http_method_names = ["get", "post", "patch", "head", "options"]
    centre_field = "case__centre"
    record_service = update_service = None
    instance_arg = ""

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = self.record_service(actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        case = data.pop("case", None)
        if case is not None and case.pk != serializer.instance.case_id:
            raise ValidationError({"case": ["A record cannot move to another case."]})
        serializer.instance = self.update_service(actor=self.request.user, **{self.instance_arg: serializer.instance},
                                                  **data)


class ApheresisViewSet(_CaseRecordViewSet):
    """Apheresis collections of the cases the user may read; recorded and corrected like on the case page."""

    record_service = staticmethod(services.apheresis_record)
    update_service = staticmethod(services.apheresis_update)
    instance_arg = "apheresis"
    base_queryset = Apheresis.objects.select_related("case__centre").order_by("case_id", "number")
    centre_field = "case__centre"
    serializer_class = s.ApheresisSerializer
    filterset_class = api_filters.ApheresisFilter


class AttemptViewSet(_CaseRecordViewSet):
    """Manufacturing attempts (numbered 1, 2, 3… by the service)."""

    record_service = staticmethod(services.attempt_record)
    update_service = staticmethod(services.attempt_update)
    instance_arg = "attempt"
    base_queryset = (ManufacturingAttempt.objects.select_related("case__centre", "apheresis")
                     .prefetch_related("failure_reasons").order_by("case_id", "number"))
    centre_field = "case__centre"
    serializer_class = s.AttemptSerializer
    filterset_class = api_filters.AttemptFilter


class ReleaseResultViewSet(_ScopedReadViewSet):
    base_queryset = (ReleaseResult.objects.select_related("attempt__case__centre", "parameter")
                     .order_by("attempt_id", "parameter__order", "id"))
    centre_field = "attempt__case__centre"
    serializer_class = s.ReleaseResultSerializer
    filterset_class = api_filters.ReleaseResultFilter


class InfusionViewSet(_CaseRecordViewSet):
    """The one infusion of a case."""

    record_service = staticmethod(services.infusion_record)
    update_service = staticmethod(services.infusion_update)
    instance_arg = "infusion"
    base_queryset = Infusion.objects.select_related("case__centre", "attempt").order_by("-date", "-id")
    centre_field = "case__centre"
    serializer_class = s.InfusionSerializer
    filterset_class = api_filters.InfusionFilter


class OutcomeViewSet(_CaseRecordViewSet):
    """Response, toxicity and follow-up of a case."""

    record_service = staticmethod(services.outcome_record)
    update_service = staticmethod(services.outcome_update)
    instance_arg = "outcome"
    base_queryset = Outcome.objects.select_related("case__centre").order_by("case_id")
    centre_field = "case__centre"
    serializer_class = s.OutcomeSerializer
    filterset_class = api_filters.OutcomeFilter
