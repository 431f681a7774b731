"""External notification channels: their real payload formats, signing, and sending.

Payload builders and signatures are pure (unit-tested against the vendors' documented
formats); :func:`send` performs one attempt — HTTP with httpx, email with the standard
library's smtplib in a thread — and reports what happened without raising, so the caller
can log the attempt and decide on a retry.

* WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content": …}}``;
  success is ``{"errcode": 0}``.
* DingTalk (钉钉) robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with a
  secret, ``timestamp`` (ms) and ``sign`` = urlencoded base64 HmacSHA256 of
  ``"<timestamp>\\n<secret>"`` keyed by the secret are added to the URL; success ``errcode 0``.
* Feishu (飞书) bot: ``{"msg_type": "text", "content": {"text": …}}``; with a secret, body
  ``timestamp`` (s) and ``sign`` = base64 HmacSHA256 with key ``"<timestamp>\\n<secret>"``
  over an empty message; success ``{"code": 0}``.
* Slack incoming webhook: ``{"text": …}``; success is HTTP 200.
* Generic webhook: a JSON document of the event; with a secret, header
  ``X-Kefu-Signature: sha256=<hex HMAC of the body>``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

import httpx

from models.base import utcnow
from models.notification_preference import DeliveryChannel
from models.settings import DeliverySettings, SmtpSettings, get_settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 10.0
USER_AGENT = "Kefu-Notifier/1"


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base, 2×base, 4×base, …"""
    return min(settings.backoff_seconds * 2 ** max(attempts - 1, 0), settings.backoff_max_seconds)


@dataclass(frozen=True)
class Message:
    """What to say, already rendered in the recipient's language."""

    title: str
    text: str
    url: str | None = None
    kind: str = ""
    ticket_number: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass(frozen=True)
class Request:
    """One HTTP request to make."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt; ``retry`` says a later attempt may succeed."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry: bool = False


# --- signing ---------------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign``: base64 HmacSHA256 of ``"<timestamp>\\n<secret>"``, urlencoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign``: base64 HmacSHA256 keyed by ``"<timestamp>\\n<secret>"``, empty message."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def webhook_signature(secret: str, body: bytes) -> str:
    """The generic webhook's ``X-Kefu-Signature`` header value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _with_query(url: str, extra: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _lines(message: Message) -> str:
    return message.text + (f"\n{message.url}" if message.url else "")


def _markdown(message: Message) -> str:
    link = f"\n\n[{message.ticket_number or message.url}]({message.url})" if message.url else ""
    return f"**{message.title}**\n\n> {message.text}{link}"


def build_request(
    channel: DeliveryChannel,
    url: str,
    message: Message,
    secret: str | None = None,
    *,
    now: float | None = None,
) -> Request:
    """The HTTP request a webhook channel expects for this message (pure but for the clock)."""
    now = utcnow().timestamp() if now is None else now
    if channel is DeliveryChannel.WECOM:
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": _markdown(message)}}
        return Request(url, body)
    if channel is DeliveryChannel.DINGTALK:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": message.title, "text": _markdown(message)},
        }
        if secret:
            stamp = int(now * 1000)
            url = _with_query(url, f"timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}")
        return Request(url, body)
    if channel is DeliveryChannel.FEISHU:
        body = {"msg_type": "text", "content": {"text": f"{message.title}\n{_lines(message)}"}}
        if secret:
            stamp = int(now)
            body = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **body}
        return Request(url, body)
    if channel is DeliveryChannel.SLACK:
        link = f" <{message.url}|{message.ticket_number or message.url}>" if message.url else ""
        return Request(url, {"text": f"*{message.title}*\n{message.text}{link}"})
    if channel is DeliveryChannel.WEBHOOK:
        body = {
            "event": "notification",
            "kind": message.kind,
            "title": message.title,
            "text": message.text,
            "url": message.url,
            "ticket": message.ticket_number,
            "params": message.params,
            "created_at": message.created_at,
        }
        headers = {}
        if secret:
            headers["X-Kefu-Signature"] = webhook_signature(secret, encode_body(body))
        return Request(url, body, headers)
    raise ValueError(f"not a webhook channel: {channel}")


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _vendor_error(channel: DeliveryChannel, payload: Any) -> str | None:
    """The error a vendor reported inside an HTTP 200, if any."""
    if not isinstance(payload, dict):
        return None
    if channel in (DeliveryChannel.WECOM, DeliveryChannel.DINGTALK):
        code = payload.get("errcode", 0)
        return None if code == 0 else f"errcode {code}: {payload.get('errmsg', '')}"[:500]
    if channel is DeliveryChannel.FEISHU:
        code = payload.get("code", payload.get("StatusCode", 0))
        return None if code == 0 else f"code {code}: {payload.get('msg', '')}"[:500]
    return None


def _retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


# --- where requests may go -----------------------------------------------------------------


class UnsafeTarget(ValueError):
    """A webhook address Kefu refuses to contact (the reason is for the admin log)."""


class Unresolvable(UnsafeTarget):
    """The host name does not resolve (now: it may later, and is checked again then)."""


def _allowed(host: str, settings: DeliverySettings) -> bool:
    return host.lower().strip("[]") in settings.allow_hosts


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet: never loopback, private, link-local
    (cloud metadata at 169.254.169.254), shared, multicast, reserved or unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, settings: DeliverySettings) -> str:
    """The address's host, if the URL may be used as a webhook target at all: https (http
    only for an allow-listed host), a host name, no credentials, and an IP literal only when
    it is public. Raises :class:`UnsafeTarget`. Names are resolved again at send time."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"malformed address: {exc}") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeTarget("no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("credentials in the address")
    allowed = _allowed(host, settings)
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise UnsafeTarget(f"scheme {parts.scheme!r} for {host}")
    if port == 0:
        raise UnsafeTarget("port 0")
    if not allowed:
        try:
            literal = public_address(host)
        except ValueError:
            literal = None  # a name: checked when resolved
        if literal is False or host == "localhost" or host.endswith(".localhost"):
            raise UnsafeTarget(f"non-public address {host}")
    return host


async def resolve_public(host: str, port: int) -> str:
    """One public address of ``host``; every address it resolves to must be public (so a
    name answering with a mix cannot reach inside). Raises :class:`UnsafeTarget`."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Unresolvable(f"cannot resolve {host}")
    for address in addresses:
        if not public_address(address):
            raise UnsafeTarget(f"{host} resolves to non-public address {address}")
    return addresses[0]


async def check_target(url: str, settings: DeliverySettings) -> None:
    """Whether a new channel's address may be used: :func:`check_url`, and a name that
    resolves now must resolve only to public addresses (one that does not resolve yet is
    accepted; every send resolves and checks again)."""
    host = check_url(url, settings)
    if _allowed(host, settings):
        return
    try:
        await resolve_public(host, urlsplit(url).port or 443)
    except Unresolvable:
        return


async def pinned(
    url: str, settings: DeliverySettings
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to connect to, extra headers and request extensions: the host is resolved
    once, checked, and the connection made to that checked address (so a name cannot
    resolve to a public address for the check and a private one for the connection), with
    the original name as Host header and TLS server name. Allow-listed hosts go as they are.
    """
    host = check_url(url, settings)
    if _allowed(host, settings):
        return url, {}, {}
    target = httpx.URL(url)
    address = await resolve_public(host, target.port or 443)
    port = f":{target.port}" if target.port else ""
    host_header = (f"[{host}]" if ":" in host else host) + port
    return str(target.copy_with(host=address)), {"Host": host_header}, {"sni_hostname": host}


async def post(
    channel: DeliveryChannel,
    request: Request,
    client: httpx.AsyncClient | None = None,
    settings: DeliverySettings | None = None,
) -> Attempt:
    """Make one webhook request (to a checked address only) and classify the outcome."""
    try:
        url, pin_headers, extensions = await pinned(
            request.url, settings or get_settings().delivery
        )
    except UnsafeTarget as exc:
        return Attempt(False, None, f"refused: {exc}"[:500], retry=False)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        **request.headers,
        **pin_headers,
    }
    owned = client is None
    client = client or httpx.AsyncClient(
        timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False
    )
    try:
        response = await client.post(
            url, content=encode_body(request.body), headers=headers, extensions=extensions
        )
    except httpx.HTTPError as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500], retry=True)
    finally:
        if owned:
            await client.aclose()
    status = response.status_code
    if status >= 300:
        return Attempt(
            False, status, f"HTTP {status}: {response.text[:300]}", retry=_retryable_status(status)
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = _vendor_error(channel, payload)
    # A vendor error in a 200 (rate limit, bad key) may clear up; retry within the budget.
    return Attempt(error is None, status, error, retry=error is not None)


def build_email(to: str, message: Message, settings: SmtpSettings) -> EmailMessage:
    """The email for one message: plain UTF-8 text, subject is the title."""
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = to
    email["Subject"] = message.title
    email.set_content(_lines(message))
    return email


def _smtp_send(email: EmailMessage, settings: SmtpSettings) -> None:
    smtp_class = smtplib.SMTP_SSL if settings.ssl else smtplib.SMTP
    with smtp_class(settings.host, settings.port, timeout=HTTP_TIMEOUT) as smtp:
        if settings.starttls and not settings.ssl:
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password)
        smtp.send_message(email)


async def send_email(to: str, message: Message, settings: SmtpSettings) -> Attempt:
    """Send one email through the configured SMTP server (in a thread: smtplib blocks)."""
    if not settings.host:
        return Attempt(False, None, "SMTP is not configured (KEFU_SMTP_HOST)", retry=False)
    try:
        await asyncio.to_thread(_smtp_send, build_email(to, message, settings), settings)
    except smtplib.SMTPResponseException as exc:
        code = int(exc.smtp_code)
        return Attempt(False, code, f"SMTP {code}: {exc.smtp_error!r}"[:500], retry=code < 500)
    except smtplib.SMTPRecipientsRefused as exc:
        return Attempt(False, None, f"recipient refused: {exc.recipients!r}"[:500], retry=False)
    except (OSError, smtplib.SMTPException) as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500], retry=True)
    return Attempt(True, 250)


async def send(
    channel: DeliveryChannel,
    target: str,
    message: Message,
    secret: str | None,
    smtp: SmtpSettings,
    delivery: DeliverySettings | None = None,
) -> Attempt:
    """One delivery attempt on any channel."""
    if channel is DeliveryChannel.EMAIL:
        return await send_email(target, message, smtp)
    return await post(channel, build_request(channel, target, message, secret), settings=delivery)


def mask_url(url: str) -> str:
    """``https://qyapi.weixin.qq.com/…b4c1``: enough to recognise, never the key.

    The key is the last query value (WeCom ``key``, DingTalk ``access_token``) or the last
    path segment (Feishu, Slack); only four of its characters are shown, and only when it is
    long enough that four characters give nothing away.
    """
    parts = urlsplit(url)
    values = parse_qsl(parts.query)
    token = values[-1][1] if values else parts.path.rstrip("/").rsplit("/", 1)[-1]
    tail = token[-4:] if len(token) >= 16 else ""
    return f"{parts.scheme}://{parts.netloc}/…{tail}"[:200]
