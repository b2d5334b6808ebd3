"""Forms of the operations manager's pages: validate the shape; the services validate the domain."""

from django import forms

from cases.models import Centre
from panel.communication import MAX_CONDITIONS
from panel.membership import candidate_users
from panel.models import MemberRole, PanelMember


class CommunicateForm(forms.Form):
    conditions = forms.CharField(
        required=False, max_length=MAX_CONDITIONS, widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Conditions attached to the decision, as they will appear in the letter (optional).")
    recipients = forms.CharField(
        max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E-mail addresses, separated by commas. The letter is attached to each e-mail.")


class _MembershipFields(forms.Form):
    active_from = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    active_to = forms.DateField(label="Last day", required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                help_text="Leave empty while the member serves; set it to end the membership.")
    affiliations = forms.ModelMultipleChoiceField(
        queryset=Centre.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Centres the member works for: they are recused from those centres' applications.")
    deputy_of = forms.ModelChoiceField(queryset=PanelMember.objects.none(), required=False, label="Deputy of",
                                       help_text="The member this person stands in for (same role).")

    def __init__(self, *args, exclude_member: PanelMember | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["affiliations"].queryset = Centre.objects.filter(active=True).order_by("code")
        deputies = PanelMember.objects.select_related("user").filter(active_to__isnull=True).order_by(
            "role", "user__username")
        if exclude_member is not None:
            deputies = deputies.exclude(pk=exclude_member.pk).filter(role=exclude_member.role)
        self.fields["deputy_of"].queryset = deputies

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("active_from"), cleaned.get("active_to")
        if start and end and end < start:
            self.add_error("active_to", "The last day of membership cannot be before its first day.")
        return cleaned


class MemberAddForm(_MembershipFields):
    user = forms.ModelChoiceField(queryset=None, label="Person",
                                  help_text="A user with the panel physician, pharmacist or operations role.")
    role = forms.ChoiceField(choices=MemberRole.choices)
    field_order = ["user", "role", "active_from", "active_to", "affiliations", "deputy_of"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = candidate_users()


class MemberEditForm(_MembershipFields):
    pass
