"""Portal abuse protection and resilience: the per-IP rate limit, failing open without Redis."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select

from models.services.common import ratelimit
from models.settings import reset_settings
from models.ticket import Ticket
from tests.integration.tickets.test_portal_flow import portal_form, submit

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
def limit_of_three(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_PORTAL_RATE_LIMIT", "3")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def dead_redis() -> ArqRedis:
    """A client for a port nothing listens on: every command fails to connect."""
    return ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)


async def tickets_in(db: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)


@pytest.mark.usefixtures("limit_of_three")
async def test_fourth_submission_from_one_ip_gets_429(client: Any, db: Any) -> None:
    for n in range(3):
        response = await submit(
            client, await portal_form(client), description=f"第 {n + 1} 个问题：物流信息不更新"
        )
        assert response.status_code == 303
    refused = await submit(client, await portal_form(client), description="第四个问题")
    assert refused.status_code == 429
    assert "请求过于频繁" in refused.text
    assert await tickets_in(db) == 3
    english = await client.post(
        "/portal",
        data={**await portal_form(client)},
        headers={"Accept-Language": "en", "HX-Request": "true"},
    )
    assert english.status_code == 429
    assert "Too many requests" in english.text
    assert english.headers["hx-retarget"] == "#flash"


@pytest.mark.usefixtures("limit_of_three")
async def test_the_limit_is_per_client_address(redis: Any) -> None:
    for _ in range(3):
        assert await ratelimit.hit(redis, "portal-submit", "203.0.113.7", 3)
    assert not await ratelimit.hit(redis, "portal-submit", "203.0.113.7", 3)
    assert await ratelimit.hit(redis, "portal-submit", "198.51.100.4", 3)
    with pytest.raises(ratelimit.RateLimited):
        await ratelimit.check(redis, "portal-submit", "203.0.113.7", 3)


async def test_the_window_ends(redis: Any) -> None:
    now = 1_800_000_000.0
    assert await ratelimit.hit(redis, "b", "ip", 1, window=600, now=now)
    assert not await ratelimit.hit(redis, "b", "ip", 1, window=600, now=now + 1)
    assert await ratelimit.hit(redis, "b", "ip", 1, window=600, now=now + 600)
    ttl = await redis.ttl(f"{ratelimit.KEY_PREFIX}:b:ip:{int(now // 600)}")
    assert 0 < ttl <= 605, "counters expire with their window"


async def test_rate_limiter_fails_open_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    redis = dead_redis()
    with caplog.at_level(logging.WARNING, logger="models.services.common.ratelimit"):
        allowed = [await ratelimit.hit(redis, "portal-submit", "1.2.3.4", 1) for _ in range(3)]
    await redis.aclose()
    assert allowed == [True, True, True]
    assert "rate limiter unavailable" in caplog.text


async def test_portal_accepts_inquiries_while_redis_is_down(
    app: Any, client: Any, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    form = await portal_form(client)
    healthy = app.state.redis
    app.state.redis = dead_redis()
    try:
        with caplog.at_level(logging.WARNING):
            response = await submit(client, form)
    finally:
        await app.state.redis.aclose()
        app.state.redis = healthy
    assert response.status_code == 303
    assert await tickets_in(db) == 1, "the database is the truth"
    assert "could not enqueue triage_ticket" in caplog.text
    token = response.headers["location"].split("/portal/t/")[1].split("?")[0]
    assert (await client.get(f"/portal/t/{token}")).status_code == 200
