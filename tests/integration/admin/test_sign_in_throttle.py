"""Sign-in throttling per account name and per client address, counted in the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models.base import utcnow
from models.services.admin import sign_in
from models.settings import get_settings
from models.sign_in_failure import SignInFailure
from models.user_session import UserSession
from tests.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("reference")

ZH = "登录失败次数过多，请在 15 分钟后再试。"
EN = "Too many failed sign-in attempts. Please try again in 15 minutes."


async def attempt(client: Any, username: str, password: str, **headers: str) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


async def rows(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_wrong_passwords_then_429_even_for_the_right_one(client: Any, db: Any) -> None:
    limit = get_settings().sign_in_max_failures
    for _ in range(limit):
        assert (await attempt(client, "lead", "wrong-password")).status_code == 401
    refused = await attempt(client, "lead", "kefu-lead")  # the right password, too late
    assert refused.status_code == 429
    assert ZH in refused.text
    assert int(refused.headers["retry-after"]) > 14 * 60
    assert "kefu_session" not in refused.headers.get("set-cookie", "")
    assert await rows(db, UserSession) == 0
    english = await attempt(client, "LEAD ", "kefu-lead", **{"Accept-Language": "en"})
    assert english.status_code == 429 and EN in english.text


async def test_unknown_accounts_get_the_same_answers(client: Any) -> None:
    limit = get_settings().sign_in_max_failures
    answers = {}
    for username in ("agent", "no-such-person"):
        statuses = [(await attempt(client, username, "wrong")).status_code for _ in range(limit)]
        final = await attempt(client, username, "wrong")
        answers[username] = (statuses, final.status_code, ZH in final.text)
    assert answers["agent"] == answers["no-such-person"] == ([401] * limit, 429, True)


async def test_one_account_being_guessed_does_not_lock_the_others(client: Any) -> None:
    for _ in range(get_settings().sign_in_max_failures):
        await attempt(client, "lead", "wrong")
    assert (await attempt(client, "agent", "kefu-agent")).status_code in (302, 303)


async def test_one_address_trying_many_names_is_throttled(client: Any) -> None:
    limit = get_settings().sign_in_max_failures_ip
    for n in range(limit):
        assert (await attempt(client, f"guess-{n}", "wrong")).status_code == 401
    refused = await attempt(client, "agent", "kefu-agent")
    assert refused.status_code == 429 and ZH in refused.text


async def test_a_success_clears_the_accounts_failures(client: Any, db: Any) -> None:
    limit = get_settings().sign_in_max_failures
    for _ in range(limit - 1):
        await attempt(client, "agent", "wrong")
    assert (await attempt(client, "agent", "kefu-agent")).status_code in (302, 303)
    client.cookies.delete("kefu_session")
    for _ in range(limit - 1):
        assert (await attempt(client, "agent", "wrong")).status_code == 401


async def test_the_window_slides(db: Any) -> None:
    settings = get_settings()
    now = utcnow()
    async with db.sessionmaker() as s:
        for _ in range(settings.sign_in_max_failures):
            await sign_in.record_failure(s, "lead", "198.51.100.9", now=now)
        await s.commit()
        wait = await sign_in.seconds_to_wait(s, "lead", "203.0.113.1", now=now)
        assert wait == settings.sign_in_window_minutes * 60
        later = now + timedelta(minutes=settings.sign_in_window_minutes, seconds=1)
        assert await sign_in.seconds_to_wait(s, "lead", "203.0.113.1", now=later) == 0
        # Old failures are deleted as new ones arrive.
        await sign_in.record_failure(s, "other", "203.0.113.1", now=later)
        await s.commit()
    assert await rows(db, SignInFailure) == 2


async def test_a_throttled_answer_waits_holding_no_database_connection(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.views import auth

    waits: list[tuple[float, int]] = []

    async def noted_wait(seconds: float) -> None:
        waits.append((seconds, app.state.db.engine.pool.checkedout()))

    monkeypatch.setattr(auth, "_wait", noted_wait)
    for _ in range(get_settings().sign_in_max_failures):
        assert (await attempt(client, "agent", "wrong-password")).status_code == 401
    assert waits == [], "a plain wrong password is not slowed down"
    refused = await attempt(client, "agent", "wrong-password")
    assert refused.status_code == 429
    assert waits == [(auth.THROTTLED_ANSWER_SECONDS, 0)]
