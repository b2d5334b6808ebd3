"""Representations only: every rule lives in the services and selectors the views call."""

from rest_framework import serializers

from panel.models import Decision, OOSApplication, Recusal, Vote


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class TallySerializer(serializers.Serializer):
    approve = serializers.IntegerField()
    approve_physicians = serializers.IntegerField()
    approve_pharmacists = serializers.IntegerField()
    decline = serializers.IntegerField()
    abstain = serializers.IntegerField()
    not_voted = serializers.IntegerField()
    eligible = serializers.IntegerField()
    outcome = serializers.CharField()


class DecisionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = ["outcome", "decided_at"]


class ApplicationSerializer(serializers.ModelSerializer):
    """An OOS application; ``tally`` is filled in by the view (one bulk count per page)."""

    centre = serializers.CharField(source="centre.code", read_only=True)
    centre_name = serializers.CharField(source="centre.name", read_only=True)
    product = serializers.CharField(source="case.product.code", read_only=True)
    case = serializers.CharField(source="case.public_id", read_only=True)
    attempt = serializers.IntegerField(source="attempt.number", read_only=True)
    tally = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    class Meta:
        model = OOSApplication
        fields = ["id", "status", "centre", "centre_name", "product", "case", "attempt", "urgency",
                  "clinical_justification", "failed_parameters", "dose_verdict", "submitted_at", "sla_due_at",
                  "sla_paused_at", "created_at", "updated_at", "tally", "decision"]
        read_only_fields = fields

    def get_tally(self, application) -> TallySerializer:
        return self.context["tallies"][application.pk]

    def get_decision(self, application) -> DecisionBriefSerializer(allow_null=True):
        decision = getattr(application, "decision", None)
        return DecisionBriefSerializer(decision).data if decision is not None else None


class VoteInputSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=Vote._meta.get_field("choice").choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000, trim_whitespace=True)


class VoteSerializer(serializers.ModelSerializer):
    member = serializers.CharField(source="member.user.username", read_only=True)
    role = serializers.CharField(source="member.role", read_only=True)

    class Meta:
        model = Vote
        fields = ["id", "application", "member", "role", "choice", "comment", "cast_at"]
        read_only_fields = fields


class VoteCastSerializer(VoteSerializer):
    """The vote just recorded, with the decision it brought about (null while pending)."""

    replaced = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    class Meta(VoteSerializer.Meta):
        fields = [*VoteSerializer.Meta.fields, "replaced", "decision"]
        read_only_fields = fields

    def get_replaced(self, vote) -> bool:
        return not self.context["created"]

    def get_decision(self, vote) -> DecisionBriefSerializer(allow_null=True):
        decision = self.context["decision"]
        return DecisionBriefSerializer(decision).data if decision is not None else None


class DecisionSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="application.centre.code", read_only=True)

    class Meta:
        model = Decision
        fields = ["id", "application", "centre", "outcome", "decided_at", "tally"]
        read_only_fields = fields


class RecusalSerializer(serializers.ModelSerializer):
    member = serializers.CharField(source="member.user.username", read_only=True)

    class Meta:
        model = Recusal
        fields = ["id", "application", "member", "reason", "automatic", "created_at"]
        read_only_fields = fields
