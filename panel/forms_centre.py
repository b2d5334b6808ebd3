"""Forms of the centre's application pages. They shape and label the input; the rules (what a
draft needs before submission, which status allows what) are the services' and come back as
``DomainError``s placed next to the field they name."""

from django import forms

from panel.models import ApplicationStatus, AttachmentKind, Urgency
from panel.uploads import human_size, max_upload_bytes

DATETIME_WIDGET_FORMAT = "%Y-%m-%dT%H:%M"


def _datetime_field(label: str, *, required: bool = False, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, help_text=help_text,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_WIDGET_FORMAT),
        error_messages={"invalid": "Enter a date and time, e.g. 2026-03-01 14:30."})


class ApplicationForm(forms.Form):
    clinical_justification = forms.CharField(
        label="Clinical justification", required=False, widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Why this product should be infused despite the failed parameters: disease status, "
                  "alternatives, the risk of waiting for a new manufacture. Required to submit.")
    urgency = forms.ChoiceField(label="Urgency", choices=Urgency.choices, initial=Urgency.ROUTINE)
    contact = forms.CharField(label="Contact at the centre", required=False, max_length=200,
                              help_text="Name and telephone of who the panel should call. Required to submit.")
    contact_email = forms.EmailField(label="Contact e-mail", required=False,
                                     help_text="The decision letter is sent here as well as to the centre's users.")


def _pdf_file_field(required: bool) -> forms.FileField:
    return forms.FileField(
        label="PDF file", required=required,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
        help_text=f"PDF only, up to {human_size(max_upload_bytes())}.",
        error_messages={"required": "Choose a PDF file to upload.",
                        "empty": "The file is empty.",
                        "max_length": "The file name is too long."})


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(label="Document", choices=AttachmentKind.choices,
                             initial=AttachmentKind.CERTIFICATE)
    file = _pdf_file_field(required=True)


class SubmitForm(forms.Form):
    confirm = forms.BooleanField(
        label="I confirm that this application is complete and correct, and may be sent to the panel.",
        error_messages={"required": "Tick the box to confirm the application may be sent to the panel."})


class WithdrawForm(forms.Form):
    reason = forms.CharField(label="Reason for withdrawing", widget=forms.Textarea(attrs={"rows": 3}),
                             max_length=1000,
                             error_messages={"required": "Say why the application is withdrawn."})


class InformationAnswerForm(forms.Form):
    answer = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 6}), max_length=10_000,
                             error_messages={"required": "Write the answer to the panel's question."})
    kind = forms.ChoiceField(label="Supporting document (optional)", choices=AttachmentKind.choices,
                             initial=AttachmentKind.OTHER, required=False)
    file = _pdf_file_field(required=False)


class InfusionForm(forms.Form):
    infused = forms.TypedChoiceField(
        label="Was the OOS product infused?", choices=[("yes", "Yes, it was infused"), ("no", "No, it was not")],
        coerce=lambda value: value == "yes", widget=forms.RadioSelect,
        error_messages={"required": "Say whether the product was infused."})
    infused_at = _datetime_field("Infused at", help_text="Date and time of the infusion (local time).")

    def __init__(self, *args, approved: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not approved:
            # A declined product can only be recorded as not given.
            self.fields["infused"].choices = [("no", "No, it was not")]
            del self.fields["infused_at"]

    def clean(self):
        data = super().clean()
        if data.get("infused") and not data.get("infused_at") and "infused_at" not in self.errors:
            self.add_error("infused_at", "Enter when the product was infused.")
        return data


class RegulatoryNotificationForm(forms.Form):
    manufacturer_notified_at = _datetime_field("Manufacturer notified at")
    authority_notified_at = _datetime_field("Competent authority notified at")

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("manufacturer_notified_at") and not data.get("authority_notified_at"):
            raise forms.ValidationError("Enter when the manufacturer or the competent authority was notified.")
        return data


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False,
                               choices=[("", "Any status"), *ApplicationStatus.choices])
