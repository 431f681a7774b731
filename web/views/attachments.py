"""Attachments on the web: reading multipart forms, uploads, and safe downloads.

Uploads arrive on the portal form, the tracking page, the agent intake form and the ticket
drawer; the handlers there call :func:`read_form`. Downloads go to staff at
``/attachments/{id}`` and to the customer at ``/portal/t/{token}/attachments/{id}``; every
response says ``nosniff``, names the file with RFC 5987 and, except inline PDFs, carries a
sandboxing CSP; only re-encoded images and PDFs are shown inline.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from models.services.common.errors import ValidationFailed
from models.services.tickets import attachments, portal
from models.services.tickets.attachments import Download, Upload
from models.settings import Settings
from web.deps import CurrentActor, DbSession
from web.i18n import gettext
from web.security import requires_staff
from web.views.tickets import render_drawer

T = TypeVar("T")
FILES_FIELD = "files"
# Room for the other form fields and the multipart framing around the files.
FORM_OVERHEAD = 1024 * 1024
MIN_BODY = 2 * 1024 * 1024
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def body_limit(settings: Settings) -> int:
    """The largest request body the app reads: a full batch of files plus the form around it.

    Anything larger is refused by Litestar with a 413 before it is read, rendered by the
    central error mapping as a localized message.
    """
    largest = max(settings.attachment_ticket_max_bytes, settings.attachment_max_bytes)
    return max(MIN_BODY, largest + FORM_OVERHEAD)


async def read_form(request: Request[Any, Any, Any], form_type: type[T]) -> tuple[T, list[Upload]]:
    """A form dataclass from a url-encoded or multipart body, and its chosen files.

    Text fields fill ``form_type`` (missing ones keep their defaults); every non-empty file
    under ``files`` becomes an :class:`Upload` (an empty file input sends an unnamed part).
    """
    form = await request.form()
    values: dict[str, Any] = {}
    for item in fields(form_type):  # type: ignore[arg-type]
        value = form.get(item.name)
        if isinstance(value, str):
            values[item.name] = value
    uploads: list[Upload] = []
    for part in form.getall(FILES_FIELD, []):
        if isinstance(part, UploadFile):
            data = await part.read()
            await part.close()
            if part.filename or data:
                uploads.append(Upload(part.filename or "", data, part.content_type or None))
    return form_type(**values), uploads


def file_error(exc: ValidationFailed) -> str:
    """The translated message of a refused file, for the form that chose it ("" otherwise)."""
    return gettext(exc.message, **exc.params) if FILES_FIELD in exc.fields else ""


def disposition(download: Download) -> str:
    """``inline``/``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266/5987)."""
    kind = "inline" if download.inline else "attachment"
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in download.filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(download.filename, safe='')}"


def file_response(download: Download, extra: dict[str, str] | None = None) -> Response[bytes]:
    """The bytes, with headers that keep the browser from running or re-typing them."""
    media_type = download.content_type if download.inline else "application/octet-stream"
    headers = {
        "Content-Disposition": disposition(download),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        **(extra or {}),
    }
    # Browsers refuse to show a PDF in a sandboxed document, so an inline PDF goes without the
    # sandbox (their viewers run its scripts isolated from our origin); everything else has it.
    if media_type != "application/pdf":
        headers["Content-Security-Policy"] = "sandbox"
    return Response(download.data, media_type=media_type, headers=headers)


class AttachmentController(Controller):
    """Staff downloads: every signed-in staff member may read every ticket's files."""

    path = "/attachments"
    guards = [requires_staff]
    include_in_schema = False

    @get("/{attachment_id:int}")
    async def download(
        self, db_session: DbSession, actor: CurrentActor, attachment_id: FromPath[int]
    ) -> Response[bytes]:
        found = await attachments.get_for_download(db_session, actor, attachment_id, None)
        return file_response(found)


class TicketAttachmentController(Controller):
    """Agents attach files in the ticket drawer."""

    path = "/tickets"
    guards = [requires_staff]
    include_in_schema = False

    @post("/{ticket_id:int}/attachments", status_code=200)
    async def upload(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
    ) -> Response[Any]:
        _, uploads = await read_form(request, _NoFields)
        await attachments.add_from_drawer(db_session, actor, ticket_id, uploads)
        if not request.htmx:
            return Redirect(f"/tickets/{ticket_id}", status_code=303)
        return await render_drawer(request, db_session, actor, ticket_id)


class TrackingAttachmentController(Controller):
    """The customer's files, through the tracking link (no sign-in; the token is the key)."""

    path = "/portal/t"
    include_in_schema = False

    @get("/{token:str}/attachments/{attachment_id:int}")
    async def download(
        self, db_session: DbSession, token: FromPath[str], attachment_id: FromPath[int]
    ) -> Response[bytes]:
        found = await attachments.get_for_download(db_session, None, attachment_id, token)
        return file_response(found, PRIVATE_HEADERS)

    @post("/{token:str}/attachments", status_code=200)
    async def upload(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Response[Any]:
        _, uploads = await read_form(request, _NoFields)
        view = await portal.add_files(
            db_session, request.app.state.redis, token, uploads, client_ip=_client_ip(request)
        )
        if request.htmx:
            return Template(
                "portal/partials/_thread.html",
                headers=PRIVATE_HEADERS,
                context={"view": view, "token": token},
            )
        return Redirect(f"/portal/t/{token}", status_code=303, headers=PRIVATE_HEADERS)


@dataclass
class _NoFields:
    """A form with files only."""


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"
