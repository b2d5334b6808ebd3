"""Periodic panel work (celery beat): thin wrappers around the services."""

from celery import shared_task

from panel.files import remove_orphan_files
from panel.reminders import send_reminders


@shared_task(acks_late=True)
def send_panel_reminders() -> dict:
    """Remind members who have not voted and escalate applications near or past their SLA."""
    run = send_reminders()
    return {"reminders": run.reminders, "escalations": run.escalations}


@shared_task(acks_late=True)
def remove_orphan_panel_files() -> dict:
    """Delete stored PDFs that no row names (their upload's transaction rolled back), a day after."""
    sweep = remove_orphan_files()
    return {"removed": len(sweep.removed), "kept": sweep.kept}
