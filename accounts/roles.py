"""Roles of the system. Pure constants so rules and permissions never compare bare strings."""

from django.db import models


class Role(models.TextChoices):
    CENTRE_USER = "centre_user", "Centre user"
    PANEL_PHYSICIAN = "panel_physician", "Panel physician"
    PANEL_PHARMACIST = "panel_pharmacist", "Panel pharmacist"
    OPS_MANAGER = "ops_manager", "Operations manager"
    ADMIN = "admin", "Admin / auditor"
    ANALYST = "analyst", "Analyst"


PANEL_ROLES = frozenset({Role.PANEL_PHYSICIAN, Role.PANEL_PHARMACIST})
# Roles that read the registry of every centre (never write a centre's clinical data).
NATIONAL_READ_ROLES = frozenset({Role.PANEL_PHYSICIAN, Role.PANEL_PHARMACIST, Role.OPS_MANAGER, Role.ADMIN,
                                 Role.ANALYST})
