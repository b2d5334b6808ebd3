"""Periodic panel work (celery beat): thin wrappers around the services."""

from celery import shared_task

from panel.reminders import send_reminders


@shared_task(acks_late=True)
def send_panel_reminders() -> dict:
    """Remind members who have not voted and escalate applications near or past their SLA."""
    run = send_reminders()
    return {"reminders": run.reminders, "escalations": run.escalations}
