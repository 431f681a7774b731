"""Central error mapping: domain errors to status codes, localized, in the right shape.

htmx requests get the flash partial (retargeted to the page's flash area), API requests JSON,
everything else a full error page. A signed-out browser is sent to the login page.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.plugins.htmx import ClientRedirect, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import OperationalError

from models.services.common.errors import N_, DomainError
from web.i18n import gettext
from web.security import AccountStepRequired

log = logging.getLogger(__name__)

MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please sign in."),
    403: N_("You do not have permission to do that."),
    404: N_("Not found."),
    405: N_("That action is not allowed here."),
    409: N_("Someone else changed this first."),
    413: N_("The upload is too large."),
    422: N_("Please correct the highlighted fields."),
    429: N_("Too many requests. Please wait a moment and try again."),
    500: N_("Something went wrong on our side. Please try again."),
    503: N_("The system is busy. Please try again in a moment."),
}


# What a person sees for a form field named in an error (the API keeps the field names).
# A field missing here is shown without a name rather than as its code name.
FIELD_LABELS = {
    "description": N_("Description"),
    "name": N_("Name"),
    "display_name": N_("Display name"),
    "username": N_("Username"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "address": N_("Address"),
    "text": N_("Message"),
    "reason": N_("Reason"),
    "resolution": N_("Resolution"),
    "discussed": N_("What was discussed"),
    "files": N_("Files"),
    "attachment": N_("Files"),
    "priority": N_("Priority"),
    "request_type": N_("Request type"),
    "assignee_id": N_("Assignee"),
    "department_id": N_("Department"),
    "owner_id": N_("Owner"),
    "collaborators": N_("Collaborators"),
    "overdue_reason": N_("Overdue reason"),
    "requested_due": N_("Requested due date"),
    "decision": N_("Decision"),
    "password": N_("Password"),
    "current": N_("Current password"),
    "new": N_("New password"),
    "confirm": N_("Confirm new password"),
    "code": N_("Verification code"),
    "level": N_("Customer level"),
    "role": N_("Role"),
    "status": N_("Status"),
    "target": N_("Status"),
    "channel": N_("Channel"),
    "urgency": N_("Urgency"),
    "method": N_("Method"),
    "customer_feedback": N_("Customer feedback"),
    "next_step": N_("Next step"),
    "next_due_at": N_("Next follow-up"),
    "order_number": N_("Order number"),
    "title": N_("Title"),
    "body": N_("Body"),
    "comment": N_("Comment"),
    "speed": N_("Response speed"),
    "solution": N_("Solution"),
    "attitude": N_("Service attitude"),
    "secret": N_("Secret"),
    "kind": N_("Reply or note"),
    "next_owner_id": N_("Next step owner"),
    "user_id": N_("Collaborators"),
    "seen": N_("Reply or note"),
}


def field_labels(fields: dict[str, str]) -> list[tuple[str, str]]:
    """``(label, message)`` per field in the person's language; an unknown field's label is
    empty (its message is shown alone, never the field's code name)."""
    return [
        (gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else "", text)
        for name, text in fields.items()
    ]


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def render_error(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    fields: dict[str, str] | None = None,
) -> Response[Any]:
    fields = {name: gettext(text) for name, text in (fields or {}).items()}
    if _is_api(request):
        body: dict[str, Any] = {"error": message, "status": status}
        if fields:
            body["fields"] = fields
        return Response(body, status_code=status, media_type=MediaType.JSON)
    context = {
        "message": message,
        "fields": field_labels(fields),
        "status": status,
        "level": "error",
    }
    if _is_htmx(request):
        return HTMXTemplate(
            template_name="partials/_flash.html",
            context=context,
            status_code=status,
            re_target="#flash",
            re_swap="innerHTML",
        )
    return Template(template_name="error.html", context=context, status_code=status)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    fields = getattr(exc, "fields", None)
    return render_error(request, exc.status_code, gettext(exc.message, **exc.params), fields)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, AccountStepRequired) and not _is_api(request):
        if _is_htmx(request):
            return ClientRedirect(redirect_to=exc.target)
        return Redirect(exc.target)
    if isinstance(exc, NotAuthorizedException) and not _is_api(request):
        if _is_htmx(request):
            return ClientRedirect(redirect_to="/login")
        return Redirect(f"/login?next={request.url.path}")
    if isinstance(exc, ValidationException):
        status = 400
        fields = {
            str(item.get("key") or "form"): N_("Invalid value.")
            for item in (exc.extra or [])
            if isinstance(item, dict)
        }
        return render_error(request, 400, gettext(MESSAGES[400]), fields)
    if isinstance(exc, PermissionDeniedException):
        status = 403
    message = MESSAGES.get(status) or MESSAGES[400 if status < 500 else 500]
    return render_error(request, status, gettext(message))


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return render_error(request, HTTP_500_INTERNAL_SERVER_ERROR, gettext(MESSAGES[500]))


def busy_database_handler(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    """SQLite refusing a write while another process writes ("database is locked") is a
    moment's overload, not a fault: a 503 the client may retry (the transaction rolled back,
    nothing was half-written). Any other database error is a 500."""
    if "database is locked" not in str(exc):
        return internal_error_handler(request, exc)
    log.warning("database busy on %s: %s", request.url.path, exc.orig)
    response = render_error(request, 503, gettext(MESSAGES[503]))
    response.headers["Retry-After"] = "1"
    return response


EXCEPTION_HANDLERS: dict[Any, Any] = {
    OperationalError: busy_database_handler,
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
