"""Live updates: a real HTTP server streams what another app instance publishes via Redis.

The stream is served by uvicorn (a streaming response needs a real server), the move is made
through a second app instance (another "web process"): the event travels through Redis
pub/sub, exactly as between processes in production.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from models.enums import TicketStatus
from models.settings import get_settings
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import htmx, make_ticket, version_of
from web.app import create_app
from web.views.events import sse_messages

pytestmark = pytest.mark.usefixtures("reference")

HANG_GUARD = 20  # seconds; a guard against hanging, not a speed assertion


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def live_server(db: Any, redis: Any) -> AsyncIterator[str]:
    """The real app behind uvicorn on a free local port."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(get_settings()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, HANG_GUARD)


async def _signed_in(base: str, username: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=HANG_GUARD)
    page = await client.get("/login")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "next": "/board", "_csrf_token": token},
    )
    assert response.status_code in (302, 303)
    return client


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a server-sent-events response."""
    name, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


async def _until(events: AsyncIterator[tuple[str, str]], wanted: str) -> str:
    async with asyncio.timeout(HANG_GUARD):
        async for name, data in events:
            if name == wanted:
                return data
    raise AssertionError(f"the stream ended before {wanted}")


async def test_a_move_in_one_process_reaches_a_board_in_another(
    live_server: str, client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    watcher = await _signed_in(live_server, "lead", "kefu-lead")
    try:
        async with watcher.stream("GET", "/board/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _events(stream)
            await _until(events, "ready")  # subscribed

            await sign_in(client, "agent", "kefu-agent")  # the other process
            moved = await client.post(
                "/board/move",
                data={
                    "ticket_id": ticket_id,
                    "version": await version_of(db, ticket_id),
                    "status": "in_progress",
                },
                headers=htmx(client.cookies.get("kefu_csrf")),
            )
            assert moved.status_code == 200

            source = json.loads(await _until(events, "column-pending"))
            assert source["ticket_id"] == ticket_id
            target = json.loads(await _until(events, "column-in_progress"))
            assert target == {
                "type": "ticket.moved",
                "ticket_id": ticket_id,
                "status": "in_progress",
                "source": "pending",
                "version": await version_of(db, ticket_id),
            }

            # An edit re-reads just the card.
            edited = await client.post(
                f"/tickets/{ticket_id}/priority",
                data={"priority": "urgent", "version": await version_of(db, ticket_id)},
                headers=htmx(client.cookies.get("kefu_csrf")),
            )
            assert edited.status_code == 200, edited.text
            card = json.loads(await _until(events, f"card-{ticket_id}"))
            assert card["type"] == "ticket.updated"
    finally:
        await watcher.aclose()


async def test_notifications_reach_only_their_addressee(
    live_server: str, redis: Any, db: Any
) -> None:
    channel = get_settings().event_channel
    watcher = await _signed_in(live_server, "agent", "kefu-agent")
    try:
        async with watcher.stream("GET", "/board/events") as stream:
            events = _events(stream)
            await _until(events, "ready")
            await redis.publish(
                channel, json.dumps({"type": "notification", "user_id": -1, "text": "not for you"})
            )
            await redis.publish(channel, "not json at all")
            await redis.publish(
                channel,
                json.dumps({"type": "notification", "user_id": None, "text": "for everyone"}),
            )
            data = json.loads(await _until(events, "notification"))
            assert data["text"] == "for everyone"
    finally:
        await watcher.aclose()


async def test_the_stream_needs_a_signed_in_person(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=HANG_GUARD) as anonymous:
        response = await anonymous.get("/board/events", follow_redirects=False)
        assert response.status_code in (302, 303)


def test_event_names_for_the_board() -> None:
    from models.services.common.actor import Actor

    me = Actor(user_id=7, label="me")
    moved = {
        "type": "ticket.moved",
        "ticket_id": 3,
        "status": "completed",
        "source": "awaiting_confirmation",
    }
    assert [n for n, _ in sse_messages(moved, me)] == [
        "column-awaiting_confirmation",
        "column-completed",
    ]
    created = {"type": "ticket.created", "ticket_id": 4, "status": "pending"}
    assert [n for n, _ in sse_messages(created, me)] == ["column-pending"]
    triaged = {"type": "ticket.triaged", "ticket_id": 5}
    assert [n for n, _ in sse_messages(triaged, me)] == ["card-5"]
    assert sse_messages({"type": "notification", "user_id": 8}, me) == []
    assert [n for n, _ in sse_messages({"type": "notification", "user_id": 7}, me)] == [
        "notification"
    ]
    assert sse_messages({"type": "ticket.moved", "status": "bogus", "source": None}, me) == []
    assert TicketStatus.PENDING.value == "pending"
