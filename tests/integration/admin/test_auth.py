"""Sign-in, sessions, CSRF and the role guard of every route group."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import csrf_token, sign_in

pytestmark = pytest.mark.usefixtures("reference")

# (path, roles allowed); every other signed-in role gets 403, anonymous users the login page.
ROUTE_GROUPS = [
    ("/board", {"admin", "lead", "agent"}),
    ("/customers", {"admin", "lead", "agent"}),
    ("/kb", {"admin", "lead", "agent"}),
    ("/board/matrix", {"admin", "lead", "agent"}),
    ("/intake", {"admin", "lead", "agent"}),
    ("/notifications", {"admin", "lead", "agent"}),
    ("/reports", {"admin", "lead"}),
    ("/reports/kpi", {"admin", "lead"}),
    ("/review", {"admin", "lead"}),
    ("/models", {"admin", "lead"}),
    ("/sla/extensions", {"admin", "lead"}),
    ("/exports/tickets.csv", {"admin", "lead"}),
    ("/admin", {"admin"}),
    ("/admin/sla", {"admin"}),
]
ACCOUNTS = {"admin": "kefu-admin", "lead": "kefu-lead", "agent": "kefu-agent"}


@pytest.mark.parametrize("role", ["admin", "lead", "agent"])
async def test_every_role_on_every_route_group(client: Any, role: str) -> None:
    await sign_in(client, role, ACCOUNTS[role])
    for path, allowed in ROUTE_GROUPS:
        response = await client.get(path)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, path, response.status_code)


async def test_anonymous_is_sent_to_login(client: Any) -> None:
    for path, _ in ROUTE_GROUPS:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303), path
        assert response.headers["location"].startswith("/login?next=")


async def test_failed_login_says_the_same_whether_or_not_the_user_exists(client: Any) -> None:
    token = await csrf_token(client)
    wrong_password = await client.post(
        "/login", data={"username": "lead", "password": "nope-nope", "_csrf_token": token}
    )
    no_such_user = await client.post(
        "/login", data={"username": "nobody", "password": "nope-nope", "_csrf_token": token}
    )
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert "用户名或密码错误" in wrong_password.text
    assert "用户名或密码错误" in no_such_user.text
    assert (await client.get("/board", follow_redirects=False)).status_code == 302


async def test_session_cookie_is_httponly_and_samesite(client: Any) -> None:
    response = await sign_in(client, "agent", "kefu-agent")
    cookie = next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith("kefu_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie


async def test_post_without_csrf_token_is_refused(client: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    response = await client.post(
        "/admin/users", data={"username": "mallory", "password": "long-enough-1", "role": "admin"}
    )
    assert response.status_code == 403
    token = client.cookies.get("kefu_csrf")
    ok = await client.post(
        "/admin/users",
        data={
            "username": "mallory",
            "password": "long-enough-1",
            "role": "agent",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code in (302, 303)


async def test_logout_ends_the_session(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/board")).status_code == 200
    await client.post("/logout", data={"_csrf_token": client.cookies.get("kefu_csrf")})
    assert (await client.get("/board", follow_redirects=False)).status_code == 302


async def test_open_redirect_is_refused(client: Any) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={
            "username": "agent",
            "password": "kefu-agent",
            "next": "//evil.example/x",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/board"
