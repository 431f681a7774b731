"""Staff accounts: admins manage them, everyone changes their own password, 2FA sign-in.

Real database (both backends), real Redis sessions, the real app; TOTP codes are computed here
from the secret the enrolment page shows, as an authenticator app would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.services.admin import twofactor
from models.user import User
from tests.conftest import csrf_token, sign_in

pytestmark = pytest.mark.usefixtures("reference")

REPO = Path(__file__).parents[3]


async def _user(db: Any, username: str) -> User:
    async with db.sessionmaker() as s:
        user = await s.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


async def _post(client: Any, path: str, data: dict[str, str], **kw: Any) -> Any:
    token = client.cookies.get("kefu_csrf") or await csrf_token(client)
    return await client.post(path, data={**data, "_csrf_token": token}, **kw)


@asynccontextmanager
async def another_browser(client: Any) -> AsyncIterator[Any]:
    """The same app seen from a second browser (its own cookies), then back to the first."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved


async def _login(client: Any, username: str, password: str) -> Any:
    """The sign-in form's answer itself (refusals included), not where it leads."""
    token = await csrf_token(client)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": "/board", "_csrf_token": token},
        follow_redirects=False,
    )


def _field_error(html: str, field: str) -> str:
    marker = f'data-field="{field}">'
    assert marker in html, f"no inline error on {field}"
    return html.split(marker, 1)[1].split("<", 1)[0].strip()


# --- admins manage staff ------------------------------------------------------------------


async def test_admin_creates_edits_deactivates_and_reactivates_a_user(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    created = await _post(
        client,
        "/admin/users",
        {
            "username": "li.na",
            "display_name": "李娜",
            "password": "tea-garden-42",
            "role": "agent",
            "email": "Li.Na@Example.com",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = await client.get("/admin/users")
    assert page.status_code == 200 and 'data-user="li.na"' in page.text and "李娜" in page.text
    user = await _user(db, "li.na")
    assert user.email == "li.na@example.com" and user.is_active

    edited = await _post(
        client,
        f"/admin/users/{user.id}",
        {"display_name": "李娜 (lead)", "role": "lead", "department_id": "", "email": "x@y.cn"},
    )
    assert edited.status_code == 200 and "已保存" in edited.text
    user = await _user(db, "li.na")
    assert (user.display_name, user.role.value, user.email) == ("李娜 (lead)", "lead", "x@y.cn")

    gone = await _post(client, f"/admin/users/{user.id}/deactivate", {})
    assert gone.status_code == 200 and "已停用" in gone.text
    assert not (await _user(db, "li.na")).is_active
    # History is kept: the row and its audit trail stay.
    async with db.sessionmaker() as s:
        actions = set(
            (
                await s.scalars(
                    select(AuditEvent.action).where(
                        AuditEvent.entity_type == "user", AuditEvent.entity_id == user.id
                    )
                )
            ).all()
        )
    assert {"create", "update", "deactivate"} <= actions

    async with another_browser(client) as other:
        refused = await _login(other, "li.na", "tea-garden-42")
        assert refused.status_code == 401
    back = await _post(client, f"/admin/users/{user.id}/activate", {})
    assert back.status_code == 200 and (await _user(db, "li.na")).is_active
    async with another_browser(client) as other:
        ok = await _login(other, "li.na", "tea-garden-42")
        assert ok.status_code in (302, 303)
        assert (await other.get("/board")).status_code == 200


async def test_invalid_edit_is_shown_inline_and_nothing_changes(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    agent = await _user(db, "agent")
    response = await _post(
        client,
        f"/admin/users/{agent.id}",
        {"display_name": "", "role": "agent", "department_id": "", "email": "not-an-email"},
    )
    assert response.status_code == 422
    assert _field_error(response.text, "email") == "请输入有效的邮箱地址。"
    assert _field_error(response.text, "display_name") == "请输入 1–100 个字符。"
    assert (await _user(db, "agent")).display_name == agent.display_name


async def test_a_deactivated_user_is_bounced_at_the_next_request(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/board")).status_code == 200
    async with another_browser(client) as admin:
        await sign_in(admin, "admin", "kefu-admin")
        target = await _user(db, "agent")
        assert (await _post(admin, f"/admin/users/{target.id}/deactivate", {})).status_code == 200
    agent = client  # the first browser, still holding the agent's session
    page = await agent.get("/board", follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"].startswith("/login")
    htmx = await agent.get("/board", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers.get("hx-redirect") == "/login"
    # The stale session does not loop between /login and /board: the form is shown.
    login = await agent.get("/login", follow_redirects=False)
    assert login.status_code == 200 and 'name="password"' in login.text


async def test_admins_cannot_deactivate_themselves(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    me = await _user(db, "admin")
    response = await _post(client, f"/admin/users/{me.id}/deactivate", {})
    assert response.status_code == 403
    assert "不能停用自己的账号" in response.text
    english = await _post(
        client, f"/admin/users/{me.id}/deactivate", {}, headers={"Accept-Language": "en"}
    )
    assert english.status_code == 403
    assert "You cannot deactivate your own account." in english.text
    assert (await _user(db, "admin")).is_active


async def test_reset_for_an_unknown_user_is_a_404(client: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    response = await _post(client, "/admin/users/999999/reset-password", {})
    assert response.status_code == 404
    assert (await client.get("/admin/users/999999")).status_code == 404


async def test_only_admins_manage_staff(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    agent = await _user(db, "agent")
    assert (await client.get("/admin/users")).status_code == 403
    assert (await _post(client, f"/admin/users/{agent.id}/deactivate", {})).status_code == 403
    assert (await _user(db, "agent")).is_active


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "zh", "en"),
    [
        ("12345678", "至少使用 10 个字符", "Use at least 10 characters."),
        ("          ", "至少使用 4 个不同的字符", "Use at least 4 different characters."),
        ("xWang.Fei-2026", "密码不能包含用户名", "The password must not contain the username."),
        ("1qaz2wsx3edc", "该密码过于常见", "This password is too common; choose another."),
    ],
)
async def test_weak_passwords_are_refused_inline_in_chinese_and_english(
    client: Any, db: Any, password: str, zh: str, en: str
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    form = {"username": "WANG.fei", "password": password, "role": "agent"}
    response = await _post(client, "/admin/users", form)
    assert response.status_code == 422
    assert zh in _field_error(response.text, "password")
    english = await _post(client, "/admin/users", form, headers={"Accept-Language": "en"})
    assert english.status_code == 422
    assert _field_error(english.text, "password") == en
    async with db.sessionmaker() as s:
        assert await s.scalar(select(User.id).where(User.username == "WANG.fei")) is None


async def test_everyone_changes_their_own_password(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/account")
    assert page.status_code == 200 and "修改密码" in page.text

    wrong = await _post(
        client,
        "/account/password",
        {"current": "nope", "new": "river-stone-88", "confirm": "river-stone-88"},
    )
    assert wrong.status_code == 422
    assert _field_error(wrong.text, "current") == "当前密码不正确。"
    mismatch = await _post(
        client,
        "/account/password",
        {"current": "kefu-agent", "new": "river-stone-88", "confirm": "river-stone-89"},
        headers={"Accept-Language": "en"},
    )
    assert _field_error(mismatch.text, "confirm") == "The two passwords differ."
    weak = await _post(
        client,
        "/account/password",
        {"current": "kefu-agent", "new": "password123", "confirm": "password123"},
    )
    assert weak.status_code == 422 and "过于常见" in _field_error(weak.text, "new")

    done = await _post(
        client,
        "/account/password",
        {"current": "kefu-agent", "new": "river-stone-88", "confirm": "river-stone-88"},
    )
    assert done.status_code == 200 and "密码已修改" in done.text
    async with another_browser(client) as fresh:
        assert (await _login(fresh, "agent", "kefu-agent")).status_code == 401
        assert (await _login(fresh, "agent", "river-stone-88")).status_code in (302, 303)


async def test_admin_reset_gives_a_temporary_password_that_must_be_changed(
    client: Any, db: Any
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    agent = await _user(db, "agent")
    reset = await _post(client, f"/admin/users/{agent.id}/reset-password", {})
    assert reset.status_code == 200
    temporary = reset.text.split('data-testid="temporary-password"', 1)[0].rsplit('value="', 1)[1]
    temporary = temporary.split('"', 1)[0]
    assert len(temporary) >= 16
    page = await client.get(f"/admin/users/{agent.id}")
    assert temporary not in page.text, "a temporary password is shown only once"

    async with another_browser(client) as user:
        assert (await _login(user, "agent", "kefu-agent")).status_code == 401
        await sign_in(user, "agent", temporary)
        # Nothing else until the password is changed.
        board = await user.get("/board", follow_redirects=False)
        assert board.status_code in (302, 303) and board.headers["location"] == "/account/password"
        htmx = await user.get("/tickets/1", headers={"HX-Request": "true"}, follow_redirects=False)
        assert htmx.headers.get("hx-redirect") == "/account/password"
        form = await user.get("/account/password")
        assert 'data-testid="must-change"' in form.text
        changed = await _post(
            user,
            "/account/password",
            {"current": temporary, "new": "maple-syrup-17", "confirm": "maple-syrup-17"},
            follow_redirects=False,
        )
        assert changed.status_code == 303 and changed.headers["location"] == "/board"
        assert (await user.get("/board")).status_code == 200
    assert not (await _user(db, "agent")).must_change_password


# --- two-factor sign-in ---------------------------------------------------------------------


async def _enrol(client: Any) -> tuple[str, list[str]]:
    """Turn 2FA on through the pages; returns the secret and the recovery codes."""
    page = await client.get("/account/2fa")
    assert page.status_code == 200 and "<svg" in page.text, "the QR code is drawn inline"
    secret = page.text.split('data-testid="totp-secret">', 1)[1].split("<", 1)[0].strip()
    wrong = await _post(client, "/account/2fa", {"code": "000000"})
    assert wrong.status_code == 422
    assert "验证码不正确" in _field_error(wrong.text, "code")
    done = await _post(client, "/account/2fa", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "两步验证登录已开启" in done.text
    block = done.text.split('data-testid="recovery-codes">', 1)[1].split("</ul>", 1)[0]
    codes = [part.split("</li>", 1)[0].strip() for part in block.split("<li>")[1:]]
    assert len(codes) == twofactor.RECOVERY_CODES
    return secret, codes


def _next_code(secret: str) -> str:
    """The code of the next 30-second step (the current one was spent on enrolment)."""
    return pyotp.TOTP(secret).at(time.time() + twofactor.STEP_SECONDS)


async def test_totp_enrolment_then_sign_in_with_a_code(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    secret, _ = await _enrol(client)
    stored = await _user(db, "lead")
    assert stored.totp_enabled and stored.totp_secret_enc
    assert secret not in stored.totp_secret_enc, "the secret is encrypted at rest"

    async with another_browser(client) as fresh:
        step = await _login(fresh, "lead", "kefu-lead")
        assert step.headers["location"] == "/login/code"
        # The password alone signs nobody in (and leaving the code step abandons it).
        assert (await fresh.get("/board", follow_redirects=False)).status_code == 302
        assert (await _login(fresh, "lead", "kefu-lead")).headers["location"] == "/login/code"
        wrong = await _post(fresh, "/login/code", {"code": "123456"})
        assert wrong.status_code == 401 and "验证码不正确" in wrong.text
        # The same code is replayed below: computed once, so that a 30-second step ending in
        # between (a slow run) cannot turn the replay into a different, unused code.
        code = _next_code(secret)
        ok = await _post(fresh, "/login/code", {"code": code}, follow_redirects=False)
        assert ok.status_code in (302, 303) and ok.headers["location"] == "/board"
        assert (await fresh.get("/board")).status_code == 200

    async with another_browser(client) as replay:
        await sign_in(replay, "lead", "kefu-lead")
        again = await _post(replay, "/login/code", {"code": code})
        assert again.status_code == 401, "a code is accepted once"


async def test_a_recovery_code_works_once(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    _, codes = await _enrol(client)
    for attempt, expected in ((1, (302, 303)), (2, (401,))):
        async with another_browser(client) as fresh:
            await sign_in(fresh, "agent", "kefu-agent")
            used = await _post(fresh, "/login/code", {"code": codes[0]}, follow_redirects=False)
            assert used.status_code in expected, f"attempt {attempt}: {used.status_code}"
    assert len((await _user(db, "agent")).recovery_codes or []) == twofactor.RECOVERY_CODES - 1


async def test_wrong_codes_send_the_sign_in_back_to_the_password(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    await _enrol(client)
    async with another_browser(client) as fresh:
        await sign_in(fresh, "agent", "kefu-agent")
        for _ in range(twofactor.MAX_ATTEMPTS - 1):
            assert (await _post(fresh, "/login/code", {"code": "000000"})).status_code == 401
        last = await _post(fresh, "/login/code", {"code": "000000"}, follow_redirects=False)
        assert last.headers["location"] == "/login"
        assert (await fresh.get("/login/code", follow_redirects=False)).headers[
            "location"
        ] == "/login"


async def test_require_2fa_for_admins_sends_them_to_enrolment_first(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    saved = await _post(client, "/admin/security", {"require_admin_2fa": "on"})
    assert saved.status_code == 200 and "checked" in saved.text

    board = await client.get("/board", follow_redirects=False)
    assert board.status_code in (302, 303) and board.headers["location"] == "/account/2fa"
    assert (await client.get("/admin/users", follow_redirects=False)).headers[
        "location"
    ] == "/account/2fa"
    page = await client.get("/account/2fa")
    assert 'data-testid="2fa-required"' in page.text

    async with another_browser(client) as agent:
        await sign_in(agent, "agent", "kefu-agent")
        assert (await agent.get("/board")).status_code == 200, "only admins are required"

    await _enrol(client)
    assert (await client.get("/board")).status_code == 200
    # While required, an admin cannot turn it off.
    refused = await _post(client, "/account/2fa/disable", {"password": "kefu-admin"})
    assert refused.status_code == 403
    assert (await _user(db, "admin")).totp_enabled


# --- demo install and the command line ------------------------------------------------------


async def test_demo_logins_are_shown_only_on_a_demo_install_and_until_changed(
    client: Any, db: Any
) -> None:
    page = await client.get("/login")
    assert 'data-testid="demo-logins"' in page.text and "kefu-admin" in page.text
    assert "演示" in page.text

    await sign_in(client, "agent", "kefu-agent")
    await _post(
        client,
        "/account/password",
        {"current": "kefu-agent", "new": "river-stone-88", "confirm": "river-stone-88"},
    )
    client.cookies.clear()
    page = await client.get("/login")
    assert "kefu-admin" in page.text and "kefu-agent" not in page.text

    from models.site_setting import SiteSetting

    async with db.sessionmaker() as s:
        row = await s.scalar(select(SiteSetting))
        assert row is not None
        row.is_demo = False
        await s.commit()
    page = await client.get("/login")
    assert 'data-testid="demo-logins"' not in page.text and "kefu-admin" not in page.text


async def _kefu(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", "user", *args],
        input=stdin,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO),
    )


async def test_kefu_user_passwd_deactivate_and_activate(client: Any, db: Any) -> None:
    weak = await _kefu("passwd", "lead", "--password-stdin", stdin="kefu-lead\n")
    assert weak.returncode != 0 and "Use at least 10 characters." in weak.stderr

    done = await _kefu("passwd", "lead", "--password-stdin", stdin="harbour-lights-9\n")
    assert done.returncode == 0, done.stderr
    assert (await _login(client, "lead", "kefu-lead")).status_code == 401
    assert (await _login(client, "lead", "harbour-lights-9")).status_code in (302, 303)

    missing = await _kefu("passwd", "nobody", "--password-stdin", stdin="harbour-lights-9\n")
    assert missing.returncode != 0 and "User not found." in missing.stderr

    off = await _kefu("deactivate", "lead")
    assert off.returncode == 0, off.stderr
    assert not (await _user(db, "lead")).is_active
    assert (await client.get("/board", follow_redirects=False)).status_code == 302
    on = await _kefu("activate", "lead")
    assert on.returncode == 0, on.stderr
    assert (await _user(db, "lead")).is_active


async def test_totp_secrets_follow_a_key_rotation(
    client: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets are counted by `kefu keys status` and rewritten by rotation, so pruning the old
    key never locks anyone out."""
    from models.services.common.crypto import generate_key
    from models.services.customers import registry
    from models.settings import get_settings, reset_settings

    await sign_in(client, "agent", "kefu-agent")
    secret, _ = await _enrol(client)
    old = get_settings().encryption_keys[0]
    new = generate_key()
    monkeypatch.setenv("KEFU_ENCRYPTION_KEY", f"{new},{old}")
    reset_settings()
    try:
        async with db.sessionmaker() as s:
            usage = await registry.key_usage(s)
            assert usage.counts.get(usage.ring[1]) == 1, "the secret is under the old key"
            assert await twofactor.reencrypt_secrets(s) == 1
            await s.commit()
            assert await twofactor.reencrypt_secrets(s) == 0
        monkeypatch.setenv("KEFU_ENCRYPTION_KEY", new)  # the old key pruned
        reset_settings()
        assert twofactor.secret_of(await _user(db, "agent")) == secret
    finally:
        monkeypatch.setenv("KEFU_ENCRYPTION_KEY", old)
        reset_settings()
