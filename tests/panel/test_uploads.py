"""The PDF content check, the size limit and the cleaned display name of evidence uploads."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.errors import DomainError
from panel.uploads import check_pdf, clean_display_name
from tests.panel.centre_fixtures import pdf_bytes, pdf_upload

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(1)</script></html>"


def test_a_real_pdf_is_accepted_with_its_checksum_and_size():
    content = pdf_bytes()
    checked = check_pdf(pdf_upload("CoA.pdf", content))
    assert checked.size == len(content)
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert checked.display_name == "CoA.pdf"


@pytest.mark.parametrize("content", [PNG, EXE, HTML, b"PDF-1.4 not at the start", b" %PDF-1.4\n%%EOF"],
                         ids=["png", "exe", "html", "no-magic", "leading-space"])
def test_a_renamed_file_that_is_not_a_pdf_is_refused_whatever_its_name(content):
    with pytest.raises(DomainError, match="not a PDF") as error:
        check_pdf(SimpleUploadedFile("certificate.pdf", content, content_type="application/pdf"))
    assert error.value.field == "file"


def test_a_truncated_pdf_without_end_of_file_marker_is_refused():
    truncated = pdf_bytes()[:-200].replace(b"%%EOF", b"")
    with pytest.raises(DomainError, match="incomplete or damaged"):
        check_pdf(pdf_upload(content=truncated))


def test_an_empty_file_is_refused():
    with pytest.raises(DomainError, match="empty"):
        check_pdf(SimpleUploadedFile("a.pdf", b""))


def test_a_file_over_the_limit_is_refused_with_the_limit_in_the_message(settings):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    big = pdf_bytes()[:-6] + b"\n" + b"0" * (1024 * 1024) + b"\n%%EOF\n"
    with pytest.raises(DomainError, match="larger than the 1 MB limit"):
        check_pdf(pdf_upload(content=big))


@pytest.mark.parametrize(("raw", "clean"), [
    ("CoA lot 7.PDF", "CoA lot 7.pdf"),
    ("C:\\scans\\..\\risk.pdf", "risk.pdf"),
    ("../../etc/passwd", "passwd.pdf"),
    ("<b>x</b>.pdf", "b.pdf"), ("<img src=x>.pdf", "img src=x.pdf"),
    ("bad\x00name\r\n.pdf", "badname.pdf"),
    ("   ", "document.pdf"),
    ("résumé.pdf", "résumé.pdf"),
    ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
])
def test_the_display_name_keeps_no_path_control_characters_or_markup(raw, clean):
    assert clean_display_name(raw) == clean
