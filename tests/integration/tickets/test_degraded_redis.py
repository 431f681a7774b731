"""With Redis unreachable the app degrades instead of failing: inquiries are stored and
answered, staff stay signed in and work the board, /health says what is missing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.tickets.test_api_inquiries import count, new_key, payload
from tests.integration.tickets.test_board_helpers import make_ticket, status_of, version_of
from tests.integration.tickets.test_board_moves import post_move
from tests.integration.tickets.test_portal_flow import portal_form, submit
from tests.integration.tickets.test_portal_protection import dead_redis

pytestmark = pytest.mark.usefixtures("reference")


async def test_health_is_ok_with_redis_then_degraded_naming_it(client: Any, app: Any) -> None:
    ok = await client.get("/health")
    assert (ok.status_code, ok.json()) == (200, {"status": "ok"})
    healthy = app.state.redis
    app.state.redis = dead_redis()
    try:
        degraded = await client.get("/health")
    finally:
        await app.state.redis.aclose()
        app.state.redis = healthy
    assert degraded.status_code == 200
    assert degraded.json() == {"status": "degraded", "database": "ok", "redis": "down"}


async def test_inquiries_and_staff_work_while_redis_is_down(
    app: Any, client: Any, db: Any, reference: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    ticket_id = await make_ticket(db, reference)
    _, key = await new_key(db)
    await sign_in(client, "agent", "kefu-agent")
    form = await portal_form(client)
    healthy = app.state.redis
    app.state.redis = dead_redis()
    try:
        with caplog.at_level(logging.WARNING):
            api = await client.post("/api/v1/inquiries", json=payload(), headers={"X-API-Key": key})
            portal = await submit(client, form, description="快递一直显示派送中，但没有收到")
            board = await client.get("/board")
            moved = await post_move(
                client, ticket_id, "in_progress", await version_of(db, ticket_id)
            )
            events = await client.get("/board/events")
    finally:
        await app.state.redis.aclose()
        app.state.redis = healthy
    assert api.status_code == 201 and api.json()["number"]
    assert portal.status_code == 303
    assert await count(db, Ticket) == 3, "both inquiries are stored"
    assert board.status_code == 200, "staff stay signed in without Redis"
    assert moved.status_code == 200
    assert await status_of(db, ticket_id) == "in_progress"
    assert events.status_code == 200  # the stream ends at once; the browser retries later
    assert "could not enqueue triage_ticket" in caplog.text
    assert "could not publish ticket.moved" in caplog.text
