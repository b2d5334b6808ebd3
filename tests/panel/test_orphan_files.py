"""Stored PDFs whose upload rolled back are swept a day later; every file a row names stays."""

import os
import time
from pathlib import Path

import pytest
from django.db import transaction

from audit.models import AuditEvent
from panel import submission
from panel.models import Attachment
from panel.tasks import remove_orphan_panel_files
from tests.panel.centre_fixtures import _private_media, draft_for, pdf_upload  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


class _LaterFailure(Exception):
    """Whatever fails after the file was written, in the same transaction."""


def _upload_rolled_back(user, draft) -> Path:
    # The file is written to disk during the upload; the failure then rolls its row back.
    with pytest.raises(_LaterFailure), transaction.atomic():
        attachment = submission.attachment_add(application_id=draft.pk, user=user, kind="other",
                                               uploaded_file=pdf_upload())
        path = Path(attachment.file.path)
        raise _LaterFailure
    assert path.is_file() and not Attachment.objects.filter(file=attachment.file.name).exists()
    return path


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_a_rolled_back_upload_is_removed_after_a_day_and_named_files_stay(personas, settings):
    user = personas["centre_a"]
    draft = draft_for(user)
    kept = submission.attachment_add(application_id=draft.pk, user=user, kind="certificate_of_analysis",
                                     uploaded_file=pdf_upload("CoA.pdf"))
    kept_path = Path(kept.file.path)
    old_orphan, new_orphan = _upload_rolled_back(user, draft), _upload_rolled_back(user, draft)
    _age(kept_path, 30)
    _age(old_orphan, 2)

    result = remove_orphan_panel_files()

    assert result == {"removed": 1, "kept": 2}
    assert kept_path.is_file() and new_orphan.is_file() and not old_orphan.exists()
    event = AuditEvent.objects.get(code="panel.files.orphans_removed")
    assert event.context == {"count": 1,
                             "removed": [old_orphan.relative_to(settings.MEDIA_ROOT).as_posix()]}


def test_a_file_named_only_by_history_stays(personas):
    # The live row now names another file; the audit trail's history row still names the first one.
    user = personas["centre_a"]
    attachment = submission.attachment_add(application_id=draft_for(user).pk, user=user, kind="other",
                                           uploaded_file=pdf_upload())
    first = Path(attachment.file.path)
    attachment.file.name = "attachments/elsewhere.pdf"
    attachment.save()
    _age(first, 30)

    assert remove_orphan_panel_files() == {"removed": 0, "kept": 1}
    assert first.is_file() and not AuditEvent.objects.filter(code="panel.files.orphans_removed").exists()


def test_nothing_stored_yet_is_a_quiet_sweep(settings):
    assert not Path(settings.MEDIA_ROOT).exists()
    assert remove_orphan_panel_files() == {"removed": 0, "kept": 0}
