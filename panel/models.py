"""The OOS panel: membership, applications, votes, recusals and decisions.

Every row is tracked by django-simple-history: a vote that is changed keeps its earlier choice
in the history table, which is how "one current vote per member, changes kept" is met without a
second vote row. State changes go through ``panel.services`` only.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from panel.rules import Outcome, PanelRole, VoteChoice


class MemberRole(models.TextChoices):
    # Values of the voting roles are the rule module's, so a member's role goes straight into decide().
    PHYSICIAN = PanelRole.PHYSICIAN.value, "Physician"
    PHARMACIST = PanelRole.PHARMACIST.value, "Pharmacist"
    OPS = "ops", "Operations manager"


VOTING_ROLES = (MemberRole.PHYSICIAN, MemberRole.PHARMACIST)


class PanelMember(models.Model):
    """A person's seat on the national panel for a period; ``active_to`` empty while serving."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="panel_memberships")
    role = models.CharField(max_length=12, choices=MemberRole.choices)
    affiliations = models.ManyToManyField(
        "cases.Centre", blank=True, related_name="panel_members",
        help_text="Centres the member works for: they are recused from those centres' applications.",
    )
    active_from = models.DateField()
    active_to = models.DateField(null=True, blank=True, help_text="Last day of membership; empty while serving.")
    deputy_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="deputies")
    history = HistoricalRecords(m2m_fields=[affiliations])

    class Meta:
        ordering = ["role", "user__username"]
        constraints = [
            # One open seat per person: two concurrent memberships would give them two votes.
            models.UniqueConstraint(fields=["user"], condition=Q(active_to__isnull=True),
                                    name="panel_member_one_open_membership"),
            models.CheckConstraint(condition=Q(active_to__isnull=True) | Q(active_to__gte=models.F("active_from")),
                                   name="panel_member_period_in_order"),
            models.CheckConstraint(condition=Q(role__in=[c.value for c in MemberRole]), name="panel_member_role_valid"),
            models.CheckConstraint(condition=~Q(deputy_of=models.F("id")), name="panel_member_not_own_deputy"),
        ]

    def __str__(self):
        return f"{self.user.username} ({self.get_role_display()})"

    def is_active_on(self, day) -> bool:
        return self.active_from <= day and (self.active_to is None or self.active_to >= day)

    @property
    def votes_on_panel(self) -> bool:
        return self.role in VOTING_ROLES


class Urgency(models.TextChoices):
    ROUTINE = "routine", "Routine"
    URGENT = "urgent", "Urgent"
    EMERGENCY = "emergency", "Emergency"


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_REVIEW = "under_review", "Under review"
    INFO_REQUESTED = "info_requested", "Information requested"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    COMMUNICATED = "communicated", "Communicated"
    INFUSED = "infused", "Infused"
    NOT_INFUSED = "not_infused", "Not infused"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Statuses in which the panel is still deliberating (an application can be withdrawn, members recused).
OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW, ApplicationStatus.INFO_REQUESTED)
# Statuses reached once the panel has decided; a vote arriving then is refused as already decided.
DECIDED_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.DECLINED, ApplicationStatus.COMMUNICATED,
                    ApplicationStatus.INFUSED, ApplicationStatus.NOT_INFUSED)


class OOSApplication(models.Model):
    """A centre's request to infuse an out-of-specification product.

    ``centre`` repeats ``case.centre`` so every query scoping applications to a centre is one
    indexed column. ``failed_parameters`` and ``dose_verdict`` are snapshots taken at submission:
    the panel decides on what it was shown, even if a result or a dose rule is edited later.
    """

    attempt = models.ForeignKey("cases.ManufacturingAttempt", on_delete=models.PROTECT, related_name="oos_applications")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="oos_applications")
    centre = models.ForeignKey("cases.Centre", on_delete=models.PROTECT, related_name="oos_applications")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    clinical_justification = models.TextField(blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    contact = models.CharField(max_length=200, blank=True, help_text="Who the panel contacts at the centre")
    contact_email = models.EmailField(blank=True, help_text="Where the decision letter is sent")
    status = models.CharField(max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.DRAFT)
    failed_parameters = models.JSONField(default=list, blank=True)
    dose_verdict = models.JSONField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    # Set while an information request is open: the SLA clock stops then, and on the answer
    # ``sla_due_at`` moves on by the time the centre took.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    # After the decision is communicated the centre records whether the OOS product was given.
    infused_at = models.DateTimeField(null=True, blank=True, help_text="When the OOS product was infused")
    infusion_recorded_at = models.DateTimeField(null=True, blank=True)
    # An infused OOS product must be notified to the manufacturer and the competent authority
    # within 48 hours of infusion; the deadline is shown on dashboards until both are recorded.
    regulatory_deadline_at = models.DateTimeField(null=True, blank=True)
    manufacturer_notified_at = models.DateTimeField(null=True, blank=True)
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "OOS application"
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["status", "sla_due_at"]),
            models.Index(fields=["centre", "status"]),
            # Each member's queue: the open applications in SLA order, read 25 at a time. Without
            # it every queue page joins and sorts every open application before taking the first 25.
            models.Index(fields=["sla_due_at", "id"], condition=Q(status="under_review"),
                         name="oos_application_review_queue"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[c.value for c in ApplicationStatus]),
                                   name="oos_application_status_valid"),
            # Anything past a draft has been submitted, and then has an SLA.
            models.CheckConstraint(
                condition=Q(status=ApplicationStatus.DRAFT) | Q(status=ApplicationStatus.WITHDRAWN)
                | Q(submitted_at__isnull=False, sla_due_at__isnull=False),
                name="oos_application_submitted_has_times",
            ),
            # One live application per product: two would be voted on separately and could disagree.
            models.UniqueConstraint(
                fields=["attempt"],
                condition=~Q(status__in=[ApplicationStatus.WITHDRAWN, ApplicationStatus.DECLINED]),
                name="oos_application_one_live_per_attempt",
            ),
        ]

    def __str__(self):
        return f"OOS application {self.pk} ({self.case_id and self.case.public_id})"


class Vote(models.Model):
    """A member's current vote on one application; earlier choices live in ``history``."""

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="votes")
    member = models.ForeignKey(PanelMember, on_delete=models.PROTECT, related_name="votes")
    choice = models.CharField(max_length=8, choices=[(c.value, c.value.capitalize()) for c in VoteChoice])
    comment = models.TextField(blank=True)
    cast_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["cast_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application", "member"], name="vote_one_current_per_member"),
            models.CheckConstraint(condition=Q(choice__in=[c.value for c in VoteChoice]), name="vote_choice_valid"),
        ]

    def __str__(self):
        return f"{self.member} on {self.application_id}: {self.choice}"


class Recusal(models.Model):
    """A member stood down from one application (declared conflict, or affiliated with the centre)."""

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="recusals")
    member = models.ForeignKey(PanelMember, on_delete=models.PROTECT, related_name="recusals")
    reason = models.CharField(max_length=300)
    automatic = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["application", "member"], name="recusal_once_per_member")]

    def __str__(self):
        return f"{self.member} recused from {self.application_id}"


class DecisionOutcome(models.TextChoices):
    APPROVED = Outcome.APPROVED.value, "Approved"
    DECLINED = Outcome.DECLINED.value, "Declined"


class Decision(models.Model):
    """The panel's decision, taken once; ``tally`` is the count the rule decided on."""

    application = models.OneToOneField(OOSApplication, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(max_length=8, choices=DecisionOutcome.choices)
    decided_at = models.DateTimeField()
    tally = models.JSONField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=[c.value for c in DecisionOutcome]),
                                   name="decision_outcome_valid"),
        ]

    def __str__(self):
        return f"Decision on {self.application_id}: {self.outcome}"


def _private_path(folder: str, instance, filename: str) -> str:
    # The stored name never comes from the user: a random token, in a folder per application.
    import secrets

    return f"{folder}/{instance.application_id}/{secrets.token_hex(16)}.pdf"


def attachment_path(instance, filename):
    return _private_path("attachments", instance, filename)


def letter_path(instance, filename):
    return _private_path("letters", instance, filename)


class AttachmentKind(models.TextChoices):
    CERTIFICATE = "certificate_of_analysis", "Certificate of analysis"
    RISK_ASSESSMENT = "risk_assessment", "Manufacturer's risk assessment"
    OTHER = "other", "Other supporting document"


class Attachment(models.Model):
    """A PDF of evidence for an application, stored under MEDIA_ROOT (never publicly served).

    ``original_name`` is the cleaned name shown to users and used in Content-Disposition;
    ``sha256`` lets the dossier and the audit trail name exactly which file the panel saw.
    """

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="attachments")
    kind = models.CharField(max_length=24, choices=AttachmentKind.choices)
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.original_name}"


class Comment(models.Model):
    """One message of an application's discussion thread among panel members and the ops manager."""

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment {self.pk} on {self.application_id}"


class InformationRequest(models.Model):
    """A question from the panel to the centre; open while ``answered_at`` is empty."""

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="information_requests")
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    question = models.TextField()
    asked_at = models.DateTimeField()
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["asked_at", "id"]
        constraints = [
            # At most one open question at a time: the SLA pause has one start.
            models.UniqueConstraint(fields=["application"], condition=Q(answered_at__isnull=True),
                                    name="information_request_one_open"),
            models.CheckConstraint(condition=Q(answered_at__isnull=True) | Q(answered_by__isnull=False),
                                   name="information_request_answer_has_author"),
        ]

    def __str__(self):
        return f"Information request {self.pk} on {self.application_id}"


class Communication(models.Model):
    """The decision as communicated to the centre by the operations manager: letter, recipients, when, who."""

    application = models.OneToOneField(OOSApplication, on_delete=models.PROTECT, related_name="communication")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField()
    recipients = models.JSONField(default=list, help_text="E-mail addresses the letter was sent to")
    conditions = models.TextField(blank=True, help_text="Conditions attached to an approval, as in the letter")
    letter = models.FileField(upload_to=letter_path, max_length=200)
    letter_sha256 = models.CharField(max_length=64)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self):
        return f"Communication of {self.application_id}"


class ReminderKind(models.TextChoices):
    REMINDER = "reminder", "Reminder to vote"
    ESCALATION = "escalation", "Escalation to the operations manager"


class Reminder(models.Model):
    """A reminder (to a member who has not voted) or an escalation (to the ops manager) that was sent.

    One of each kind per application, member and working day at most: the beat task runs often and
    relies on the unique constraint to send each one once.
    """

    application = models.ForeignKey(OOSApplication, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=10, choices=ReminderKind.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(PanelMember, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["application", "kind", "recipient", "day"],
                                               name="reminder_once_per_day")]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.application_id} to {self.recipient_id} ({self.day})"
