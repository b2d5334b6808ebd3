"""Serving the panel's private PDFs (evidence, decision letters): only through a permission-checked
view, always as a download, and every download in the audit trail.

Files live under MEDIA_ROOT, which no URL maps to. The response forces a download
(``Content-Disposition: attachment``) with ``application/pdf`` and ``nosniff``, so a file that
slipped past the content check can never be rendered by the browser as a page of this site.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
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


AUDIT_EVENTS = {"panel.files.orphans_removed": "removed stored PDFs that no record names"}

# Folders of MEDIA_ROOT holding the panel's PDFs, and which model field names them.
_STORED = {"attachments": ("Attachment", "file"), "letters": ("Communication", "letter")}
# A file younger than this may belong to an upload whose transaction is still open: never removed.
ORPHAN_GRACE = dt.timedelta(days=1)


@dataclass(frozen=True)
class OrphanSweep:
    removed: list[str]
    kept: int


def remove_orphan_files(*, older_than: dt.timedelta = ORPHAN_GRACE) -> OrphanSweep:
    """Delete the PDFs under MEDIA_ROOT that no row names: an upload or a letter written to disk whose
    transaction then rolled back (a validation error after the write, a lost connection).

    A file counts as named while the live row or any of its history rows names it, so nothing the audit
    trail can point at is removed. Files younger than ``older_than`` are left alone. The sweep is audited.
    """
    from panel import models

    root = Path(settings.MEDIA_ROOT)
    cutoff = time.time() - older_than.total_seconds()
    named, removed, kept = set(), [], 0
    for folder, (model_name, field) in _STORED.items():
        model = getattr(models, model_name)
        for source in (model.objects, model.history.model.objects):
            named.update(source.exclude(**{field: ""}).values_list(field, flat=True))
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(root).as_posix()
            if name in named or path.stat().st_mtime > cutoff:
                kept += 1
                continue
            path.unlink(missing_ok=True)
            removed.append(name)
    if removed:
        audit_log(code="panel.files.orphans_removed", context={"removed": removed[:200], "count": len(removed)})
    return OrphanSweep(removed=removed, kept=kept)
