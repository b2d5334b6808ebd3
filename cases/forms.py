from django import forms

from cases.models import (
    Apheresis,
    AttemptOutcome,
    Case,
    Comparator,
    Cytopenia,
    FailureReason,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["local_id", "sex", "birth_year", "weight_kg", "height_cm"]


class PatientWithCentreForm(PatientForm):
    """For admins, who register for any centre; a centre user's patients are always their centre's."""

    class Meta(PatientForm.Meta):
        fields = ["centre", *PatientForm.Meta.fields]


class CaseForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["product", "indication", "diagnosis", "approval_date", "treatment_line", "ecog", "prior_lines",
                  "prior_transplant", "prior_bendamustine", "bendamustine_last_dose_date", "bendamustine_cycles",
                  "prior_high_dose_cytarabine", "comorbidity", "holding_therapy", "ldh_at_approval", "stage"]
        widgets = {"approval_date": DATE, "bendamustine_last_dose_date": DATE}


class NewCaseForm(CaseForm):
    patient = forms.ModelChoiceField(queryset=Patient.objects.none(), help_text="Register the patient first.")

    class Meta(CaseForm.Meta):
        fields = ["patient", *CaseForm.Meta.fields]

    def __init__(self, *args, patients=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients if patients is not None else Patient.objects.none()


class ApheresisForm(forms.ModelForm):
    class Meta:
        model = Apheresis
        fields = ["date", "wbc", "neutrophils", "lymphocytes", "cd3_per_ul", "haemoglobin", "platelets", "ldh", "crp",
                  "volume_processed_l"]
        widgets = {"date": DATE}


class AttemptForm(forms.ModelForm):
    failure_reasons = forms.ModelMultipleChoiceField(queryset=FailureReason.objects.all(), required=False,
                                                     widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ManufacturingAttempt
        fields = ["apheresis", "shipped_on", "result_on", "outcome", "failure_reasons", "lot_number",
                  "viable_car_t_dose", "notes"]
        widgets = {"shipped_on": DATE, "result_on": DATE, "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["apheresis"].queryset = case.apheresis_set.all() if case else Apheresis.objects.none()


class ReleaseResultsForm(forms.Form):
    """One input per parameter of the product's specification."""

    def __init__(self, *args, parameters=(), existing=None, **kwargs):
        super().__init__(*args, **kwargs)
        existing = existing or {}
        self.parameters = list(parameters)
        for parameter in self.parameters:
            current = existing.get(parameter.pk)
            name = f"p{parameter.pk}"
            label = f"{parameter.name} ({parameter.spec_display})"
            if parameter.comparator == Comparator.PASS:
                choices = [("", "—"), ("pass", "Pass / negative"), ("fail", "Fail / detected")]
                recorded = current.value_text if current else ""
                if recorded and recorded not in dict(choices):
                    # Keep the certificate's own wording ("Sterile", "Not detected") as a choice, so
                    # saving the form unchanged neither loses nor rewrites it.
                    choices.append((recorded, recorded))
                self.fields[name] = forms.ChoiceField(label=label, required=False, choices=choices, initial=recorded)
            else:
                recorded = current.value_numeric if current else None
                self.fields[name] = forms.FloatField(
                    label=label, required=False, initial=None if recorded is None else f"{recorded:g}",
                )

    def values(self) -> dict:
        result = {}
        for parameter in self.parameters:
            value = self.cleaned_data.get(f"p{parameter.pk}")
            if parameter.comparator == Comparator.PASS:
                result[parameter] = (None, value or "")
            else:
                result[parameter] = (value, "")
        return result


class InfusionForm(forms.ModelForm):
    class Meta:
        model = Infusion
        fields = ["attempt", "date", "dose", "bridging_therapy"]
        widgets = {"date": DATE}

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attempt"].queryset = (
            case.attempts.filter(outcome__in=[AttemptOutcome.IN_SPEC, AttemptOutcome.OOS]) if case
            else ManufacturingAttempt.objects.none()
        )


class OutcomeForm(forms.ModelForm):
    class Meta:
        model = Outcome
        fields = ["best_response", "crs_grade", "icans_grade", "icu_admission", "progression_date", "death_date",
                  "death_cause", "last_contact_date"]
        widgets = {"progression_date": DATE, "death_date": DATE, "last_contact_date": DATE}


class CytopeniaForm(forms.ModelForm):
    class Meta:
        model = Cytopenia
        fields = ["kind", "day", "grade", "ctcae_version"]
        labels = {"grade": "CTCAE grade (0-5)", "ctcae_version": "CTCAE version"}
