"""Staff sessions in the database: no fixation, rotation, sign-out, revocation, deactivation;
anonymous visitors create nothing on the server; a Redis flush signs nobody out."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio.to_thread
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from models.db import unit_of_work
from models.enums import Role
from models.services.admin import sessions, users
from models.user import User
from models.user_session import UserSession
from tests.conftest import CLAIM_KEY, clear_redis, csrf_token, sign_in
from tests.integration.tickets.test_portal_flow import portal_form, submit

pytestmark = pytest.mark.usefixtures("reference")

CHOSEN = "a" * 64


async def session_rows(db: Any, user_id: int | None = None) -> int:
    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(UserSession)
        if user_id is not None:
            stmt = stmt.where(UserSession.user_id == user_id)
        return int(await s.scalar(stmt) or 0)


async def user_id(db: Any, username: str) -> int:
    async with db.sessionmaker() as s:
        found = await s.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return int(found)


async def signed_in(client: Any) -> bool:
    response = await client.get("/board", follow_redirects=False)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def with_cookie(client: Any, token: str) -> None:
    client.cookies.delete("kefu_session")
    client.cookies.set("kefu_session", token, domain="testserver.local")


async def test_a_client_chosen_session_id_is_never_adopted(client: Any, db: Any) -> None:
    with_cookie(client, CHOSEN)
    assert not await signed_in(client)
    await sign_in(client, "agent", "kefu-agent")
    issued = client.cookies.get("kefu_session")
    assert issued and issued != CHOSEN
    assert await signed_in(client)
    with_cookie(client, CHOSEN)  # the attacker's copy of the id they planted signs nobody in
    assert not await signed_in(client)
    assert await session_rows(db) == 1


async def test_the_id_is_rotated_at_every_sign_in(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    first = client.cookies.get("kefu_session")
    await sign_in(client, "agent", "kefu-agent")
    second = client.cookies.get("kefu_session")
    assert first and second and first != second
    assert await signed_in(client)
    with_cookie(client, first)
    assert not await signed_in(client), "the session signed in over is ended"
    assert await session_rows(db) == 1


async def test_only_a_digest_of_the_token_is_stored(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    token = client.cookies.get("kefu_session")
    async with db.sessionmaker() as s:
        ids = list((await s.scalars(select(UserSession.id))).all())
    assert ids == [sessions.digest(token)] and token not in ids


async def test_sign_out_ends_the_session_on_the_server(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    token = client.cookies.get("kefu_session")
    await client.post("/logout", data={"_csrf_token": client.cookies.get("kefu_csrf")})
    with_cookie(client, token)  # a copy kept from before signing out
    assert not await signed_in(client)


async def test_a_role_change_rotates_the_id(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    before = client.cookies.get("kefu_session")
    assert (await client.get("/reports", follow_redirects=False)).status_code == 403
    async with unit_of_work(db) as s:
        await s.execute(update(User).where(User.username == "agent").values(role=Role.LEAD))
    assert (await client.get("/reports")).status_code == 200
    after = client.cookies.get("kefu_session")
    assert after and after != before
    with_cookie(client, before)
    assert not await signed_in(client)
    with_cookie(client, after)
    assert await signed_in(client)


async def test_revoking_a_users_sessions_signs_out_every_browser(client: Any, db: Any) -> None:
    tokens = {}
    for browser, (username, password) in enumerate(
        [("agent", "kefu-agent"), ("agent", "kefu-agent"), ("lead", "kefu-lead")]
    ):
        client.cookies.delete("kefu_session")  # another browser: no session of its own yet
        await sign_in(client, username, password)
        tokens[browser] = client.cookies.get("kefu_session")
    agent = await user_id(db, "agent")
    assert await session_rows(db, agent) == 2
    async with unit_of_work(db) as s:
        assert await sessions.revoke_user_sessions(s, agent) == 2
    for browser, still in [(0, False), (1, False), (2, True)]:
        with_cookie(client, tokens[browser])
        assert await signed_in(client) is still, browser


async def test_a_deactivated_user_is_refused_on_the_next_request(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    async with unit_of_work(db) as s:
        await s.execute(update(User).where(User.username == "agent").values(is_active=False))
    assert not await signed_in(client)


async def test_anonymous_visitors_create_no_session(client: Any, db: Any, redis: Any) -> None:
    for path in ("/portal", "/login", "/health", "/portal/suggest?description=物流"):
        assert (await client.get(path)).status_code == 200, path
    response = await submit(client, await portal_form(client), description="包裹丢了，请帮忙查")
    assert response.status_code == 303
    await client.get(response.headers["location"])
    assert "kefu_session" not in client.cookies
    assert await session_rows(db) == 0
    keys = [k.decode() async for k in redis.scan_iter(match="*session*")]
    assert keys == []


async def test_staff_stay_signed_in_when_redis_comes_back_empty(client: Any, redis: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    await clear_redis(redis)
    assert await redis.dbsize() <= 1  # only the test run's claim on its index is left
    assert await redis.exists(CLAIM_KEY)
    assert await signed_in(client)


async def test_csrf_still_guards_anonymous_forms(client: Any) -> None:
    await csrf_token(client, "/portal")
    refused = await client.post("/login", data={"username": "agent", "password": "kefu-agent"})
    assert refused.status_code == 403
    assert not await signed_in(client)


async def test_password_checks_run_off_the_event_loop(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one password is being checked (argon2 is slow by design), the event loop is
    free: here it goes on to release the check itself, which a blocked loop never could."""
    entered, release = threading.Event(), threading.Event()
    verify = PasswordHasher.verify

    def held_verify(self: PasswordHasher, hashed: str, password: str) -> bool:
        entered.set()
        assert release.wait(30), "the event loop was blocked by the password check"
        return verify(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", held_verify)
    async with db.sessionmaker() as s:
        check = asyncio.create_task(users.authenticate(s, "agent", "kefu-agent"))
        assert await anyio.to_thread.run_sync(entered.wait, 30)
        assert not check.done()
        release.set()
        user = await check
    assert user is not None and user.username == "agent"
