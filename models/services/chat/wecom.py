"""WeCom customer service (微信客服, "kf"): the callback crypto and the HTTP API, nothing more.

Pure protocol code: no database, no settings, no other project module. The chat services decide
what a message means; this module only speaks WeCom's wire formats, so it can be tested against
the vendor's documented behaviour (and a local stand-in of it) on its own.

* :class:`WeComCrypto` is WeCom's callback crypto as its official WXBizMsgCrypt sample does it
  ("加解密方案说明"): AES-256-CBC under ``base64(EncodingAESKey + "=")`` with the key's first 16
  bytes as IV, PKCS#7 padding to 32-byte blocks, plaintext ``16 random bytes | 4-byte big-endian
  length | message | receive id``, and ``msg_signature = sha1(sorted(token, timestamp, nonce,
  ciphertext))``. A kf callback only says "something happened on this account"; its decrypted
  body carries a short-lived ``Token`` for ``sync_msg``.
* :class:`WeComClient` calls ``gettoken``, ``kf/sync_msg``, ``kf/send_msg`` and ``media/get``.
  The access token is cached until five minutes before it expires and fetched again, once, when
  WeCom says it is invalid or expired (40014, 42001). Every refusal is a :class:`WeComApiError`
  with WeCom's ``errcode``.
* :func:`reply_window_rule` is WeCom's reply rule (within 48 hours of the customer's last
  message, at most 5 replies until the customer writes again) as a pure function, so the
  product can say why before it asks WeCom and gets 95002 / 95001.

The access token travels in the query string (WeCom has no header form): no URL built here is
put into an exception message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

API_BASE = "https://qyapi.weixin.qq.com"
# WXBizMsgCrypt pads to 32-byte blocks (not AES's 16) and prefixes 16 random bytes.
BLOCK_SIZE = 32
PREFIX_BYTES = 16
ENCODING_AES_KEY_LENGTH = 43
# A callback whose timestamp is further than this from "now" is refused as a possible replay.
MAX_CALLBACK_AGE_SECONDS = 300
# The access token is fetched again this long before WeCom says it expires.
TOKEN_REFRESH_MARGIN_SECONDS = 300
TOKEN_ERRCODES = frozenset({40014, 42001})  # invalid / expired access_token
SYNC_LIMIT = 1000  # sync_msg's documented maximum page
REPLY_WINDOW = timedelta(hours=48)
REPLIES_PER_WINDOW = 5
TEXT_MAX_BYTES = 2048  # send_msg text.content
MAX_MEDIA_BYTES = 20 * 1024 * 1024
# send_msg's own msgid: at most 32 bytes of [0-9a-zA-Z_-].
CLIENT_MSGID_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
MEDIA_MSGTYPES = frozenset({"image", "voice", "video", "file"})

ORIGIN_CUSTOMER = 3  # sent by the WeChat customer
ORIGIN_EVENT = 4  # pushed by the system (an event)
ORIGIN_SERVICER = 5  # sent by a servicer from the WeCom client

# What the errcodes the kf integration meets mean, in words an operator can act on.
ERRCODE_MEANINGS: dict[int, str] = {
    -1: "WeCom is busy; try again shortly",
    40001: "the secret is wrong (use the WeChat customer service secret)",
    40007: "the media_id is invalid or has expired",
    40013: "the corp id is wrong",
    40014: "the access token is invalid",
    40035: "a parameter is invalid",
    41001: "the access token is missing",
    42001: "the access token has expired",
    45009: "the API call rate limit was reached",
    48002: "the app has no permission for this API",
    60020: "this server's IP address is not on the WeCom trusted IP list",
    95000: "the open_kfid (customer service account) is invalid",
    95001: "the reply limit was reached: at most 5 replies until the customer writes again",
    95002: "the reply window has closed: replies are allowed only within 48 hours of the "
    "customer's last message",
    95007: "the sync token from the callback is invalid or has expired",
    95013: "the conversation has ended",
    95018: "the conversation's state does not allow sending a message",
}

T = TypeVar("T")


class WeComError(Exception):
    """Anything this module refuses or WeCom refused."""


class WeComCryptoError(WeComError, ValueError):
    """A callback (or a key) that cannot be decrypted or parsed as WeCom's format."""


class WeComSignatureError(WeComCryptoError):
    """A callback whose signature does not match, or whose timestamp is too old: not WeCom's."""


class WeComApiError(WeComError):
    """WeCom answered with a non-zero ``errcode`` (or, as -1, not in its documented form)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        meaning = ERRCODE_MEANINGS.get(errcode, "see WeCom's global error codes")
        super().__init__(f"WeCom error {errcode}: {meaning} (WeCom said: {errmsg})")


class WeComMediaTooLarge(WeComError):
    """A media file larger than the caller's limit; the download was abandoned part way."""

    def __init__(self, media_id: str, max_bytes: int, size: int | None = None) -> None:
        self.media_id = media_id
        self.max_bytes = max_bytes
        self.size = size
        told = f"{size} bytes" if size is not None else "more than that"
        super().__init__(f"WeCom media {media_id} is {told}; the limit is {max_bytes} bytes")


# --------------------------------------------------------------------------------- crypto


def _random_prefix() -> bytes:
    return secrets.token_bytes(PREFIX_BYTES)


class _RefuseDoctype(ET.TreeBuilder):
    """A tree builder that stops at a DOCTYPE, before any ENTITY in it is declared or used."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise WeComCryptoError("XML with a DOCTYPE is refused (entity declarations)")


_DECLARATION_RE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_flat_xml(data: bytes | str) -> dict[str, str]:
    """The root's child elements of a WeCom XML document as ``{tag: text}``.

    WeCom's callback bodies are one level deep. DOCTYPE and ENTITY declarations are refused
    (no entity expansion attacks); anything that is not UTF-8 XML is a :class:`WeComCryptoError`.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise WeComCryptoError("the XML is not UTF-8") from exc
    if _DECLARATION_RE.search(text):
        raise WeComCryptoError("XML with a DOCTYPE or ENTITY declaration is refused")
    parser = ET.XMLParser(target=_RefuseDoctype())
    try:
        parser.feed(text.encode("utf-8"))
        root = parser.close()
    except ET.ParseError as exc:
        raise WeComCryptoError(f"the XML is malformed: {exc}") from exc
    return {child.tag: (child.text or "") for child in root}


class WeComCrypto:
    """WeCom's callback crypto for one receiver (the corp id for kf callbacks).

    ``token`` and ``encoding_aes_key`` are the pair generated with the callback URL in WeCom's
    admin; ``random_prefix`` exists so a test can fix the 16 random bytes and compare against
    an independently computed vector.
    """

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        *,
        max_age_seconds: int = MAX_CALLBACK_AGE_SECONDS,
        random_prefix: Callable[[], bytes] = _random_prefix,
    ) -> None:
        if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
            raise WeComCryptoError(
                f"the EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} characters, "
                f"not {len(encoding_aes_key)}"
            )
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeComCryptoError("the EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise WeComCryptoError("the EncodingAESKey does not decode to a 32-byte AES key")
        self._token = token
        self._key = key
        self._receive_id = receive_id.encode("utf-8")
        self._max_age = max_age_seconds
        self._random_prefix = random_prefix

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """``msg_signature``: sha1 (lower-case hex) of the sorted, concatenated four values."""
        joined = "".join(sorted([self._token, timestamp, nonce, encrypted]))
        return hashlib.sha1(joined.encode("utf-8")).hexdigest()

    def encrypt(self, msg: str, timestamp: str, nonce: str) -> tuple[str, str]:
        """``(base64 ciphertext, msg_signature)`` of ``msg``, as WeCom would send it."""
        prefix = self._random_prefix()
        if len(prefix) != PREFIX_BYTES:
            raise WeComCryptoError(f"the random prefix must be {PREFIX_BYTES} bytes")
        body = msg.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
        return encrypted, self.sign(timestamp, nonce, encrypted)

    def decrypt(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        encrypted: str,
        *,
        now: float | None = None,
    ) -> str:
        """The message inside ``encrypted``, once the signature (and, given ``now``, the
        timestamp's freshness) and the receive id check out."""
        self._check_signature(msg_signature, timestamp, nonce, encrypted, now)
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeComCryptoError("the ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise WeComCryptoError("the ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise WeComCryptoError("the padding is invalid (wrong key or tampered ciphertext)")
        content = plain[PREFIX_BYTES:-pad]
        if len(content) < 4:
            raise WeComCryptoError("the plaintext is too short")
        (length,) = struct.unpack(">I", content[:4])
        if 4 + length > len(content):
            raise WeComCryptoError("the message length does not fit the plaintext")
        body, receive_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise WeComCryptoError("the message was encrypted for another receive id (corp id)")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeComCryptoError("the message is not UTF-8") from exc

    def verify_url(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        echostr: str,
        *,
        now: float | None = None,
    ) -> str:
        """The plaintext to answer WeCom's URL verification GET with (its decrypted echostr)."""
        return self.decrypt(msg_signature, timestamp, nonce, echostr, now=now)

    def decrypt_post(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        body_xml: bytes | str,
        *,
        now: float | None = None,
    ) -> dict[str, str]:
        """The fields of a callback POST: its ``<Encrypt>`` decrypted and read as flat XML
        (for kf: ``ToUserName``, ``CreateTime``, ``MsgType``, ``Event``, ``Token``,
        ``OpenKfId``)."""
        encrypted = parse_flat_xml(body_xml).get("Encrypt", "")
        if not encrypted:
            raise WeComCryptoError("the callback body has no Encrypt element")
        return parse_flat_xml(self.decrypt(msg_signature, timestamp, nonce, encrypted, now=now))

    def _check_signature(
        self, msg_signature: str, timestamp: str, nonce: str, encrypted: str, now: float | None
    ) -> None:
        expected = self.sign(timestamp, nonce, encrypted).encode("ascii")
        if not hmac.compare_digest(expected, msg_signature.encode("utf-8")):
            raise WeComSignatureError("the msg_signature does not match: not sent by WeCom")
        if now is None:
            return
        try:
            sent = int(timestamp)
        except ValueError as exc:
            raise WeComSignatureError(f"the timestamp {timestamp!r} is not a number") from exc
        if abs(now - sent) > self._max_age:
            raise WeComSignatureError(
                f"the timestamp is {int(now - sent)} s from now; more than {self._max_age} s "
                "is refused as a possible replay"
            )

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))


# ---------------------------------------------------------------------------- reply rule


def reply_window_rule(
    last_customer_message_at: datetime, now: datetime, sent_since: int
) -> Literal["expired", "exhausted"] | None:
    """Which part of WeCom's reply rule refuses a reply now, or None when it allows one.

    WeCom lets a kf account answer only within 48 hours of the customer's last message
    (``expired`` after that) and at most 5 times until the customer writes again
    (``exhausted``; the count starts over when they do).
    """
    if now - last_customer_message_at > REPLY_WINDOW:
        return "expired"
    if sent_since >= REPLIES_PER_WINDOW:
        return "exhausted"
    return None


def reply_window_refusal(
    last_customer_message_at: datetime, now: datetime, sent_since: int
) -> str | None:
    """:func:`reply_window_rule` in words (for logs and errors), or None when WeCom allows it."""
    rule = reply_window_rule(last_customer_message_at, now, sent_since)
    if rule == "expired":
        return (
            "the customer's last message was more than 48 hours ago; "
            "WeCom allows replies only within 48 hours"
        )
    if rule == "exhausted":
        return (
            f"{sent_since} replies were already sent since the customer's last message; "
            f"WeCom allows at most {REPLIES_PER_WINDOW} until the customer writes again"
        )
    return None


# -------------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class KfMessage:
    """One message or event from ``sync_msg``; ``raw`` keeps WeCom's whole item."""

    msgid: str
    open_kfid: str
    external_userid: str
    send_time: datetime  # UTC
    origin: int  # ORIGIN_CUSTOMER, ORIGIN_EVENT or ORIGIN_SERVICER
    msgtype: str
    text: str | None
    media_id: str | None
    event_type: str | None
    servicer_userid: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def from_customer(self) -> bool:
        return self.origin == ORIGIN_CUSTOMER


@dataclass(frozen=True, slots=True)
class SyncResult:
    """One ``sync_msg`` page; store ``next_cursor`` only after storing its messages."""

    messages: list[KfMessage]
    next_cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class Media:
    """A downloaded media file."""

    content: bytes = field(repr=False)
    content_type: str
    filename: str


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_kf_message(raw: dict[str, Any]) -> KfMessage:
    """A ``msg_list`` item as a :class:`KfMessage`.

    Event items carry the customer and account inside ``event``, so those are read from there
    when the top level lacks them.
    """
    msgtype = str(raw.get("msgtype", ""))
    body = raw.get(msgtype)
    body = body if isinstance(body, dict) else {}
    event = raw.get("event") if msgtype == "event" else None
    event = event if isinstance(event, dict) else {}
    try:
        sent = datetime.fromtimestamp(int(raw.get("send_time", 0)), tz=UTC)
        origin = int(raw.get("origin", 0))
    except (TypeError, ValueError, OverflowError) as exc:
        raise WeComApiError(-1, f"sync_msg sent a malformed message: {exc}") from exc
    return KfMessage(
        msgid=str(raw.get("msgid", "")),
        open_kfid=str(raw.get("open_kfid") or event.get("open_kfid") or ""),
        external_userid=str(raw.get("external_userid") or event.get("external_userid") or ""),
        send_time=sent,
        origin=origin,
        msgtype=msgtype,
        text=_text(body.get("content")) if msgtype == "text" else None,
        media_id=_text(body.get("media_id")) if msgtype in MEDIA_MSGTYPES else None,
        event_type=_text(event.get("event_type")),
        servicer_userid=_text(raw.get("servicer_userid")),
        raw=raw,
    )


def _media_filename(disposition: str, fallback: str) -> str:
    """The filename of a ``Content-Disposition`` header (RFC 2231 too), without any path."""
    header = Message()
    header["content-disposition"] = disposition
    name = header.get_filename() or ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or fallback


class WeComClient:
    """WeCom's kf HTTP API for one corp and customer-service secret.

    ``http`` lets the caller share (and close) an ``httpx.AsyncClient``; without one the client
    makes its own, closed by :meth:`aclose`. ``clock`` (monotonic seconds) times the token cache.
    """

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        base_url: str = API_BASE,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
    ) -> None:
        self.corp_id = corp_id
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            await self._http.aclose()

    async def access_token(self) -> str:
        """The cached access token, fetched when there is none or it is about to expire."""
        return await self._token_replacing(None)

    async def sync_messages(
        self,
        *,
        open_kfid: str,
        callback_token: str | None,
        cursor: str = "",
        limit: int = SYNC_LIMIT,
    ) -> SyncResult:
        """One page of messages after ``cursor`` (``""``: from the oldest WeCom keeps).

        ``callback_token`` is the ``Token`` of the callback that announced them; WeCom lifts
        its rate limit for calls that carry it.
        """
        body: dict[str, Any] = {
            "cursor": cursor,
            "limit": limit,
            "voice_format": 0,
            "open_kfid": open_kfid,
        }
        if callback_token:
            body["token"] = callback_token
        data = await self._call_json("POST", "/cgi-bin/kf/sync_msg", json_body=body)
        items = data.get("msg_list") or []
        if not isinstance(items, list):
            raise WeComApiError(-1, "sync_msg answered without a msg_list")
        return SyncResult(
            messages=[parse_kf_message(item) for item in items if isinstance(item, dict)],
            next_cursor=str(data.get("next_cursor") or ""),
            has_more=bool(data.get("has_more")),
        )

    async def iter_all(
        self, *, open_kfid: str, callback_token: str | None, cursor: str = ""
    ) -> AsyncIterator[SyncResult]:
        """Every page after ``cursor``, following ``has_more``.

        Pages rather than messages, so the caller can store each page's ``next_cursor`` once
        its messages are stored: a crash then re-reads at most one page.
        """
        while True:
            page = await self.sync_messages(
                open_kfid=open_kfid, callback_token=callback_token, cursor=cursor
            )
            yield page
            if not page.has_more:
                return
            if not page.next_cursor or page.next_cursor == cursor:
                raise WeComApiError(-1, "sync_msg said has_more but gave no new cursor")
            cursor = page.next_cursor

    async def send_text(
        self, *, touser: str, open_kfid: str, content: str, msgid: str | None = None
    ) -> str:
        """Send a text message to the customer ``touser`` (external_userid); WeCom's msgid.

        ``msgid`` is the caller's own id for the message (WeCom echoes it), so a retried send
        can be recognised. WeCom refuses outside the reply window: see
        :func:`reply_window_rule`.
        """
        if not content.strip():
            raise ValueError("a WeCom text message needs content")
        if len(content.encode("utf-8")) > TEXT_MAX_BYTES:
            raise ValueError(f"a WeCom text message is at most {TEXT_MAX_BYTES} bytes")
        body: dict[str, Any] = {
            "touser": touser,
            "open_kfid": open_kfid,
            "msgtype": "text",
            "text": {"content": content},
        }
        if msgid is not None:
            if not CLIENT_MSGID_RE.match(msgid):
                raise ValueError("a WeCom msgid is 1-32 characters of [0-9A-Za-z_-]")
            body["msgid"] = msgid
        data = await self._call_json("POST", "/cgi-bin/kf/send_msg", json_body=body)
        return str(data.get("msgid") or msgid or "")

    async def download_media(self, media_id: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> Media:
        """The file behind ``media_id`` (from an image, voice, video or file message).

        Reading stops as soon as the file exceeds ``max_bytes``
        (:class:`WeComMediaTooLarge`).
        """

        async def attempt(token: str) -> Media:
            params = {"access_token": token, "media_id": media_id}
            async with self._http.stream(
                "GET", f"{self.base_url}/cgi-bin/media/get", params=params
            ) as response:
                disposition = response.headers.get("content-disposition")
                if response.status_code != 200 or not disposition:
                    # WeCom answers a refusal as JSON, without an attachment.
                    body = await _read_capped(response, 64 * 1024, media_id)
                    _raise_for_errcode(_json_body(response.status_code, body))
                    raise WeComApiError(-1, "media/get answered without a file")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise WeComMediaTooLarge(media_id, max_bytes, int(declared))
                content = await _read_capped(response, max_bytes, media_id)
                content_type = response.headers.get("content-type", "application/octet-stream")
                return Media(
                    content=content,
                    content_type=content_type.split(";", 1)[0].strip(),
                    filename=_media_filename(disposition, media_id),
                )

        return await self._authorized(attempt)

    # ---- internals

    async def _token_replacing(self, stale: str | None) -> str:
        """A usable token; ``stale`` is one WeCom just refused, so it is never handed back."""
        async with self._token_lock:
            if (
                self._token is not None
                and self._token != stale
                and self._clock() < self._token_expires
            ):
                return self._token
            data = await self._request_json(
                "GET", "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self._secret}
            )
            _raise_for_errcode(data)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeComApiError(-1, "gettoken answered without an access_token")
            lifetime = int(data.get("expires_in") or 7200)
            margin = min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime // 2)
            self._token, self._token_expires = token, self._clock() + lifetime - margin
            return token

    async def _authorized(self, attempt: Callable[[str], Awaitable[T]]) -> T:
        """``attempt(token)``, once more with a fresh token if WeCom refused the token."""
        token = await self._token_replacing(None)
        try:
            return await attempt(token)
        except WeComApiError as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
        return await attempt(await self._token_replacing(token))

    async def _call_json(
        self, method: str, path: str, *, json_body: dict[str, Any]
    ) -> dict[str, Any]:
        async def attempt(token: str) -> dict[str, Any]:
            data = await self._request_json(method, path, {"access_token": token}, json_body)
            _raise_for_errcode(data)
            return data

        return await self._authorized(attempt)

    async def _request_json(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                content=None
                if json_body is None
                else json.dumps(json_body, ensure_ascii=False).encode("utf-8"),
                headers=None if json_body is None else {"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            # The exception's text may carry the URL, and with it the token or the secret.
            raise WeComApiError(-1, f"could not reach WeCom ({type(exc).__name__})") from None
        return _json_body(response.status_code, response.content)


async def _read_capped(response: httpx.Response, max_bytes: int, media_id: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise WeComMediaTooLarge(media_id, max_bytes)
            chunks.append(chunk)
    except httpx.HTTPError:
        raise WeComApiError(-1, "the media download was interrupted") from None
    return b"".join(chunks)


def _json_body(status: int, body: bytes) -> dict[str, Any]:
    """WeCom's JSON answer; anything else is errcode -1 (try again later)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise WeComApiError(-1, f"HTTP {status} without a JSON object")
    return data


def _raise_for_errcode(data: dict[str, Any]) -> None:
    try:
        errcode = int(data.get("errcode", 0))
    except (TypeError, ValueError):
        errcode = -1
    if errcode != 0:
        raise WeComApiError(errcode, str(data.get("errmsg", "")))
