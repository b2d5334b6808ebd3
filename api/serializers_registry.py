"""The registry's rows as the API shows them; foreign keys by their public codes."""

from rest_framework import serializers

from cases.models import (
    Apheresis,
    Case,
    Centre,
    FailureReason,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    Product,
    ReleaseParameter,
    ReleaseResult,
)


class CentreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Centre
        fields = ["id", "code", "name", "active"]


class ReleaseParameterSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseParameter
        fields = ["id", "kind", "name", "unit", "comparator", "limit", "order", "source"]


class ProductSerializer(serializers.ModelSerializer):
    release_parameters = ReleaseParameterSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "code", "brand", "generic_name", "manufacturer", "target_antigen", "active",
                  "release_parameters"]


class PatientSerializer(serializers.ModelSerializer):
    centre = serializers.SlugRelatedField(slug_field="code", queryset=Centre.objects.filter(active=True),
                                          required=False, help_text="Defaults to the user's own centre.")

    class Meta:
        model = Patient
        fields = ["id", "centre", "local_id", "sex", "birth_year", "weight_kg", "height_cm", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness of the local id within a centre is checked by the service (full_clean), once.
        validators = []


class CaseSerializer(serializers.ModelSerializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.none())
    centre = serializers.CharField(source="centre.code", read_only=True)
    product = serializers.SlugRelatedField(slug_field="code", queryset=Product.objects.filter(active=True))
    status = serializers.CharField(read_only=True)
    cohort = serializers.CharField(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "public_id", "patient", "centre", "product", "indication", "diagnosis", "approval_date",
                  "treatment_line", "ecog", "prior_lines", "prior_transplant", "prior_bendamustine",
                  "bendamustine_last_dose_date", "bendamustine_cycles", "prior_high_dose_cytarabine",
                  "comorbidity", "holding_therapy", "ldh_at_approval", "stage", "status", "cohort", "created_at"]
        read_only_fields = ["id", "public_id", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the patients the user may read can be named (another centre's id is "does not exist").
        if "request" in self.context:
            from cases.permissions import scope_to_user

            self.fields["patient"].queryset = scope_to_user(self.context["request"].user, Patient.objects.all())


def _scoped(request, queryset, centre_field):
    from cases.permissions import scope_to_user

    return scope_to_user(request.user, queryset, centre_field) if request is not None else queryset.none()


class _CaseRowSerializer(serializers.ModelSerializer):
    """A record of one case, named by the case's public id; only cases the user may read can be named."""

    case = serializers.SlugRelatedField(slug_field="public_id", queryset=Case.objects.none())
    centre = serializers.CharField(source="case.centre.code", read_only=True)
    # Other related rows that must be the user's to name: field → (model, path to the centre).
    scoped_fields: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        self.fields["case"].queryset = _scoped(request, Case.objects.all(), "centre")
        for name, (model, centre_field) in self.scoped_fields.items():
            self.fields[name].queryset = _scoped(request, model.objects.all(), centre_field)


class ApheresisSerializer(_CaseRowSerializer):
    class Meta:
        model = Apheresis
        validators = []  # uniqueness (one per case, consecutive numbers) is the service's to check
        fields = ["id", "case", "centre", "number", "date", "wbc", "neutrophils", "lymphocytes", "cd3_per_ul",
                  "haemoglobin", "platelets", "ldh", "crp", "volume_processed_l"]
        read_only_fields = ["id", "number"]


class AttemptSerializer(_CaseRowSerializer):
    apheresis = serializers.PrimaryKeyRelatedField(queryset=Apheresis.objects.none(),
                                                   help_text="id of the case's apheresis the product is made from")
    apheresis_number = serializers.IntegerField(source="apheresis.number", read_only=True)
    failure_reasons = serializers.SlugRelatedField(slug_field="code", many=True, required=False,
                                                   queryset=FailureReason.objects.all())
    scoped_fields = {"apheresis": (Apheresis, "case__centre")}

    class Meta:
        model = ManufacturingAttempt
        validators = []  # uniqueness (one per case, consecutive numbers) is the service's to check
        fields = ["id", "case", "centre", "number", "apheresis", "apheresis_number", "shipped_on", "result_on",
                  "outcome", "failure_reasons", "lot_number", "viable_car_t_dose", "notes"]
        read_only_fields = ["id", "number"]


class ReleaseResultSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="attempt.case.public_id", read_only=True)
    centre = serializers.CharField(source="attempt.case.centre.code", read_only=True)
    attempt_number = serializers.IntegerField(source="attempt.number", read_only=True)
    parameter = serializers.CharField(source="parameter.name", read_only=True)
    unit = serializers.CharField(source="parameter.unit", read_only=True)

    class Meta:
        model = ReleaseResult
        fields = ["id", "attempt", "case", "centre", "attempt_number", "parameter", "unit", "value_numeric",
                  "value_text", "within_spec"]


class InfusionSerializer(_CaseRowSerializer):
    attempt = serializers.PrimaryKeyRelatedField(queryset=ManufacturingAttempt.objects.none(),
                                                 help_text="id of the manufacturing attempt whose product was given")
    attempt_number = serializers.IntegerField(source="attempt.number", read_only=True)
    scoped_fields = {"attempt": (ManufacturingAttempt, "case__centre")}

    class Meta:
        model = Infusion
        validators = []  # uniqueness (one per case, consecutive numbers) is the service's to check
        fields = ["id", "case", "centre", "attempt", "attempt_number", "date", "dose", "bridging_therapy"]


class OutcomeSerializer(_CaseRowSerializer):
    class Meta:
        model = Outcome
        validators = []  # uniqueness (one per case, consecutive numbers) is the service's to check
        fields = ["id", "case", "centre", "best_response", "crs_grade", "icans_grade", "icu_admission",
                  "progression_date", "death_date", "death_cause", "last_contact_date"]
