"""Evidence uploads: PDFs only, judged by their content, size-limited, with a safe display name.

A file's name and the browser's Content-Type are the sender's claims; a renamed executable, image
or HTML page passes both. What is checked here is the file itself: the PDF header at the very start
and an end-of-file marker near the end, the two things every PDF writer produces and every reader
looks for. The stored name is random (``panel.models.attachment_path``); the original name is kept
only for display and for the download's Content-Disposition, cleaned of paths and control
characters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from cases.errors import DomainError

PDF_MAGIC = b"%PDF-"
PDF_EOF = b"%%EOF"
# Writers append a newline or a few bytes of padding after %%EOF; readers accept the marker
# within the last kilobyte (Acrobat's own tolerance), so do we.
EOF_WINDOW = 1024
DISPLAY_NAME_MAX = 120
# Set on the request by the upload handler when it dropped a file for being too large.
OVERSIZED_ATTRIBUTE = "oversized_uploads"


@dataclass(frozen=True)
class CheckedPdf:
    display_name: str
    size: int
    sha256: str


def max_upload_bytes() -> int:
    return settings.UPLOAD_MAX_BYTES


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def too_large_message() -> str:
    return f"The file is larger than the {human_size(max_upload_bytes())} limit: reduce it (e.g. scan at a " \
           "lower resolution) or split it."


def clean_display_name(name: str) -> str:
    """The uploaded name without any path, control characters or markup, ending in ``.pdf``.

    ``C:\\scans\\..\\<CoA> lot 7.PDF`` becomes ``CoA lot 7.pdf``; a name with nothing usable left
    becomes ``document.pdf``.
    """
    name = unicodedata.normalize("NFKC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[<>:\"|?*;`$]", "", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem = re.sub(r"\.pdf$", "", name, flags=re.IGNORECASE).strip(" .")
    if not stem:
        stem = "document"
    return f"{stem[:DISPLAY_NAME_MAX - 4]}.pdf"


def check_pdf(uploaded_file) -> CheckedPdf:
    """Accept ``uploaded_file`` only if it is a PDF within the size limit; raise ``DomainError`` on ``file``.

    Reads the file once in chunks for the checksum, so a large scan never sits in memory whole.
    """
    if uploaded_file is None:
        raise DomainError("Choose a PDF file to upload.", field="file")
    size = uploaded_file.size or 0
    if size == 0:
        raise DomainError("The file is empty.", field="file")
    if size > max_upload_bytes():
        raise DomainError(too_large_message(), field="file")
    uploaded_file.seek(0)
    head = uploaded_file.read(len(PDF_MAGIC) + 3)
    if not (head.startswith(PDF_MAGIC) and re.match(rb"\d\.\d", head[len(PDF_MAGIC):])):
        raise DomainError("This file is not a PDF (whatever its name says): upload the certificate or "
                          "assessment as a PDF document.", field="file")
    uploaded_file.seek(max(0, size - EOF_WINDOW))
    if PDF_EOF not in uploaded_file.read():
        raise DomainError("This PDF is incomplete or damaged (it has no end-of-file marker): save or scan it "
                          "again and upload the new file.", field="file")
    digest = hashlib.sha256()
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    return CheckedPdf(display_name=clean_display_name(uploaded_file.name), size=size, sha256=digest.hexdigest())


class SizeLimitedUploadHandler(FileUploadHandler):
    """Drops a file as soon as it passes the upload limit, instead of spooling it all to disk.

    The rest of the form is still parsed, and the field's name is recorded on the request so the
    form can say why the file is missing. Django's own limits stay in force behind this handler:
    ``FILE_UPLOAD_MAX_MEMORY_SIZE`` decides memory vs temporary file for what is accepted, and
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds the non-file fields.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        setattr(request, OVERSIZED_ATTRIBUTE, set())

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > max_upload_bytes():
            getattr(self.request, OVERSIZED_ATTRIBUTE).add(self.field_name)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None


def limit_upload_size(view):
    """Install :class:`SizeLimitedUploadHandler` for this view.

    Upload handlers must be set before anything reads ``request.POST``, and the CSRF middleware
    reads it; so the view is exempted from the middleware and protected again here, after the
    handler is in place (the arrangement Django's documentation prescribes).
    """
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.upload_handlers.insert(0, SizeLimitedUploadHandler(request))
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def oversized_fields(request) -> set[str]:
    return getattr(request, OVERSIZED_ATTRIBUTE, set())
