"""Browser hygiene on every response, and an access log without customers' contact details.

Every HTML page carries a Content-Security-Policy (scripts only from our own origin: no inline
script, no inline event handler, no eval), refuses framing, forbids MIME sniffing and limits
the Referer. A response that set its own policy (a sandboxed attachment download) keeps it.

Searches by phone number or email address put them in query strings; the access log writes
those values as ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, quote, urlsplit

from litestar.types import Message, Scope

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # htmx and the board set element styles; no stylesheet comes from elsewhere.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Litestar ``before_send``: add :data:`SECURITY_HEADERS` to every HTTP response (error
    pages and unknown paths included) that has not set them itself; the page policy only to
    HTML (a downloaded file keeps its own: an inline PDF must have none to be shown)."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or [])
    present = {bytes(name).lower() for name, _ in headers}
    content_type = next(
        (bytes(value).lower() for name, value in headers if bytes(name).lower() == b"content-type"),
        b"",
    )
    if not content_type.startswith(b"text/html"):
        present.add(b"content-security-policy")
    own_policy = next(
        (bytes(v) for n, v in headers if bytes(n).lower() == b"content-security-policy"), b""
    )
    if b"frame-ancestors" in own_policy and b"frame-ancestors 'none'" not in own_policy:
        # A page meant to be framed (the chat widget) says where in its own policy; the
        # blanket DENY would override it in older browsers.
        present.add(b"x-frame-options")
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    message["headers"] = headers


# --- the access log -------------------------------------------------------------------------

EMAIL_RE = re.compile(r"[^\s@]+@[^\s@]+")
PHONE_RE = re.compile(r"^\+?[\d\s().-]{7,}$")
REDACTED = "[redacted]"


def _contact_like(value: str) -> bool:
    return bool(EMAIL_RE.search(value)) or (
        bool(PHONE_RE.match(value.strip())) and sum(c.isdigit() for c in value) >= 7
    )


def redact_path(path: str) -> str:
    """A request target with every phone- or email-like query value replaced."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_contact_like(value) for _, value in pairs):
        return path
    query = "&".join(
        f"{quote(key, safe='')}={REDACTED if _contact_like(value) else quote(value, safe='')}"
        for key, value in pairs
    )
    return f"{parts.path}?{query}"


class ContactRedactingFilter(logging.Filter):
    """For uvicorn's access log: its record's args are (client, method, path, version,
    status); the path loses contact-like query values."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


ACCESS_LOGGER = "uvicorn.access"


def install_access_log_filter() -> None:
    """Attach the filter to the access logger once (called at app start-up, after the
    server configured its logging)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, ContactRedactingFilter) for f in logger.filters):
        logger.addFilter(ContactRedactingFilter())
