"""Two-factor sign-in over the database sessions: the half-done sign-in is a pending row that
signs nobody in, outlives a Redis flush and works from another web process; a right code
rotates it to a full session; wrong codes count toward the sign-in throttle. Deactivation and
an admin's password reset end the user's sessions."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from models.services.admin import sessions, twofactor
from models.settings import get_settings
from models.sign_in_failure import SignInFailure
from models.user import User
from models.user_session import UserSession
from tests.conftest import clear_redis, csrf_token, sign_in
from tests.integration.admin.test_accounts import _enrol, _login, _next_code, _post
from tests.integration.admin.test_sessions import signed_in, user_id, with_cookie
from web.app import create_app

pytestmark = pytest.mark.usefixtures("reference")


async def _row(db: Any, token: str | None) -> UserSession | None:
    assert token
    async with db.sessionmaker() as s:
        return await s.get(UserSession, sessions.digest(token))


async def _rows(db: Any, user: int) -> int:
    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(UserSession).where(UserSession.user_id == user)
        return int(await s.scalar(stmt) or 0)


async def _enrolled(client: Any, username: str, password: str) -> str:
    """Turn 2FA on for ``username``; the secret. The client is left signed out."""
    await sign_in(client, username, password)
    secret, _ = await _enrol(client)
    client.cookies = httpx.Cookies()
    return secret


async def test_the_password_step_is_a_pending_row_that_signs_nobody_in(
    client: Any, db: Any, redis: Any
) -> None:
    secret = await _enrolled(client, "lead", "kefu-lead")
    step = await _login(client, "lead", "kefu-lead")
    assert step.status_code in (302, 303) and step.headers["location"] == "/login/code"
    pending = client.cookies.get("kefu_session")
    row = await _row(db, pending)
    assert row is not None and row.pending_2fa
    assert not await signed_in(client)
    assert (await client.get("/account", follow_redirects=False)).status_code == 302

    # Redis comes back empty, and the code is typed into another web process.
    await clear_redis(redis)
    other = create_app(get_settings())
    async with AsyncTestClient(app=other, base_url="http://testserver.local") as second:
        second.cookies = httpx.Cookies(client.cookies)
        assert (await second.get("/login/code")).status_code == 200
        token = await csrf_token(second, "/login/code")
        ok = await second.post(
            "/login/code",
            data={"code": _next_code(secret), "_csrf_token": token},
            follow_redirects=False,
        )
        assert ok.status_code in (302, 303) and ok.headers["location"] == "/board"
        full = second.cookies.get("kefu_session")
        assert full and full != pending, "the code step rotates the session id"
        assert await signed_in(second)
    assert await _row(db, pending) is None
    full_row = await _row(db, full)
    assert full_row is not None and not full_row.pending_2fa
    with_cookie(client, pending)  # the pending token is worth nothing now
    assert not await signed_in(client)
    assert (await client.get("/login/code", follow_redirects=False)).headers["location"] == "/login"


async def test_wrong_codes_count_toward_the_throttle(client: Any, db: Any) -> None:
    secret = await _enrolled(client, "agent", "kefu-agent")
    limit = get_settings().sign_in_max_failures
    wrong = 0
    while wrong < limit:
        assert (await _login(client, "agent", "kefu-agent")).headers["location"] == "/login/code"
        for _ in range(min(twofactor.MAX_ATTEMPTS, limit - wrong)):
            answer = await _post(client, "/login/code", {"code": "000000"}, follow_redirects=False)
            wrong += 1
            assert answer.status_code in (302, 401), answer.status_code
    async with db.sessionmaker() as s:
        counted = await s.scalar(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.scope == "ip")
        )
    assert counted == limit, "each wrong code counted for the address too"
    # The account is throttled now: the right password, then the right code, are refused.
    refused = await _login(client, "agent", "kefu-agent")
    assert refused.status_code == 429 and "请在 15 分钟后再试" in refused.text
    assert not await signed_in(client)
    # A pending sign-in started before the limit was reached is throttled at the code step.
    async with db.sessionmaker() as s:
        user = await s.get(User, await user_id(db, "agent"))
        assert user is not None
        token = await sessions.start_pending(s, user, next_path="/board")
        await s.commit()
    with_cookie(client, token)
    late = await _post(client, "/login/code", {"code": pyotp.TOTP(secret).now()})
    assert late.status_code == 429 and "请在 15 分钟后再试" in late.text
    assert not await signed_in(client)


async def test_deactivation_ends_every_session_of_the_user(client: Any, db: Any) -> None:
    agent = await user_id(db, "agent")
    await sign_in(client, "agent", "kefu-agent")
    agent_token = client.cookies.get("kefu_session")
    client.cookies = httpx.Cookies()
    await sign_in(client, "agent", "kefu-agent")
    client.cookies = httpx.Cookies()
    assert await _rows(db, agent) == 2
    await sign_in(client, "admin", "kefu-admin")
    gone = await _post(client, f"/admin/users/{agent}/deactivate", {})
    assert gone.status_code == 200
    assert await _rows(db, agent) == 0
    with_cookie(client, agent_token)
    assert not await signed_in(client)


async def test_an_admin_reset_ends_the_users_sessions_but_not_the_admins(
    client: Any, db: Any
) -> None:
    agent, admin = await user_id(db, "agent"), await user_id(db, "admin")
    await sign_in(client, "agent", "kefu-agent")
    agent_token = client.cookies.get("kefu_session")
    client.cookies = httpx.Cookies()
    await sign_in(client, "admin", "kefu-admin")
    admin_token = client.cookies.get("kefu_session")
    reset = await _post(client, f"/admin/users/{agent}/reset-password", {})
    assert reset.status_code == 200
    assert await _rows(db, agent) == 0
    assert await signed_in(client)

    # An admin resetting their own password keeps this session (and must change it next).
    client.cookies = httpx.Cookies()
    await sign_in(client, "admin", "kefu-admin")
    own_token = client.cookies.get("kefu_session")
    own = await _post(client, f"/admin/users/{admin}/reset-password", {})
    assert own.status_code == 200
    assert await _rows(db, admin) == 1
    assert await _row(db, admin_token) is None and await _row(db, own_token) is not None
    board = await client.get("/board", follow_redirects=False)
    assert board.status_code in (302, 303) and board.headers["location"] == "/account/password"
    with_cookie(client, agent_token)
    assert not await signed_in(client)
