"""Deliveries to real servers on loopback, through the real arq worker.

A threaded HTTP server started by the test plays WeCom, DingTalk, Feishu, Slack and a generic
webhook; aiosmtpd plays the mail server. Payloads and signatures are checked the way each
vendor documents checking them; every attempt is logged on the delivery row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.db import unit_of_work
from models.enums import Urgency
from models.notification_delivery import DeliveryStatus, NotificationDelivery
from models.notification_preference import NotificationPreference
from models.services.common.actor import Actor
from models.services.common.errors import Forbidden, ValidationFailed
from models.services.notify import channels, notifications
from models.settings import get_settings, reset_settings
from tests.conftest import run_worker_burst
from tests.integration.sla.test_sla_helpers import actor, make_ticket, run_tick, ticket, user_id

pytestmark = pytest.mark.usefixtures("reference")


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 recording every request.

    ``script[path]`` is a list of (status, body) answers used in turn (the last one repeats).
    """

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = box["receiver"]
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            me.requests.append(
                Received(
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            answers = me.script.get(parts.path) or [(200, {"errcode": 0, "errmsg": "ok"})]
            status, reply = answers.pop(0) if len(answers) > 1 else answers[0]
            data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["receiver"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def loopback_allowed() -> Iterator[None]:
    """The receivers here listen on 127.0.0.1: an admin allow-lists that host, exactly as a
    deployment allow-lists an internal relay (no other loopback or private host is allowed)."""
    old = os.environ.get("KEFU_NOTIFY_ALLOW_HOSTS")
    os.environ["KEFU_NOTIFY_ALLOW_HOSTS"] = "127.0.0.1"
    reset_settings()
    yield
    if old is None:
        os.environ.pop("KEFU_NOTIFY_ALLOW_HOSTS", None)
    else:
        os.environ["KEFU_NOTIFY_ALLOW_HOSTS"] = old
    reset_settings()


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Short backoff so the worker's retries run within the test."""
    old = {
        k: os.environ.get(k) for k in ("KEFU_NOTIFY_BACKOFF_SECONDS", "KEFU_NOTIFY_MAX_ATTEMPTS")
    }
    os.environ["KEFU_NOTIFY_BACKOFF_SECONDS"] = "0.2"
    os.environ["KEFU_NOTIFY_MAX_ATTEMPTS"] = "4"
    reset_settings()
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()


async def add_channel(
    db: Any,
    who: Actor,
    channel: str,
    target: str,
    secret: str = "",
    kinds: tuple[str, ...] = (),
    scope: str = "me",
) -> int:
    async with unit_of_work(db) as session:
        pref = await notifications.add_channel(
            session,
            who,
            notifications.ChannelInput(
                channel=channel, target=target, secret=secret, kinds=kinds, scope=scope
            ),
        )
        return pref.id


async def tell(
    db: Any,
    redis: Any,
    username: str,
    *,
    kind: str = notifications.KIND_OVERDUE,
    ticket_id: int | None = None,
    number: str = "TASK202601010001",
    department_id: int | None = None,
) -> None:
    """Notify one user through the service (deliveries enqueued on commit)."""
    uid = await user_id(db, username)
    async with unit_of_work(db, redis, get_settings().event_channel) as session:
        await notifications.notify(
            session,
            kind=kind,
            user_ids=[uid],
            ticket_id=ticket_id,
            department_id=department_id,
            params={"number": number},
            message="Ticket %(number)s missed its resolution deadline. Record the reason; "
            "you may request an extension.",
        )


async def deliveries(db: Any) -> list[NotificationDelivery]:
    async with db.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(NotificationDelivery).order_by(NotificationDelivery.id)
                )
            ).all()
        )


ZH_OVERDUE = "任务 TASK202601010001 已超过解决时限"


async def test_wecom_group_robot_markdown(db: Any, redis: Any, receiver: Receiver) -> None:
    await add_channel(
        db, await actor(db, "agent"), "wecom", receiver.url("/cgi-bin/webhook/send?key=abc-123")
    )
    await tell(db, redis, "agent")
    await run_worker_burst()
    [got] = receiver.at("/cgi-bin/webhook/send")
    assert got.query["key"] == ["abc-123"]
    assert got.headers["content-type"].startswith("application/json")
    body = got.json
    assert body["msgtype"] == "markdown"
    assert set(body) == {"msgtype", "markdown"}
    assert ZH_OVERDUE in body["markdown"]["content"]
    assert "/board?q=TASK202601010001" in body["markdown"]["content"]
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.response_code) == (DeliveryStatus.SENT, 1, 200)
    assert row.target.startswith("http://127.0.0.1:") and "abc-123" not in row.target


async def test_dingtalk_robot_signed_request_verifies(
    db: Any, redis: Any, receiver: Receiver
) -> None:
    secret = "SECd0e1f2a3b4c5d6e7f8"
    await add_channel(
        db,
        await actor(db, "agent"),
        "dingtalk",
        receiver.url("/robot/send?access_token=tok"),
        secret=secret,
    )
    await tell(db, redis, "agent")
    await run_worker_burst()
    [got] = receiver.at("/robot/send")
    assert got.query["access_token"] == ["tok"]
    timestamp = got.query["timestamp"][0]
    # DingTalk's check: HmacSHA256("timestamp\nsecret") keyed by the secret, base64,
    # then urlencoded in the query (parse_qs has decoded it once already).
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert got.query["sign"] == [expected]
    # DingTalk's one-hour window, on the product's clock (the real one in production)
    assert abs(int(timestamp) / 1000 - utcnow().timestamp()) < 3600
    body = got.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith("客服")
    assert ZH_OVERDUE in body["markdown"]["text"]


async def test_dingtalk_reported_error_is_retried_then_logged(
    db: Any, redis: Any, receiver: Receiver, fast_retries: None
) -> None:
    receiver.script["/robot/send"] = [(200, {"errcode": 310000, "errmsg": "sign not match"})]
    await add_channel(
        db, await actor(db, "agent"), "dingtalk", receiver.url("/robot/send"), secret="SECwrong"
    )
    await tell(db, redis, "agent")
    await run_worker_burst()
    assert len(receiver.at("/robot/send")) == 4  # KEFU_NOTIFY_MAX_ATTEMPTS
    [row] = await deliveries(db)
    assert row.status is DeliveryStatus.FAILED and row.attempts == 4
    assert row.last_error is not None and "310000" in row.last_error


async def test_feishu_bot_signed_text(db: Any, redis: Any, receiver: Receiver) -> None:
    secret = "feishu-secret"
    receiver.script["/open-apis/bot/v2/hook/x"] = [(200, {"code": 0, "msg": "success"})]
    await add_channel(
        db,
        await actor(db, "agent"),
        "feishu",
        receiver.url("/open-apis/bot/v2/hook/x"),
        secret=secret,
    )
    await tell(db, redis, "agent")
    await run_worker_burst()
    [got] = receiver.at("/open-apis/bot/v2/hook/x")
    body = got.json
    assert body["msg_type"] == "text"
    assert ZH_OVERDUE in body["content"]["text"]
    # Feishu's check: HmacSHA256 keyed by "timestamp\nsecret" over an empty message, base64.
    key = f"{body['timestamp']}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    [row] = await deliveries(db)
    assert row.status is DeliveryStatus.SENT


async def test_slack_incoming_webhook(db: Any, redis: Any, receiver: Receiver) -> None:
    receiver.script["/services/T0/B0/xyz"] = [(200, "ok")]
    await add_channel(db, await actor(db, "agent"), "slack", receiver.url("/services/T0/B0/xyz"))
    await tell(db, redis, "agent")
    await run_worker_burst()
    [got] = receiver.at("/services/T0/B0/xyz")
    assert set(got.json) == {"text"}
    assert ZH_OVERDUE in got.json["text"]
    assert "|TASK202601010001>" in got.json["text"]  # Slack's <url|label> link


async def test_generic_webhook_is_signed_json(
    db: Any, redis: Any, receiver: Receiver, reference: dict[str, int]
) -> None:
    await add_channel(
        db, await actor(db, "agent"), "webhook", receiver.url("/hooks/kefu"), secret="s3cret"
    )
    tid = await make_ticket(db, reference, assignee="agent")
    number = (await ticket(db, tid)).number
    await tell(db, redis, "agent", ticket_id=tid, number=number)
    await run_worker_burst()
    [got] = receiver.at("/hooks/kefu")
    expected = "sha256=" + hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-kefu-signature"] == expected
    body = got.json
    assert body["event"] == "notification" and body["kind"] == notifications.KIND_OVERDUE
    assert body["ticket"] == number and body["params"] == {"number": number}
    assert number in body["text"] and body["url"].endswith(f"/board?q={number}")


async def test_receiver_failing_twice_is_retried_with_backoff_then_succeeds(
    db: Any, redis: Any, receiver: Receiver, fast_retries: None
) -> None:
    receiver.script["/flaky"] = [(503, {"error": "busy"}), (500, "oops"), (200, "ok")]
    await add_channel(db, await actor(db, "agent"), "webhook", receiver.url("/flaky"))
    await tell(db, redis, "agent")
    await run_worker_burst()
    attempts = receiver.at("/flaky")
    assert len(attempts) == 3
    assert attempts[0].body == attempts[1].body == attempts[2].body  # the same message
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.response_code) == (DeliveryStatus.SENT, 3, 200)
    assert row.last_error is None and row.sent_at is not None


async def test_each_attempt_is_logged_and_waits_twice_as_long(
    db: Any, receiver: Receiver, fast_retries: None
) -> None:
    receiver.script["/down"] = [(502, "bad gateway"), (429, "slow down"), (404, "gone")]
    await add_channel(db, await actor(db, "agent"), "webhook", receiver.url("/down"))
    await tell(db, None, "agent")
    [row] = await deliveries(db)
    now = utcnow()
    waits = []
    for step in range(3):
        async with unit_of_work(db) as session:
            outcome = await notifications.deliver(
                session, row.id, now=now + timedelta(seconds=step)
            )
        waits.append(outcome.retry_in)
        logged = (await deliveries(db))[0]
        assert logged.attempts == step + 1
        assert logged.last_attempt_at == now + timedelta(seconds=step)
        if outcome.retry_in is not None:
            assert logged.status is DeliveryStatus.RETRYING
            assert logged.next_attempt_at == logged.last_attempt_at + timedelta(
                seconds=outcome.retry_in
            )
    assert waits == [0.2, 0.4, None]  # 502, 429 retried; a 404 is permanent
    final = (await deliveries(db))[0]
    assert final.status is DeliveryStatus.FAILED and final.response_code == 404
    assert "404" in (final.last_error or "")
    # A failed (or sent) delivery is never attempted again.
    async with unit_of_work(db) as session:
        again = await notifications.deliver(session, row.id)
    assert again.status is DeliveryStatus.FAILED and len(receiver.at("/down")) == 3


async def test_department_robot_hears_an_event_once_and_kinds_filter(
    db: Any, redis: Any, receiver: Receiver, reference: dict[str, int]
) -> None:
    lead = await actor(db, "lead")
    await add_channel(db, lead, "wecom", receiver.url("/dept"), scope=str(reference["SUPPORT"]))
    await add_channel(
        db,
        await actor(db, "agent"),
        "webhook",
        receiver.url("/agent-escalations"),
        kinds=(notifications.KIND_ESCALATION,),
    )
    await add_channel(db, await actor(db, "agent.emma"), "slack", receiver.url("/emma"))
    tid = await make_ticket(db, reference, assignee="agent", urgency=Urgency.URGENT)
    reminder = (await ticket(db, tid)).reminder_due
    assert reminder is not None
    # The tick tells agent, emma and lead. (It runs without Redis here, so that the triage
    # sweep it also does cannot start a classifier in the worker; the delivery sweep then
    # enqueues the deliveries whose jobs were never sent.)
    await run_tick(db, reminder + timedelta(minutes=1))
    async with unit_of_work(db, redis, get_settings().event_channel) as session:
        assert (
            await notifications.requeue_lost_deliveries(session, utcnow() + timedelta(minutes=3))
            == 2
        )
    await run_worker_burst()
    assert len(receiver.at("/dept")) == 1  # the group robot: once for the event
    assert len(receiver.at("/emma")) == 1
    assert receiver.at("/agent-escalations") == []  # agent only wants escalations
    assert "紧急任务" in receiver.at("/dept")[0].json["markdown"]["content"]


async def test_channel_rules(db: Any, reference: dict[str, int]) -> None:
    agent = await actor(db, "agent")
    with pytest.raises(ValidationFailed) as bad_url:
        await add_channel(db, agent, "wecom", "ftp://example.com/hook")
    assert "target" in bad_url.value.fields
    with pytest.raises(ValidationFailed):
        await add_channel(db, agent, "carrier-pigeon", "http://127.0.0.1/x")
    with pytest.raises(ValidationFailed):
        await add_channel(db, agent, "email", "not-an-address")
    with pytest.raises(ValidationFailed):
        await add_channel(db, agent, "webhook", "http://127.0.0.1/x", kinds=("gossip",))
    # Agents manage only their own channels; a lead only their own department's.
    with pytest.raises(Forbidden):
        await add_channel(db, agent, "wecom", "http://127.0.0.1/x", scope=str(reference["SUPPORT"]))
    with pytest.raises(Forbidden):
        await add_channel(
            db, await actor(db, "lead"), "wecom", "http://127.0.0.1/x", scope=str(reference["TECH"])
        )
    await add_channel(
        db, await actor(db, "admin"), "wecom", "http://127.0.0.1/x", scope=str(reference["TECH"])
    )
    # Secrets and URLs are stored encrypted; only a masked hint is readable.
    pid = await add_channel(
        db, agent, "dingtalk", "http://127.0.0.1/robot/send?access_token=T0K", secret="SECabc"
    )
    async with db.sessionmaker() as session:
        pref = await session.get(NotificationPreference, pid)
    assert pref is not None
    assert "T0K" not in (pref.target_enc or "") and "SECabc" not in (pref.secret_enc or "")
    assert "T0K" not in pref.target_hint


# --- email ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[list[Any]]:
    """aiosmtpd on 127.0.0.1; KEFU_SMTP_* point at it for the test."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 Message accepted for delivery"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: os.environ.get(k) for k in ("KEFU_SMTP_HOST", "KEFU_SMTP_PORT", "KEFU_SMTP_FROM")}
    os.environ.update(
        KEFU_SMTP_HOST="127.0.0.1", KEFU_SMTP_PORT=str(port), KEFU_SMTP_FROM="kefu@example.com"
    )
    reset_settings()
    yield received
    controller.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()


async def test_email_through_a_local_smtp_server(
    db: Any, redis: Any, smtp_server: list[Any]
) -> None:
    await add_channel(db, await actor(db, "agent"), "email", "wang.xiaoming@example.com")
    await tell(db, redis, "agent")
    await run_worker_burst()
    [envelope] = smtp_server
    assert envelope.mail_from == "kefu@example.com"
    assert envelope.rcpt_tos == ["wang.xiaoming@example.com"]
    message = message_from_bytes(envelope.content)
    assert str(make_header(decode_header(message["Subject"]))).startswith("客服")
    text = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    assert ZH_OVERDUE in text
    [row] = await deliveries(db)
    assert (row.status, row.response_code) == (DeliveryStatus.SENT, 250)
    assert row.target == "w***@example.com"


async def test_email_in_the_readers_language(db: Any, redis: Any, smtp_server: list[Any]) -> None:
    from models.services.admin import users

    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:
        await users.set_locale(session, agent.user_id or 0, "en")
    await add_channel(db, agent, "email", "agent@example.com")
    await tell(db, redis, "agent")
    await run_worker_burst()
    [envelope] = smtp_server
    text = message_from_bytes(envelope.content).get_payload(decode=True).decode()
    assert "Ticket TASK202601010001 missed its resolution deadline" in text


async def test_email_without_smtp_is_logged_as_failed(db: Any, redis: Any) -> None:
    os.environ.pop("KEFU_SMTP_HOST", None)
    reset_settings()
    await add_channel(db, await actor(db, "agent"), "email", "agent@example.com")
    await tell(db, redis, "agent")
    await run_worker_burst()
    [row] = await deliveries(db)
    assert row.status is DeliveryStatus.FAILED and "SMTP" in (row.last_error or "")


def test_unquote_helper_matches_dingtalk_encoding() -> None:
    """The sign in the URL is the urlencoded base64 (``+``, ``/`` and ``=`` escaped)."""
    sign = channels.dingtalk_sign("SECx", 1700000000000)
    assert "+" not in sign and "/" not in sign and "=" not in sign
    assert len(base64.b64decode(unquote(sign))) == 32
