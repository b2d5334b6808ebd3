from celery import shared_task

from audit.exports import build


@shared_task(acks_late=True)
def build_audit_export(export_id: int) -> int:
    """Build a large audit export in the background; progress is on the AuditExport row."""
    return build(export_id).done
