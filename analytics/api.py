"""REST endpoints of the reports: the latest report JSON (CONTRACT.md), recompute requests and their status."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors, services
from analytics.filters import SCOPES
from analytics.models import ReportStatus, ReportTrigger
from analytics.permissions import can_read_reports
from cases.errors import DomainError


class CanReadReports(permissions.BasePermission):
    message = "Registry reports are for analysts, operations managers and admins."

    def has_permission(self, request, view):
        return can_read_reports(request.user)


class ReportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RecomputeRequestSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=list(SCOPES), required=False, default="paper")
    product = serializers.CharField(required=False, allow_blank=True, max_length=20)
    indication = serializers.CharField(required=False, allow_blank=True, max_length=40)
    era = serializers.ChoiceField(choices=[1, 2], required=False, allow_null=True)
    centre = serializers.CharField(required=False, allow_blank=True, max_length=20)


class ReportSnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ReportStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    progress_message = serializers.CharField(allow_blank=True)
    filters = serializers.DictField(child=serializers.JSONField())
    is_current = serializers.BooleanField()
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    data_as_of = serializers.DateTimeField(allow_null=True)
    n_cases = serializers.IntegerField(allow_null=True)
    control_seed = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    url = serializers.CharField()


class ReportValidationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(allow_null=True, required=False)


def _snapshot_data(snapshot, request):
    data = {k: getattr(snapshot, k) for k in ("id", "status", "progress", "progress_message", "filters", "is_current",
                                              "requested_at", "started_at", "finished_at", "data_as_of", "n_cases",
                                              "control_seed", "error")}
    data["url"] = request.build_absolute_uri(f"/api/v1/reports/{snapshot.pk}/")
    return ReportSnapshotSerializer(data).data


_COMMON = {401: OpenApiResponse(ReportErrorSerializer, description="Not authenticated"),
           403: OpenApiResponse(ReportErrorSerializer, description="Not an analyst, operations manager or admin")}


class LatestReportView(APIView):
    permission_classes = [CanReadReports]

    @extend_schema(
        operation_id="reports_latest",
        summary="The latest complete report (unfiltered, the paper's cohort)",
        description="The report JSON of CONTRACT.md from the current unfiltered snapshot.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Report JSON (CONTRACT.md)"),
                   404: OpenApiResponse(ReportErrorSerializer, description="No report has been computed yet"),
                   **_COMMON},
        examples=[OpenApiExample("none yet", value={"detail": "No report has been computed yet; POST "
                                                    "/api/v1/reports/ to request one."}, response_only=True,
                                 status_codes=["404"])],
    )
    def get(self, request):
        snapshot = selectors.current_report("")
        if snapshot is None:
            return Response({"detail": "No report has been computed yet; POST /api/v1/reports/ to request one."},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(snapshot.report)


class ReportRecomputeView(APIView):
    permission_classes = [CanReadReports]

    @extend_schema(
        operation_id="reports_recompute",
        summary="Request a recompute",
        description=("Queues a new report snapshot for the filters (none: the unfiltered report) and answers 202 "
                     "with its id; poll its url. The snapshot replaces the current one only when complete. "
                     "While one with the same filters runs, that one is returned; one with other filters gives 409."),
        request=RecomputeRequestSerializer,
        responses={202: ReportSnapshotSerializer,
                   400: OpenApiResponse(ReportValidationErrorSerializer, description="Invalid filters or body"),
                   415: OpenApiResponse(ReportErrorSerializer, description="Body not JSON or form data"),
                   409: OpenApiResponse(ReportSnapshotSerializer, description="Another recompute is running"),
                   **_COMMON},
    )
    def post(self, request):
        body = RecomputeRequestSerializer(data=request.data if isinstance(request.data, dict) else {})
        if not isinstance(request.data, dict):
            return Response({"detail": "The body must be a JSON object.", "field": None}, status=400)
        if not body.is_valid():
            field, errors = next(iter(body.errors.items()))
            return Response({"detail": " ".join(str(e) for e in errors), "field": field}, status=400)
        try:
            snapshot, _ = services.request_recompute(actor=request.user, filters=body.validated_data,
                                                     trigger=ReportTrigger.API)
        except services.RecomputeBusy as busy:
            return Response(_snapshot_data(busy.running, request), status=status.HTTP_409_CONFLICT)
        except DomainError as exc:
            return Response({"detail": exc.message, "field": exc.field}, status=400)
        snapshot.refresh_from_db()
        return Response(_snapshot_data(snapshot, request), status=status.HTTP_202_ACCEPTED)


class ReportSnapshotView(APIView):
    permission_classes = [CanReadReports]

    @extend_schema(
        operation_id="reports_snapshot",
        summary="Status and progress of one report snapshot",
        responses={200: ReportSnapshotSerializer,
                   404: OpenApiResponse(ReportErrorSerializer, description="No such snapshot"),
                   **_COMMON},
    )
    def get(self, request, pk: int):
        snapshot = selectors.report_by_id(pk)
        if snapshot is None:
            return Response({"detail": "No report snapshot with this id."}, status=status.HTTP_404_NOT_FOUND)
        return Response(_snapshot_data(snapshot, request))


