"""Human text of every audit code, gathered from the modules that write them."""

from importlib import import_module

AUDIT_EVENTS = {
    "accounts.login": "signed in",
    "accounts.logout": "signed out",
    "accounts.login_failed": "failed to sign in",
    "accounts.api_token.created": "was given an API token",
    "audit.export.requested": "requested an audit export",
    "audit.export.built": "built an audit export",
    "audit.export.downloaded": "downloaded an audit export",
    "audit.dossier.downloaded": "downloaded a decision dossier",
    "audit.performance.exported": "exported the panel performance report",
}

# Modules that declare their own ``AUDIT_EVENTS``; a module not installed yet is skipped.
_SOURCES = ("cases.services", "panel.submission", "panel.review", "panel.communication", "accounts.two_factor",
            "panel.membership", "panel.reminders", "panel.files", "analytics.report")

# Groups offered as one choice on the audit pages (a code prefix).
GROUPS = [
    ("history", "Record changes (field history)"),
    ("accounts", "Sign-ins, sign-outs and failed sign-ins"),
    ("panel.application", "Applications: submissions, withdrawals, infusions"),
    ("panel.vote", "Votes and vote changes"),
    ("panel.member", "Membership, conflicts and recusals"),
    ("panel.information_request", "Information requests"),
    ("panel.decision", "Decisions and their communication"),
    ("panel.attachment", "Evidence added and downloaded"),
    ("audit", "Audit exports and dossiers"),
    ("cases", "Registry records"),
]


def all_labels() -> dict[str, str]:
    labels = {}
    for name in _SOURCES:
        try:
            labels.update(getattr(import_module(name), "AUDIT_EVENTS", {}))
        except ImportError:
            continue
    labels.update(AUDIT_EVENTS)
    return labels


def label(code: str) -> str:
    if code.startswith("history."):
        _, app, model, verb = (code.split(".") + ["", "", ""])[:4]
        return f"{verb} a {model} record"
    return all_labels().get(code, code)
