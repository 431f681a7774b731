"""Input every handler may trust, checked once (a middleware) before any handler runs.

A NUL character (PostgreSQL text cannot hold it), an id beyond what the database stores, JSON
nested deeper than any real document, or a multipart form whose text is not text never
reaches a service: each is a clear, localized 4xx (JSON on the API) with nothing stored.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from litestar import Request
from litestar.params import ParameterKwarg
from litestar.types import ASGIApp, Receive, Scope, Send

from models.services.common import ids
from models.services.common.errors import N_, DomainError, NotFound, ValidationFailed

MAX_JSON_DEPTH = 32
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}

NUL_MESSAGE = N_("The text contains a character that is not allowed (NUL).")
DEPTH_MESSAGE = N_("The JSON document is nested too deeply.")
FORM_MESSAGE = N_(
    "The form could not be read: a field is not valid UTF-8 text, or a file was sent "
    "without a file name."
)


class BadInput(DomainError):
    """A request no handler should see (status 400)."""

    status_code = 400


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``limit`` (scanned, not parsed,
    so a hostile document cannot exhaust the parser's stack)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def has_nul(value: Any) -> bool:
    """Whether any string (key or value) in a decoded JSON document holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def _int_query_params(request: Request[Any, Any, Any]) -> list[str]:
    """The query names the handler reads as integers."""
    handler = request.route_handler
    path_names = set(request.path_params)
    names = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in path_names or name == "data":
            continue
        annotation = field.annotation
        if annotation is not int and int not in get_args(annotation):
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        names.append(kwarg.query if isinstance(kwarg, ParameterKwarg) and kwarg.query else name)
    return names


def _check_numbers(request: Request[Any, Any, Any]) -> None:
    for value in request.path_params.values():
        if isinstance(value, int) and not ids.in_range(value):
            raise NotFound(N_("Not found."))
    for name in _int_query_params(request):
        raw = request.query_params.get(name)
        try:
            value = int(raw) if raw is not None else None
        except ValueError:
            continue  # not a number: Litestar's own validation answers 400
        if value is not None and not ids.in_range(value):
            raise ValidationFailed(
                N_("Please correct the highlighted fields."), fields={name: N_("Invalid value.")}
            )


async def _check_body(request: Request[Any, Any, Any]) -> None:
    content_type, _ = request.content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        body = await request.body()
        if json_depth_exceeds(body):
            raise BadInput(DEPTH_MESSAGE)
        try:
            document = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):
            return  # malformed JSON: the handler's decoder answers 400
        if has_nul(document):
            raise BadInput(NUL_MESSAGE)
    elif content_type in FORM_TYPES:
        try:
            form = await request.form()
        except (UnicodeDecodeError, LookupError):
            raise BadInput(FORM_MESSAGE) from None
        for key, value in form.multi_items():
            if "\x00" in key or (isinstance(value, str) and "\x00" in value):
                raise BadInput(NUL_MESSAGE)


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Refuse what no handler should see (see the module doc)."""
    if "\x00" in request.scope["path"]:
        raise NotFound(N_("Not found."))
    query = request.scope.get("query_string", b"").lower()
    if b"%00" in query or b"\x00" in query:
        raise BadInput(NUL_MESSAGE)
    _check_numbers(request)
    if request.method in BODY_METHODS:
        await _check_body(request)


def input_middleware(app: ASGIApp) -> ASGIApp:
    """Run :func:`check_request` on every routed HTTP request, before CSRF checking and
    before any handler: both read the form, which is parsed here once and cached on the
    scope (so an unreadable form is a 400 wherever it would first have been read)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await check_request(Request(scope, receive))
        await app(scope, receive, send)

    return middleware
