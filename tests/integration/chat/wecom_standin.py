"""A local stand-in for WeCom's customer-service API, for tests that must not reach Tencent.

A real HTTP server (``ThreadingHTTPServer`` in a thread, on a free 127.0.0.1 port) answering
the documented endpoints with their documented JSON shapes and errcodes:

* ``GET /cgi-bin/gettoken?corpid=&corpsecret=``: 40013 for another corp id, 40001 for a wrong
  secret, else ``{"access_token", "expires_in": 7200}`` (``token_lifetime`` can make them die
  sooner than they claim). :meth:`StandIn.expire_tokens` makes
  every issued token answer 42001; an unknown one is 40014, a missing one 41001.
* ``POST /cgi-bin/kf/sync_msg``: the queued messages of one ``open_kfid`` in order, at most
  ``min(limit, page_size)`` a page, with an opaque ``next_cursor`` and ``has_more``. A
  ``token`` must be one a callback issued (95007); an unknown account is 95000.
* ``POST /cgi-bin/kf/send_msg``: recorded in :attr:`StandIn.sent`, unless WeCom's rule refuses
  it: 95018 if the customer never wrote, 95002 more than 48 hours after their last message,
  95001 for a sixth reply since it. The stand-in's clock can be set (:attr:`StandIn.now`).
* ``GET /cgi-bin/media/get``: stored bytes with ``Content-Type`` and an attachment
  ``Content-Disposition``; an unknown media_id is 40007 as JSON.

:meth:`StandIn.callback` builds the signed, encrypted ``kf_msg_or_event`` POST WeCom sends to
us, with :class:`~models.services.chat.wecom.WeComCrypto`, so tests can play WeCom calling in.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from models.services.chat.wecom import WeComCrypto

TOKEN_LIFETIME = 7200
REPLY_WINDOW = timedelta(hours=48)
REPLIES_PER_WINDOW = 5


@dataclass(frozen=True)
class SentMessage:
    """One message ``send_msg`` accepted."""

    touser: str
    open_kfid: str
    msgtype: str
    body: dict[str, Any]
    msgid: str
    at: datetime

    @property
    def content(self) -> str | None:
        return self.body.get("content") if self.msgtype == "text" else None


@dataclass(frozen=True)
class StoredMedia:
    content: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class CallbackRequest:
    """What WeCom POSTs to the callback URL: the query parameters and the XML body."""

    params: dict[str, str]
    body: bytes
    sync_token: str


@dataclass
class _Conversation:
    last_customer_at: datetime | None = None
    sent_since: int = 0


@dataclass
class StandIn:
    """The stand-in's state, shared (under :attr:`lock`) with the server thread."""

    corp_id: str
    secret: str
    callback_token: str
    encoding_aes_key: str
    base_url: str = ""
    now: datetime | None = None  # None: the real time
    page_size: int = 1000
    token_lifetime: int = TOKEN_LIFETIME  # how long issued tokens really last (0: revoked)
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    sync_requests: list[dict[str, Any]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    _tokens: dict[str, datetime] = field(default_factory=dict)  # access token -> expiry
    _sync_tokens: set[str] = field(default_factory=set)
    _messages: list[dict[str, Any]] = field(default_factory=list)
    _cursors: dict[str, tuple[str, int]] = field(default_factory=dict)
    _accounts: set[str] = field(default_factory=set)
    _conversations: dict[tuple[str, str], _Conversation] = field(default_factory=dict)
    _media: dict[str, StoredMedia] = field(default_factory=dict)

    # ---- what a test arranges

    @property
    def crypto(self) -> WeComCrypto:
        """The callback crypto configured for this corp (what our endpoint must use too)."""
        return WeComCrypto(self.callback_token, self.encoding_aes_key, self.corp_id)

    def current_time(self) -> datetime:
        return self.now or datetime.now(UTC)

    def add_account(self, open_kfid: str) -> None:
        with self.lock:
            self._accounts.add(open_kfid)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (calls with it answer 42001)."""
        with self.lock:
            past = self.current_time() - timedelta(seconds=1)
            self._tokens = dict.fromkeys(self._tokens, past)

    def customer_wrote(self, open_kfid: str, external_userid: str, at: datetime) -> None:
        """Open (or reopen) the reply window as a customer message at ``at`` would."""
        with self.lock:
            self._accounts.add(open_kfid)
            self._conversations[(open_kfid, external_userid)] = _Conversation(at, 0)

    def queue_text(
        self, open_kfid: str, external_userid: str, content: str, *, at: datetime | None = None
    ) -> str:
        """A customer's text message, to be served by sync_msg; its msgid."""
        return self._queue(open_kfid, external_userid, "text", {"content": content}, at)

    def queue_media(
        self,
        open_kfid: str,
        external_userid: str,
        content: bytes,
        *,
        msgtype: str = "image",
        content_type: str = "image/png",
        filename: str = "photo.png",
        at: datetime | None = None,
    ) -> str:
        """A customer's image/voice/video/file message with its stored file; the media_id."""
        media_id = self.store_media(content, content_type, filename)
        self._queue(open_kfid, external_userid, msgtype, {"media_id": media_id}, at)
        return media_id

    def queue_event(
        self, open_kfid: str, external_userid: str, event_type: str, **fields: Any
    ) -> str:
        """A system event (origin 4, e.g. ``enter_session``); its msgid."""
        event = {
            "event_type": event_type,
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            **fields,
        }
        with self.lock:
            self._accounts.add(open_kfid)
            msgid = secrets.token_hex(8)
            self._messages.append(
                {
                    "msgid": msgid,
                    "send_time": int(self.current_time().timestamp()),
                    "origin": 4,
                    "msgtype": "event",
                    "event": event,
                }
            )
        return msgid

    def store_media(self, content: bytes, content_type: str, filename: str) -> str:
        media_id = "M" + secrets.token_hex(12)
        with self.lock:
            self._media[media_id] = StoredMedia(content, content_type, filename)
        return media_id

    def callback(self, open_kfid: str, *, timestamp: int | None = None) -> CallbackRequest:
        """The signed, encrypted ``kf_msg_or_event`` callback WeCom would POST now.

        Its ``Token`` is issued here, so a sync_msg carrying it is accepted.
        """
        sync_token = "ENC" + secrets.token_hex(12)
        with self.lock:
            self._sync_tokens.add(sync_token)
        stamp = str(timestamp if timestamp is not None else int(self.current_time().timestamp()))
        inner = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{sync_token}]]></Token>"
            f"<OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
        )
        nonce = secrets.token_hex(5)
        encrypted, signature = self.crypto.encrypt(inner, stamp, nonce)
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            "<AgentID><![CDATA[]]></AgentID></xml>"
        ).encode()
        params = {"msg_signature": signature, "timestamp": stamp, "nonce": nonce}
        return CallbackRequest(params=params, body=body, sync_token=sync_token)

    def url_verification(self, echo: str) -> dict[str, str]:
        """The query of WeCom's URL verification GET; the answer must be ``echo``."""
        stamp = str(int(self.current_time().timestamp()))
        nonce = secrets.token_hex(5)
        echostr, signature = self.crypto.encrypt(echo, stamp, nonce)
        return {"msg_signature": signature, "timestamp": stamp, "nonce": nonce, "echostr": echostr}

    # ---- the endpoints (called on the server thread, under the lock)

    def _queue(
        self,
        open_kfid: str,
        external_userid: str,
        msgtype: str,
        body: dict[str, Any],
        at: datetime | None,
    ) -> str:
        with self.lock:
            when = at or self.current_time()
            self._accounts.add(open_kfid)
            self._conversations[(open_kfid, external_userid)] = _Conversation(when, 0)
            msgid = secrets.token_hex(8)
            self._messages.append(
                {
                    "msgid": msgid,
                    "open_kfid": open_kfid,
                    "external_userid": external_userid,
                    "send_time": int(when.timestamp()),
                    "origin": 3,
                    "msgtype": msgtype,
                    msgtype: body,
                }
            )
        return msgid

    def _gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        self.token_requests += 1
        if query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if query.get("corpsecret") != self.secret:
            return _error(40001, "invalid credential")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.current_time() + timedelta(seconds=self.token_lifetime)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_LIFETIME}

    def _token_refusal(self, query: dict[str, str]) -> dict[str, Any] | None:
        token = query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        expires = self._tokens.get(token)
        if expires is None:
            return _error(40014, "invalid access_token")
        if expires <= self.current_time():
            return _error(42001, "access_token expired")
        return None

    def _sync_msg(self, body: dict[str, Any]) -> dict[str, Any]:
        self.sync_requests.append(body)
        token = body.get("token")
        if token is not None and token not in self._sync_tokens:
            return _error(95007, "invalid msg token")
        open_kfid = str(body.get("open_kfid", ""))
        if open_kfid not in self._accounts:
            return _error(95000, "invalid open_kfid")
        limit = body.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return _error(40035, "invalid limit")
        cursor = str(body.get("cursor") or "")
        start = 0
        if cursor:
            position = self._cursors.get(cursor)
            if position is None or position[0] != open_kfid:
                return _error(40035, "invalid cursor")
            start = position[1]
        own = [
            m
            for m in self._messages
            if (m.get("open_kfid") or m.get("event", {}).get("open_kfid")) == open_kfid
        ]
        page = own[start : start + min(limit, self.page_size)]
        end = start + len(page)
        next_cursor = secrets.token_urlsafe(9)
        self._cursors[next_cursor] = (open_kfid, end)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": next_cursor,
            "has_more": 1 if end < len(own) else 0,
            "msg_list": page,
        }

    def _send_msg(self, body: dict[str, Any]) -> dict[str, Any]:
        open_kfid = str(body.get("open_kfid", ""))
        touser = str(body.get("touser", ""))
        msgtype = str(body.get("msgtype", ""))
        if open_kfid not in self._accounts:
            return _error(95000, "invalid open_kfid")
        if msgtype not in body or not isinstance(body[msgtype], dict):
            return _error(40008, "invalid message type")
        conversation = self._conversations.get((open_kfid, touser))
        if conversation is None or conversation.last_customer_at is None:
            return _error(95018, "send msg session status invalid")
        now = self.current_time()
        if now - conversation.last_customer_at > REPLY_WINDOW:
            return _error(95002, "send msg time limit")
        if conversation.sent_since >= REPLIES_PER_WINDOW:
            return _error(95001, "send msg count limit")
        conversation.sent_since += 1
        msgid = str(body.get("msgid") or secrets.token_hex(8))
        self.sent.append(SentMessage(touser, open_kfid, msgtype, body[msgtype], msgid, now))
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    hint = base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return {"errcode": errcode, "errmsg": f"{errmsg}, hint: [{hint}], from the stand-in"}


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer_json(self, data: dict[str, Any], status: int = 200) -> None:
            payload = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body: dict[str, Any] = {}
            if method == "POST":
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._answer_json(_error(47001, "data format error"))
                    return
            with state.lock:
                state.requests.append((method, parts.path))
                if (method, parts.path) == ("GET", "/cgi-bin/gettoken"):
                    self._answer_json(state._gettoken(query))
                    return
                known = {
                    ("POST", "/cgi-bin/kf/sync_msg"),
                    ("POST", "/cgi-bin/kf/send_msg"),
                    ("GET", "/cgi-bin/media/get"),
                }
                if (method, parts.path) not in known:
                    self._answer_json(_error(404, "no such endpoint"), status=404)
                    return
                refusal = state._token_refusal(query)
                if refusal is not None:
                    self._answer_json(refusal)
                    return
                if parts.path.endswith("/sync_msg"):
                    self._answer_json(state._sync_msg(body))
                    return
                if parts.path.endswith("/send_msg"):
                    self._answer_json(state._send_msg(body))
                    return
                media = state._media.get(query.get("media_id", ""))
            if media is None:
                self._answer_json(_error(40007, "invalid media_id"))
                return
            self.send_response(200)
            self.send_header("Content-Type", media.content_type)
            self.send_header("Content-Length", str(len(media.content)))
            self.send_header(
                "Content-Disposition",
                f"attachment; filename*=UTF-8''{quote(media.filename)}",
            )
            self.end_headers()
            self.wfile.write(media.content)

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@contextlib.contextmanager
def running_wecom_standin(
    corp_id: str,
    secret: str,
    *,
    callback_token: str = "kefuCallbackToken",
    encoding_aes_key: str | None = None,
) -> Iterator[StandIn]:
    """A stand-in WeCom on a free loopback port for the duration of the block."""
    key = encoding_aes_key or base64.b64encode(secrets.token_bytes(32)).decode()[:-1]
    state = StandIn(
        corp_id=corp_id, secret=secret, callback_token=callback_token, encoding_aes_key=key
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state.base_url = f"http://{host!s}:{port}"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="wecom-standin",
        daemon=True,
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
