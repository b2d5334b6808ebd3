"""The CAR-T registry: centres, products and their specifications, patients and their cases.

Row-level invariants live here (choices, ranges, constraints, ``clean``); cross-record checks
that need the database (dates in order across records, consecutive attempt numbers) are in
``clean`` too so that forms, services and the admin all run them through ``full_clean()``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

MILLION = 1_000_000


class Centre(models.Model):
    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class Product(models.Model):
    code = models.SlugField(max_length=20, unique=True, help_text="e.g. axi-cel")
    brand = models.CharField(max_length=80)
    generic_name = models.CharField(max_length=120)
    manufacturer = models.CharField(max_length=120)
    target_antigen = models.CharField(max_length=20, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["brand"]

    def __str__(self):
        return f"{self.brand} ({self.code})"


class DoseBasis(models.TextChoices):
    PER_KG = "per_kg", "per kg body weight"
    FLAT = "flat", "flat (total)"


class DoseRule(models.Model):
    """The SmPC dose range of a product for one indication and weight band.

    Doses are CAR-positive viable T cells. A per-kg rule multiplies by the weight, with the
    weight capped at ``weight_cap_kg`` when the SmPC sets a maximum dose (e.g. Yescarta: at most
    2×10⁸ for patients of 100 kg and above).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="dose_rules")
    indication = models.CharField(max_length=40, help_text="e.g. LBCL, B-ALL, MCL, MM")
    indication_label = models.CharField(max_length=200, blank=True)
    weight_min_kg = models.FloatField(null=True, blank=True, help_text="band applies above this weight")
    weight_max_kg = models.FloatField(null=True, blank=True, help_text="band applies up to this weight")
    basis = models.CharField(max_length=10, choices=DoseBasis.choices)
    min_dose = models.FloatField(null=True, blank=True, help_text="cells (per kg for per-kg rules)")
    max_dose = models.FloatField(null=True, blank=True, help_text="cells (per kg for per-kg rules)")
    target_dose = models.FloatField(null=True, blank=True)
    weight_cap_kg = models.FloatField(null=True, blank=True)
    max_total_dose = models.FloatField(null=True, blank=True, help_text="absolute cap, cells")
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=300, help_text="where the rule comes from (SmPC section)")
    history = HistoricalRecords()

    class Meta:
        ordering = ["product__code", "indication", "weight_min_kg"]

    def __str__(self):
        return f"{self.product.code} {self.indication} ({self.get_basis_display()})"


class Comparator(models.TextChoices):
    GTE = "gte", "≥"
    LTE = "lte", "≤"
    PASS = "pass", "pass / negative"


class ReleaseParameterKind(models.TextChoices):
    VIABILITY = "viability", "Cell viability"
    CAR_T_DOSE = "car_t_dose", "Total viable CAR+ T-cell dose"
    CAR_EXPRESSION = "car_expression", "CAR expression / transduction"
    CD3_PURITY = "cd3_purity", "T-cell (CD3+) purity"
    IFN_GAMMA = "ifn_gamma", "Potency (IFN-γ release)"
    VCN = "vcn", "Vector copy number"
    STERILITY = "sterility", "Sterility"
    MYCOPLASMA = "mycoplasma", "Mycoplasma"
    ENDOTOXIN = "endotoxin", "Endotoxin"
    RCR = "rcr", "Replication-competent retro-/lentivirus"
    OTHER = "other", "Appearance / other"


class ReleaseParameter(models.Model):
    """One line of a product's release specification."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="release_parameters")
    kind = models.CharField(max_length=20, choices=ReleaseParameterKind.choices)
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=40, blank=True)
    comparator = models.CharField(max_length=4, choices=Comparator.choices)
    limit = models.FloatField(null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["product__code", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["product", "kind"], name="one_parameter_kind_per_product")]

    def clean(self):
        if self.comparator in (Comparator.GTE, Comparator.LTE) and self.limit is None:
            raise ValidationError({"limit": "A numeric comparator needs a limit."})

    def is_met_by(self, value_numeric, value_text) -> bool | None:
        """True/False when the result can be judged against this parameter, None when missing."""
        if self.comparator == Comparator.PASS:
            if not value_text:
                return None
            return value_text.strip().lower() in {"pass", "negative", "conforms", "sterile", "not detected"}
        if value_numeric is None:
            return None
        return value_numeric >= self.limit if self.comparator == Comparator.GTE else value_numeric <= self.limit

    @property
    def spec_display(self) -> str:
        if self.comparator == Comparator.PASS:
            return "pass / negative"
        return f"{self.get_comparator_display()} {self.limit:g} {self.unit}".strip()

    def __str__(self):
        return f"{self.product.code}: {self.name} {self.spec_display}"


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"


class Patient(models.Model):
    """Pseudonymised: the centre's local study id only, never a name or NHS number."""

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="patients")
    local_id = models.CharField(max_length=40, help_text="Centre's local study id (no names)")
    sex = models.CharField(max_length=1, choices=Sex.choices)
    birth_year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1900), MaxValueValidator(2100)])
    weight_kg = models.FloatField(validators=[MinValueValidator(1), MaxValueValidator(300)],
                                  help_text="kg, 1-300")
    height_cm = models.FloatField(null=True, blank=True,
                                  validators=[MinValueValidator(30), MaxValueValidator(250)])
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["centre__code", "local_id"]
        constraints = [
            models.UniqueConstraint(fields=["centre", "local_id"], name="patient_local_id_unique_per_centre"),
            models.CheckConstraint(condition=models.Q(weight_kg__gte=1, weight_kg__lte=300),
                                   name="patient_weight_in_range"),
        ]

    def __str__(self):
        return f"{self.centre.code}/{self.local_id}"


class Diagnosis(models.TextChoices):
    DE_NOVO_DLBCL = "dlbcl", "De novo DLBCL"
    PMBCL = "pmbcl", "PMBCL"
    TFL = "tfl", "Transformed FL"
    RICHTER = "richter", "Richter's"
    TNLPHL = "tnlphl", "Transformed NLPHL"
    HGBL = "hgbl", "HGBL"
    FL = "fl", "Follicular lymphoma"
    MCL = "mcl", "Mantle cell lymphoma"
    B_ALL = "b_all", "B-ALL"
    MM = "mm", "Multiple myeloma"
    CLL = "cll", "CLL"
    OTHER = "other", "Other"


class Transplant(models.TextChoices):
    NONE = "none", "None"
    AUTO = "auto", "Autograft"
    ALLO = "allo", "Allograft"


class HoldingTherapy(models.TextChoices):
    NONE = "none", "None"
    STEROIDS = "steroids", "Steroids only"
    RADIOTHERAPY = "rt", "RT ± steroids"
    INTENSIVE_CHEMO = "intensive", "Intensive chemotherapy"
    LOW_DOSE_CHEMO = "low_dose", "Low-dose chemotherapy"
    COMBINED = "cmt", "Combined modality"
    OTHER = "other", "Other"


class Case(models.Model):
    """One patient's approved CAR-T treatment; the panel approval date is the OS origin."""

    public_id = models.CharField(max_length=20, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="cases")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="cases")
    indication = models.CharField(max_length=40, help_text="as in the product's dose rules, e.g. LBCL")
    diagnosis = models.CharField(max_length=12, choices=Diagnosis.choices, blank=True)
    approval_date = models.DateField(help_text="National CAR-T panel approval (origin of OS)")
    treatment_line = models.PositiveSmallIntegerField(null=True, blank=True,
                                                      validators=[MinValueValidator(2), MaxValueValidator(15)])
    # Baseline risk factors (Table 1 of the paper). Null = unknown.
    ecog = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(5)])
    prior_lines = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(15)])
    prior_transplant = models.CharField(max_length=4, choices=Transplant.choices, blank=True)
    prior_bendamustine = models.BooleanField(null=True, blank=True)
    bendamustine_last_dose_date = models.DateField(null=True, blank=True,
                                                   help_text="Day 1 of the last bendamustine cycle")
    bendamustine_cycles = models.PositiveSmallIntegerField(null=True, blank=True,
                                                           validators=[MaxValueValidator(12)])
    prior_high_dose_cytarabine = models.BooleanField(null=True, blank=True)
    comorbidity = models.BooleanField(null=True, blank=True)
    holding_therapy = models.CharField(max_length=10, choices=HoldingTherapy.choices, blank=True)
    ldh_at_approval = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    stage = models.PositiveSmallIntegerField(null=True, blank=True,
                                             validators=[MinValueValidator(1), MaxValueValidator(4)])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-approval_date", "-id"]
        indexes = [models.Index(fields=["centre", "-approval_date"]), models.Index(fields=["product"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(ecog__lte=5) | models.Q(ecog__isnull=True),
                                   name="case_ecog_range"),
        ]

    def __str__(self):
        return self.public_id

    def clean(self):
        errors = {}
        if self.patient_id and self.centre_id and self.patient.centre_id != self.centre_id:
            errors["patient"] = "The patient belongs to another centre."
        if self.prior_bendamustine is False and self.bendamustine_last_dose_date:
            errors["bendamustine_last_dose_date"] = "No prior bendamustine was recorded."
        if self.bendamustine_last_dose_date and self.approval_date and \
                self.bendamustine_last_dose_date > self.approval_date:
            errors["bendamustine_last_dose_date"] = "The last bendamustine dose is after the panel approval."
        if self.pk and self.approval_date:
            first_apheresis = self.apheresis_set.order_by("date").values_list("date", flat=True).first()
            if first_apheresis and first_apheresis < self.approval_date:
                errors["approval_date"] = f"An apheresis is recorded on {first_apheresis}, before this date."
        if errors:
            raise ValidationError(errors)


class Apheresis(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE)
    number = models.PositiveSmallIntegerField(default=1)
    date = models.DateField()
    wbc = models.FloatField("WBC (×10⁹/L)", null=True, blank=True, validators=[MinValueValidator(0)])
    neutrophils = models.FloatField("Neutrophils (×10⁹/L)", null=True, blank=True,
                                    validators=[MinValueValidator(0)])
    lymphocytes = models.FloatField("ALC (×10⁹/L)", null=True, blank=True, validators=[MinValueValidator(0)])
    cd3_per_ul = models.FloatField("CD3+ (cells/µL)", null=True, blank=True, validators=[MinValueValidator(0)])
    haemoglobin = models.FloatField("Hb (g/L)", null=True, blank=True, validators=[MinValueValidator(0)])
    platelets = models.FloatField("Platelets (×10⁹/L)", null=True, blank=True,
                                  validators=[MinValueValidator(0)])
    ldh = models.FloatField("LDH (U/L)", null=True, blank=True, validators=[MinValueValidator(0)])
    crp = models.FloatField("CRP (mg/L)", null=True, blank=True, validators=[MinValueValidator(0)])
    volume_processed_l = models.FloatField("Blood volume processed (L)", null=True, blank=True,
                                           validators=[MinValueValidator(0), MaxValueValidator(40)])
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "apheresis collections"
        ordering = ["case", "number"]
        constraints = [models.UniqueConstraint(fields=["case", "number"], name="apheresis_number_unique")]

    def __str__(self):
        return f"{self.case} apheresis {self.number}"

    def clean(self):
        if self.case_id and self.date and self.date < self.case.approval_date:
            approval = self.case.approval_date
            raise ValidationError({"date": f"Apheresis cannot be before the panel approval ({approval})."})


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "In manufacture"
    IN_SPEC = "in_spec", "In specification"
    OOS = "oos", "Out of specification"
    NO_PRODUCT = "no_product", "No product"


FAILED_OUTCOMES = (AttemptOutcome.OOS, AttemptOutcome.NO_PRODUCT)


class FailureReason(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "label"]

    def __str__(self):
        return self.label


class ManufacturingAttempt(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attempts")
    apheresis = models.ForeignKey(Apheresis, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField(help_text="1 for the first manufacture, then 2, 3…")
    shipped_on = models.DateField(help_text="Apheresis material shipped / manufacture started")
    result_on = models.DateField(null=True, blank=True, help_text="Release result / failure notified")
    outcome = models.CharField(max_length=12, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    failure_reasons = models.ManyToManyField(FailureReason, blank=True, related_name="attempts")
    lot_number = models.CharField(max_length=60, blank=True)
    viable_car_t_dose = models.FloatField("Total viable CAR+ T-cell dose (cells)", null=True, blank=True,
                                          validators=[MinValueValidator(0)])
    notes = models.TextField(blank=True)
    history = HistoricalRecords(m2m_fields=[failure_reasons])

    class Meta:
        ordering = ["case", "number"]
        constraints = [models.UniqueConstraint(fields=["case", "number"], name="attempt_number_unique")]
        indexes = [models.Index(fields=["outcome"])]

    def __str__(self):
        return f"{self.case} attempt {self.number}"

    @property
    def is_failure(self) -> bool:
        return self.outcome in FAILED_OUTCOMES

    def clean(self):
        errors = {}
        if self.apheresis_id and self.case_id and self.apheresis.case_id != self.case_id:
            errors["apheresis"] = "This apheresis belongs to another case."
        if self.apheresis_id and self.shipped_on and self.shipped_on < self.apheresis.date:
            errors["shipped_on"] = f"Manufacture cannot start before the apheresis ({self.apheresis.date})."
        if self.result_on and self.shipped_on and self.result_on < self.shipped_on:
            errors["result_on"] = "The result cannot be before the manufacture started."
        if self.case_id and self.number:
            others = self.case.attempts.exclude(pk=self.pk).values_list("number", flat=True)
            expected = len(others) + 1 if not self.pk else None
            if expected is not None and self.number != expected:
                errors["number"] = f"Attempts are numbered consecutively: the next one is {expected}."
        if self.outcome == AttemptOutcome.NO_PRODUCT and self.viable_car_t_dose:
            errors["viable_car_t_dose"] = "A 'no product' attempt has no releasable dose."
        if errors:
            raise ValidationError(errors)


class ReleaseResult(models.Model):
    """A certificate-of-analysis value for one parameter of the product's specification."""

    attempt = models.ForeignKey(ManufacturingAttempt, on_delete=models.CASCADE, related_name="release_results")
    parameter = models.ForeignKey(ReleaseParameter, on_delete=models.PROTECT, related_name="results")
    value_numeric = models.FloatField(null=True, blank=True)
    value_text = models.CharField(max_length=60, blank=True)
    # Judged against the specification in force when recorded: a later change of the limit
    # must not rewrite history of what the panel saw.
    within_spec = models.BooleanField(null=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["attempt", "parameter__order"]
        constraints = [models.UniqueConstraint(fields=["attempt", "parameter"], name="one_result_per_parameter")]

    def clean(self):
        if self.attempt_id and self.parameter_id and self.parameter.product_id != self.attempt.case.product_id:
            raise ValidationError({"parameter": "This parameter belongs to another product's specification."})
        if self.value_numeric is None and not self.value_text:
            raise ValidationError("Enter a value.")

    def __str__(self):
        return f"{self.attempt} {self.parameter.name}"


class Infusion(models.Model):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="infusion")
    attempt = models.OneToOneField(ManufacturingAttempt, on_delete=models.PROTECT, related_name="infusion")
    date = models.DateField()
    dose = models.FloatField("Infused viable CAR+ T cells", null=True, blank=True, validators=[MinValueValidator(0)])
    bridging_therapy = models.CharField(max_length=10, choices=HoldingTherapy.choices, blank=True)
    history = HistoricalRecords()

    def __str__(self):
        return f"{self.case} infusion"

    @property
    def is_oos(self) -> bool:
        return self.attempt.outcome == AttemptOutcome.OOS

    def clean(self):
        errors = {}
        if self.attempt_id and self.case_id and self.attempt.case_id != self.case_id:
            errors["attempt"] = "This attempt belongs to another case."
        elif self.attempt_id and self.attempt.outcome not in (AttemptOutcome.IN_SPEC, AttemptOutcome.OOS):
            errors["attempt"] = "Only an in-specification or out-of-specification product can be infused."
        if self.attempt_id and self.date and self.attempt.shipped_on and self.date < self.attempt.shipped_on:
            errors["date"] = f"Infusion cannot be before the manufacture started ({self.attempt.shipped_on})."
        if errors:
            raise ValidationError(errors)


class Response(models.TextChoices):
    CR = "CR", "Complete response"
    PR = "PR", "Partial response"
    SD = "SD", "Stable disease"
    PD = "PD", "Progressive disease"
    NE = "NE", "Not evaluable"


GRADE_VALIDATORS = [MinValueValidator(0), MaxValueValidator(5)]


class Outcome(models.Model):
    """Response, toxicity and follow-up of a case (one row per case)."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="outcome")
    best_response = models.CharField(max_length=2, choices=Response.choices, blank=True)
    crs_grade = models.PositiveSmallIntegerField("CRS max grade (ASTCT)", null=True, blank=True,
                                                 validators=GRADE_VALIDATORS)
    icans_grade = models.PositiveSmallIntegerField("ICANS max grade (ASTCT)", null=True, blank=True,
                                                   validators=GRADE_VALIDATORS)
    icu_admission = models.BooleanField(null=True, blank=True)
    progression_date = models.DateField(null=True, blank=True)
    death_date = models.DateField(null=True, blank=True)
    death_cause = models.CharField(max_length=200, blank=True)
    last_contact_date = models.DateField()
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(crs_grade__lte=5) | models.Q(crs_grade__isnull=True),
                                   name="outcome_crs_grade_range"),
            models.CheckConstraint(condition=models.Q(icans_grade__lte=5) | models.Q(icans_grade__isnull=True),
                                   name="outcome_icans_grade_range"),
        ]

    def __str__(self):
        return f"{self.case} outcome"

    def clean(self):
        errors = {}
        if not self.case_id:
            return
        approval = self.case.approval_date
        infusion = getattr(self.case, "infusion", None) if self.case.pk else None
        if self.death_date and self.death_date < approval:
            errors["death_date"] = f"Death cannot be before the panel approval ({approval})."
        if self.last_contact_date and self.last_contact_date < approval:
            errors["last_contact_date"] = f"Last contact cannot be before the panel approval ({approval})."
        if self.death_date and self.last_contact_date and self.last_contact_date > self.death_date:
            errors["last_contact_date"] = "Last contact cannot be after the date of death."
        if self.progression_date:
            origin = infusion.date if infusion else approval
            if self.progression_date < origin:
                errors["progression_date"] = f"Progression cannot be before {origin}."
            if self.death_date and self.progression_date > self.death_date:
                errors["progression_date"] = "Progression cannot be after the date of death."
        if infusion is None and (self.best_response or self.crs_grade is not None or self.icans_grade is not None):
            errors["best_response"] = "Response and toxicity are recorded only for infused cases."
        if self.death_cause and not self.death_date:
            errors["death_cause"] = "Enter the date of death."
        if errors:
            raise ValidationError(errors)


class CytopeniaKind(models.TextChoices):
    NEUTROPENIA = "neutropenia", "Neutropenia"
    THROMBOCYTOPENIA = "thrombocytopenia", "Thrombocytopenia"
    ANAEMIA = "anaemia", "Anaemia"


class Cytopenia(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="cytopenias")
    kind = models.CharField(max_length=20, choices=CytopeniaKind.choices)
    day = models.PositiveSmallIntegerField(help_text="days after infusion, e.g. 30 or 90")
    grade = models.PositiveSmallIntegerField(validators=GRADE_VALIDATORS)
    ctcae_version = models.CharField(max_length=10, default="5.0")
    history = HistoricalRecords()

    class Meta:
        ordering = ["case", "day", "kind"]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "day"], name="one_cytopenia_per_timepoint")]

    def __str__(self):
        return f"{self.case} {self.kind} day {self.day}: grade {self.grade}"
