"""Webhook targets cannot reach inside: no loopback, private, link-local or metadata address,
https only (http for a host an admin allow-listed), checked again on the resolved address at
send time; what a person sees of a failed delivery tells nothing about what answered.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from models.db import unit_of_work
from models.notification_delivery import DeliveryStatus, NotificationDelivery
from models.notification_preference import DeliveryChannel, NotificationPreference
from models.services.common.errors import ValidationFailed
from models.services.notify import channels, notifications
from models.settings import DeliverySettings, get_settings, reset_settings
from tests.conftest import run_worker_burst, sign_in
from tests.integration.sla.test_sla_helpers import actor

pytestmark = pytest.mark.usefixtures("reference")


def _set_allow_list(value: str | None) -> Iterator[None]:
    """The admin allow-list (and a single attempt per delivery, so the worker's burst ends)."""
    env = {"KEFU_NOTIFY_ALLOW_HOSTS": value, "KEFU_NOTIFY_MAX_ATTEMPTS": "1"}
    old = {k: os.environ.get(k) for k in env}
    for key, new in env.items():
        if new is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = new
    reset_settings()
    yield
    for key, previous in old.items():
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous
    reset_settings()


@pytest.fixture
def no_allow_list() -> Iterator[None]:
    yield from _set_allow_list(None)


@pytest.fixture
def loopback_allowed() -> Iterator[None]:
    yield from _set_allow_list("127.0.0.1")


class Listener:
    """A bare TCP listener on loopback counting the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    box = Listener()
    yield box
    box.close()


def _loopback_name() -> str:
    """A host name (not an IP literal, not "localhost") this machine resolves to loopback."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("the host name does not resolve")
    if channels.public_address(address):
        pytest.skip("the host name resolves to a public address here")
    return name


REFUSED = [
    "http://127.0.0.1:8199/x",
    "http://127.0.0.1:6379/",
    "https://127.0.0.1:6379/",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://192.168.1.1/hook",
    "https://172.16.0.5/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://2130706433/hook",
    "http://example.com/hook",  # plain http to a host no admin allow-listed
    "https://user:pw@example.com/hook",
]


@pytest.mark.parametrize("target", REFUSED)
async def test_agent_cannot_add_an_internal_or_plain_http_target(
    db: Any, no_allow_list: None, target: str
) -> None:
    agent = await actor(db, "agent")
    with pytest.raises(ValidationFailed) as refused:
        async with unit_of_work(db) as session:
            await notifications.add_channel(
                session, agent, notifications.ChannelInput(channel="webhook", target=target)
            )
    assert "target" in refused.value.fields
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(NotificationPreference)) == 0


async def test_a_name_resolving_to_loopback_is_refused_when_added(
    db: Any, no_allow_list: None
) -> None:
    name = _loopback_name()
    with pytest.raises(ValidationFailed):
        async with unit_of_work(db) as session:
            await notifications.add_channel(
                session,
                await actor(db, "lead"),
                notifications.ChannelInput(channel="wecom", target=f"https://{name}:8199/x"),
            )


async def test_the_web_form_refuses_loopback_with_a_localized_422(
    client: Any, db: Any, no_allow_list: None
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    await client.get("/notifications/channels")
    response = await client.post(
        "/notifications/channels",
        headers={"HX-Request": "true", "x-csrftoken": client.cookies.get("kefu_csrf", "")},
        data={"channel": "webhook", "target": "http://127.0.0.1:8199/x", "scope": "me"},
    )
    assert response.status_code == 422
    assert "https://" in response.text and "公网" in response.text
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(NotificationPreference)) == 0


async def test_send_time_check_refuses_a_name_that_now_resolves_inside(
    listener: Listener, no_allow_list: None
) -> None:
    """DNS rebinding: whatever was checked when the channel was added, the address is
    resolved and checked again before connecting, and nothing reaches the listener."""
    name = _loopback_name()
    message = channels.Message(title="t", text="x")
    for scheme in ("https", "http"):
        attempt = await channels.send(
            DeliveryChannel.WEBHOOK,
            f"{scheme}://{name}:{listener.port}/x",
            message,
            None,
            get_settings().smtp,
            get_settings().delivery,
        )
        assert not attempt.ok and not attempt.retry
        assert attempt.error is not None and attempt.error.startswith("refused")
    assert listener.accepted == 0


async def test_allow_listed_host_does_not_open_other_loopback_names(
    listener: Listener, loopback_allowed: None
) -> None:
    name = _loopback_name()
    attempt = await channels.send(
        DeliveryChannel.WEBHOOK,
        f"http://{name}:{listener.port}/x",
        channels.Message(title="t", text="x"),
        None,
        get_settings().smtp,
        get_settings().delivery,
    )
    assert not attempt.ok and listener.accepted == 0


async def test_public_name_is_connected_at_the_checked_address() -> None:
    """The request goes to the resolved address, with the name as Host and TLS server name."""
    settings = DeliverySettings()
    url, headers, extensions = await channels.pinned("https://93.184.215.14:8443/x?k=1", settings)
    assert url == "https://93.184.215.14:8443/x?k=1"
    assert headers == {"Host": "93.184.215.14:8443"}
    assert extensions == {"sni_hostname": "93.184.215.14"}


async def test_failed_delivery_is_coarse_for_the_agent_detailed_for_the_admin(
    client: Any, db: Any, redis: Any, listener: Listener, loopback_allowed: None
) -> None:
    """The listener drops every connection: the agent sees "could not deliver", never the
    error or the response; an admin sees the detail."""
    agent = await actor(db, "agent")
    async with unit_of_work(db) as session:
        pref = await notifications.add_channel(
            session,
            agent,
            notifications.ChannelInput(
                channel="webhook", target=f"http://127.0.0.1:{listener.port}/x"
            ),
        )
    async with unit_of_work(db, redis) as session:
        await notifications.send_test(session, agent, pref.id)
    await run_worker_burst()
    async with db.sessionmaker() as session:
        row = (await session.scalars(select(NotificationDelivery))).one()
    assert row.status is DeliveryStatus.FAILED
    assert row.last_error and listener.accepted >= 1
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/notifications/channels")
    assert page.status_code == 200 and "无法送达" in page.text
    assert row.last_error.split(":")[0] not in page.text
    admin = await actor(db, "admin")
    async with db.sessionmaker() as session:
        view = await notifications.channels_view(session, admin)
        mine = await notifications.channels_view(session, agent)
    assert view.show_details and not mine.show_details
