from django.conf import settings
from django.urls import NoReverseMatch, reverse

from accounts.roles import Role
from accounts.two_factor import two_factor_required

# (label, url name, roles that see it). URL names that do not exist yet are skipped, so each
# app adds its pages here without the layout breaking while it is being built.
NAVIGATION = [
    ("Cases", "cases:case_list", {Role.CENTRE_USER, Role.PANEL_PHYSICIAN, Role.PANEL_PHARMACIST,
                                  Role.OPS_MANAGER, Role.ADMIN, Role.ANALYST}),
    ("Applications", "panel:application_list", {Role.CENTRE_USER, Role.OPS_MANAGER, Role.ADMIN}),
    ("My queue", "panel:queue", {Role.PANEL_PHYSICIAN, Role.PANEL_PHARMACIST}),
    ("Panel dashboard", "panel:dashboard", {Role.OPS_MANAGER, Role.ADMIN}),
    ("Panel members", "panel:members", {Role.OPS_MANAGER, Role.ADMIN}),
    ("Reports", "analytics:report", {Role.ANALYST, Role.ADMIN, Role.OPS_MANAGER}),
    ("Audit", "audit:export", {Role.ADMIN}),
]


def navigation(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {"nav_items": []}
    if settings.TWO_FACTOR_REQUIRED and two_factor_required(user) and not user.is_verified():
        # Half signed in (password given, code not yet): no menu, nothing polled in the header.
        return {"nav_items": [], "two_factor_pending": True}
    items = []
    for label, url_name, roles in NAVIGATION:
        if user.role not in roles:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items}
