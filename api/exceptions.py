"""One error body for the whole API: ``{"detail": str, "errors": {field: [str, ...]}}``.

Domain refusals raised by the services keep their own message and map to the status the
contract names: not eligible → 403, not open / already decided → 409, any other rule → 400.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cases.errors import DomainError
from panel.services import ApplicationNotOpen, NotEligible


def _domain_status(error: DomainError) -> int:
    if isinstance(error, NotEligible):
        return status.HTTP_403_FORBIDDEN
    if isinstance(error, ApplicationNotOpen):
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {text}" for key, value in detail.items() for text in _flatten(value)]
    if isinstance(detail, (list, tuple)):
        return [text for item in detail for text in _flatten(item)]
    return [str(detail)]


def _field_errors(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def error_body(detail: str, errors: dict | None = None) -> dict:
    return {"detail": detail, "errors": errors or {}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        errors = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body(exc.message, errors), status=_domain_status(exc))
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("The request is not valid.", errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("The request is not valid.", _field_errors(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(" ".join(_flatten(detail)))
    return response
