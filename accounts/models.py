from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.roles import NATIONAL_READ_ROLES, PANEL_ROLES, Role


class User(AbstractUser):
    """A person using the system. Centre users belong to exactly one centre."""

    role = models.CharField(max_length=32, choices=Role.choices, default=Role.CENTRE_USER)
    centre = models.ForeignKey(
        "cases.Centre", null=True, blank=True, on_delete=models.PROTECT, related_name="users",
        help_text="Required for centre users: the only centre whose data they see.",
    )
    job_title = models.CharField(max_length=120, blank=True)
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="centre_user") | models.Q(centre__isnull=False),
                name="centre_user_has_centre",
            ),
        ]

    def clean(self):
        super().clean()
        if self.role == Role.CENTRE_USER and not self.centre_id:
            raise ValidationError({"centre": "A centre user must belong to a centre."})

    @property
    def is_centre_user(self) -> bool:
        return self.role == Role.CENTRE_USER

    @property
    def is_panel_member_role(self) -> bool:
        return self.role in PANEL_ROLES

    @property
    def reads_all_centres(self) -> bool:
        return self.role in NATIONAL_READ_ROLES or self.is_superuser

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
