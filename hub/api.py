"""The API's single error shape: {"error": one sentence naming the problem, "detail": field messages}."""

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.forms.utils import ErrorDict
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _summarise(detail: Any) -> str:
    """One human sentence that names the offending field(s)."""
    if isinstance(detail, dict):
        fields = ", ".join(sorted(str(key) for key in detail))
        return f"Invalid {fields}: {_first_message(next(iter(detail.values()), ''))}"
    if isinstance(detail, list):
        return _first_message(detail) or "Invalid request."
    return str(detail)


def _first_message(detail: Any) -> str:
    """The first message of a field's errors as plain text, with the path to it inside nested fields.

    A list or nested serializer's errors are dicts and lists of ErrorDetail: formatting them with str() would
    print ErrorDetail(string=..., code=...) reprs into the sentence.
    """
    if isinstance(detail, dict):
        if not detail:
            return ""
        key, inner = next(iter(detail.items()))
        where = f"item {key}" if isinstance(key, int) or str(key).isdigit() else str(key)
        return f"{where}: {_first_message(inner)}"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "The request conflicts with a change another request made at the same time (something it refers to was "
        "deleted or created meanwhile); nothing was stored. Read the current state and try again."
    )
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        # A service's DoesNotExist: the object a view had read was deleted by a concurrent request meanwhile.
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, IntegrityError):
        # The services lock what they write against; a constraint the database still enforced is a race they did
        # not foresee. Its transaction rolled back, so the client gets a 409 and the operator the details.
        logger.warning("IntegrityError answered 409 in %s", context.get("view"), exc_info=exc)
        exc = Conflict()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        detail = detail["detail"]
    response.data = {"error": _summarise(detail), "detail": detail}
    return response


def form_error_detail(errors: ErrorDict) -> dict[str, list[ErrorDetail]]:
    """A form's errors keyed by field, each message formatted once by Django (params applied only where the
    message has them), so text a user typed is shown as typed and never read as a format string."""
    return {
        field: [ErrorDetail(error["message"], code=error["code"] or "invalid") for error in field_errors]
        for field, field_errors in errors.get_json_data().items()
    }


def validation_error_detail(error: DjangoValidationError) -> dict[str, list[str]]:
    """A model or service ValidationError's messages keyed by field, as a serializer's errors are."""
    return error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}


def raise_as_api_error(error: DjangoValidationError) -> None:
    """A model or service ValidationError as DRF's, so it gets the single error shape (400)."""
    raise exceptions.ValidationError(validation_error_detail(error))


def error_response(status: int, error: str, detail: Any = None) -> Response:
    return Response({"error": error, "detail": detail if detail is not None else error}, status=status)


def job_response(body: dict, *, created: bool) -> Response:
    """A job request's answer: 202 when this request queued it, 200 when it names the job already there; the
    job's URL in Location either way, so a client polls the same place."""
    response = Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
    response["Location"] = body["url"]
    return response


class ErrorSerializer(serializers.Serializer):
    """The shape of every error response (documented in the OpenAPI schema for 4xx codes)."""

    error = serializers.CharField(help_text="One sentence naming the problem.")
    detail = serializers.JSONField(help_text="Field messages, a code, or the same sentence.", allow_null=True)
