from django import forms

from analytics.filters import SCOPES
from cases.models import Case, Centre, Product


class ReportFilterForm(forms.Form):
    scope = forms.ChoiceField(choices=list(SCOPES.items()), required=False, initial="paper")
    product = forms.ChoiceField(required=False)
    indication = forms.ChoiceField(required=False)
    era = forms.ChoiceField(choices=[("", "Both eras"), ("1", "Era 1 (before the boundary)"),
                                     ("2", "Era 2 (from the boundary)")], required=False)
    centre = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        products = Product.objects.order_by("code").values_list("code", "brand")
        self.fields["product"].choices = [("", "All products"), *products]
        indications = Case.objects.order_by("indication").values_list("indication", flat=True).distinct()
        self.fields["indication"].choices = [("", "All indications"), *((i, i) for i in indications)]
        self.fields["centre"].choices = [("", "All centres"), *Centre.objects.values_list("code", "name")]

    def filters(self) -> dict:
        """The submitted filters (valid form only), blank ones left out."""
        return {k: v for k, v in self.cleaned_data.items() if v}


class ControlSetForm(forms.Form):
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, help_text="Any whole number; recorded with the set. "
                              "The same seed on the same registry gives the same pairs.")
    confirm = forms.BooleanField(label="Replace the current matched control set (reports must then be recomputed)")
