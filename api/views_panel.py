"""The panel's endpoints: applications (with the live tally), votes and decisions."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Role
from api.filters import ApplicationFilter, DecisionFilter, VoteFilter
from api.serializers import (
    ApplicationSerializer,
    DecisionSerializer,
    ErrorSerializer,
    VoteCastSerializer,
    VoteInputSerializer,
    VoteSerializer,
)
from api.tallies import tallies_for
from panel import services
from panel.models import Decision, Vote
from panel.selectors import applications_visible_to

_ERRORS = {code: OpenApiResponse(ErrorSerializer, description=text) for code, text in (
    (400, "The request is not valid."), (403, "Not allowed for this user."), (404, "Not found or not visible."),
    (409, "The application is not taking this operation (decided, withdrawn...)."))}


def _sees_votes(user) -> bool:
    # Votes are the panel's deliberation: centre users see the outcome, not who voted how.
    return user.is_authenticated and (user.is_superuser or user.role != Role.CENTRE_USER)


class ApplicationViewSet(viewsets.ReadOnlyModelViewSet):
    """OOS applications the user may see (the same rule as the pages); ``?status=under_review``."""

    lookup_value_regex = r"\d+"

    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter

    def get_queryset(self):
        return applications_visible_to(self.request.user).select_related("decision")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tallies": getattr(self, "_tallies", {})}

    def get_serializer(self, *args, **kwargs):
        if args and self.action in ("list", "retrieve"):
            instance = args[0]
            self._tallies = tallies_for(instance if isinstance(instance, (list, tuple)) else [instance])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(request=VoteInputSerializer, summary="Cast or replace the user's vote",
                   responses={201: VoteCastSerializer, 200: VoteCastSerializer, **_ERRORS})
    @action(detail=True, methods=["post"], url_path="votes", serializer_class=VoteCastSerializer)
    def votes(self, request, pk=None):
        if not applications_visible_to(request.user).filter(pk=pk).exists():
            raise Http404("No such OOS application.")
        body = VoteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        vote, created, decision = services.vote_cast(application_id=int(pk), user=request.user,
                                                     **body.validated_data)
        data = VoteCastSerializer(vote, context={"created": created, "decision": decision}).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class VoteViewSet(viewsets.ReadOnlyModelViewSet):
    """Current votes on the applications the user may see (panel, operations and admins only)."""

    lookup_value_regex = r"\d+"

    serializer_class = VoteSerializer
    filterset_class = VoteFilter

    def get_queryset(self):
        user = self.request.user
        if not _sees_votes(user):
            return Vote.objects.none()
        return (Vote.objects.filter(application__in=applications_visible_to(user).values("pk"))
                .select_related("member__user").order_by("-cast_at", "-id"))


class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The panel's decisions on the applications the user may see."""

    lookup_value_regex = r"\d+"

    serializer_class = DecisionSerializer
    filterset_class = DecisionFilter

    def get_queryset(self):
        return (Decision.objects.filter(application__in=applications_visible_to(self.request.user).values("pk"))
                .select_related("application__centre").order_by("-decided_at", "-id"))
