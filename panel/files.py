"""Serving the panel's private PDFs (evidence, decision letters): only through a permission-checked
view, always as a download, and every download in the audit trail.

Files live under MEDIA_ROOT, which no URL maps to. The response forces a download
(``Content-Disposition: attachment``) with ``application/pdf`` and ``nosniff``, so a file that
slipped past the content check can never be rendered by the browser as a page of this site.
"""

from __future__ import annotations

from django.db import transaction
from django.http import FileResponse, Http404

from audit.services import audit_log


def private_pdf_response(*, field_file, download_name: str, user, audit_code: str, obj, centre_code: str,
                         context: dict) -> FileResponse:
    """Open ``field_file`` as a PDF download for ``user`` and audit it; 404 when the file is missing.

    The caller has already decided that ``user`` may see the file. The audit event is written
    before the first byte is sent: a download that was started is a download on record.
    """
    if not field_file or not field_file.name:
        raise Http404("No such file")
    try:
        handle = field_file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is no longer available") from None
    with transaction.atomic():
        audit_log(code=audit_code, actor=user, obj=obj, centre_code=centre_code, context=context)
    response = FileResponse(handle, as_attachment=True, filename=download_name, content_type="application/pdf")
    response["X-Content-Type-Options"] = "nosniff"
    # Clinical documents: never kept by a shared proxy or the browser's cache.
    response["Cache-Control"] = "private, no-store"
    return response
