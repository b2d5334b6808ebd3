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
    status = models.CharField(max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.DRAFT)
    failed_parameters = models.JSONField(default=list, blank=True)
    dose_verdict = models.JSONField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "OOS application"
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["status", "sla_due_at"]), models.Index(fields=["centre", "status"])]
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
