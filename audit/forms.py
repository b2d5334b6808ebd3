from django import forms

from audit.labels import GROUPS, all_labels
from audit.models import ExportFormat
from audit.timeline import TimelineFilters
from cases.models import Centre, Product


class TimelineFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    centre = forms.ChoiceField(required=False)
    product = forms.ChoiceField(required=False)
    application = forms.IntegerField(required=False, min_value=1, label="Application no.")
    user = forms.CharField(required=False, max_length=150, label="User name")
    event_type = forms.ChoiceField(required=False, label="Event type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["centre"].choices = [("", "All centres")] + [
            (c.code, f"{c.name} ({c.code})") for c in Centre.objects.order_by("code")]
        self.fields["product"].choices = [("", "All products")] + [
            (p.code, f"{p.brand} ({p.code})") for p in Product.objects.order_by("code")]
        codes = sorted(all_labels().items())
        self.fields["event_type"].choices = [("", "Every event"), ("Groups", GROUPS),
                                             ("Single events", [(code, f"{code} — {text}") for code, text in codes])]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> TimelineFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return TimelineFilters(date_from=data.get("date_from"), date_to=data.get("date_to"),
                               centre=data.get("centre") or "", product=data.get("product") or "",
                               application=data.get("application"), user=(data.get("user") or "").strip(),
                               event_type=data.get("event_type") or "")


class ExportForm(TimelineFilterForm):
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.CSV, label="Format")
