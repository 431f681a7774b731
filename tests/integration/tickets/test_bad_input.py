"""Bad input is a clear, localized 4xx on both databases, never a 500, and stores nothing:
NUL characters, ids beyond the database's integers, unreadable multipart forms, JSON nested
without end, impossible dates, a user in a department that does not exist."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import func, select

from models.db import unit_of_work
from models.followup import FollowUp
from models.services.admin import api_keys
from models.services.common.actor import Actor
from models.ticket import Ticket
from models.user import User
from tests.conftest import csrf_token, sign_in
from tests.integration.tickets.test_portal_flow import inquiry, portal_form

pytestmark = pytest.mark.usefixtures("reference")

OVERFLOWS = ["2147483648", "9223372036854775808", "99999999999999999999999"]


def hx(client: Any) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("kefu_csrf", "")}


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def a_ticket(client: Any) -> int:
    """A ticket made through the portal; returns its id."""
    form = await portal_form(client)
    response = await client.post("/portal", data={**form, **inquiry()}, follow_redirects=False)
    assert response.status_code in (302, 303), response.text[:300]
    return 1


# --- NUL characters -------------------------------------------------------------------------


async def test_nul_in_the_anonymous_portal_is_a_localized_400(client: Any, db: Any) -> None:
    form = await portal_form(client)
    response = await client.post(
        "/portal",
        content=f"_csrf_token={form['_csrf_token']}&form_key={form['form_key']}"
        "&name=Lin&phone=13800138000&description=abc%00def",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "NUL" in response.text and "不允许" in response.text
    assert await count(db, Ticket) == 0


async def test_nul_in_staff_forms_and_the_api(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    await client.get("/intake")
    intake = await client.post(
        "/intake",
        data={"name": "Lin", "phone": "13800138000", "description": "a\x00b"},
        headers=hx(client),
    )
    assert intake.status_code == 400
    search = await client.get("/board?q=%00")
    assert search.status_code == 400 and "NUL" in search.text
    async with unit_of_work(db) as s:
        _, raw = await api_keys.create(s, Actor.system("cli"), "nul")
    api = await client.post(
        "/api/v1/inquiries",
        content=json.dumps({"email": "a@example.com", "description": "x\u0000y"}),
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
    )
    assert api.status_code == 400 and api.json()["status"] == 400 and "NUL" in api.json()["error"]
    assert await count(db, Ticket) == 0


async def test_nul_in_the_path_is_not_found(client: Any) -> None:
    response = await client.get("/static/js/board.js%00.png")
    assert response.status_code == 404


# --- integers beyond the database -----------------------------------------------------------


def _int_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) with an integer path parameter, the parameter left as {}."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or ":int}" not in route.path:
            continue
        path = re.sub(r"\{\w+:int\}", "{}", re.sub(r"\{token:str\}", "sometoken", route.path))
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


async def test_every_integer_path_parameter_beyond_the_database_is_4xx(
    client: Any, app: Any
) -> None:
    routes = _int_routes(app)
    assert len(routes) >= 19
    await sign_in(client, "admin", "kefu-admin")
    for method, path in routes:
        for big in OVERFLOWS:
            url = path.replace("{}", big)
            response = await client.request(method, url, headers=hx(client), data={"x": "1"})
            assert 400 <= response.status_code < 500, (method, url, response.status_code)


async def test_anonymous_routes_with_huge_ids(client: Any, db: Any) -> None:
    response = await client.get("/portal/t/sometoken/attachments/2147483648")
    assert response.status_code == 404
    form = await portal_form(client)
    solved = await client.post(
        "/portal/solved",
        data={"_csrf_token": form["_csrf_token"], "article_id": "2147483648", "description": "x"},
    )
    assert solved.status_code < 500
    assert await count(db, Ticket) == 0


@pytest.mark.parametrize(
    "url",
    [
        "/review?offset=2147483648",
        "/board?department=2147483648",
        "/board/columns/pending?offset=9223372036854775808",
        "/customers?offset=99999999999999999999",
        "/reports?department=2147483648",
        "/exports/tickets.csv?department=2147483648",
        "/exports/tickets.csv?department=%C2%B2",
    ],
)
async def test_huge_query_numbers_are_4xx_or_ignored(client: Any, url: str) -> None:
    await sign_in(client, "admin", "kefu-admin")
    response = await client.get(url)
    assert response.status_code < 500, (url, response.status_code)
    if url.startswith("/exports"):  # refused before the download starts, not cut mid-stream
        assert response.status_code in (400, 422)


# --- forms that cannot be read ----------------------------------------------------------------


def _multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "kefuBoundary7d"
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


async def test_multipart_with_invalid_utf8_or_a_nameless_file_is_400(client: Any, db: Any) -> None:
    form = await portal_form(client)
    csrf = f'Content-Disposition: form-data; name="_csrf_token"\r\n\r\n{form["_csrf_token"]}'
    text = b'Content-Disposition: form-data; name="description"\r\n\r\n'
    for bad in (
        text + b"\xff\xfe invalid",
        b'Content-Disposition: form-data; name="files"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\x00\x00\xff",
    ):
        body, ctype = _multipart(
            [
                csrf.encode(),
                b'Content-Disposition: form-data; name="phone"\r\n\r\n13800138000',
                bad,
            ]
        )
        response = await client.post(
            "/portal", content=body, headers={"Content-Type": ctype}, follow_redirects=False
        )
        assert response.status_code == 400, response.text[:300]
        assert "UTF-8" in response.text
    assert await count(db, Ticket) == 0


# --- JSON nested without end ------------------------------------------------------------------


async def test_deeply_nested_json_is_400_with_or_without_a_key(client: Any, db: Any) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    async with unit_of_work(db) as s:
        _, raw = await api_keys.create(s, Actor.system("cli"), "deep")
    for headers in ({}, {"Authorization": f"Bearer {raw}"}):
        response = await client.post(
            "/api/v1/inquiries",
            content='{"description": ' + deep + "}",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500
        assert response.json()["status"] == response.status_code
    assert await count(db, Ticket) == 0


# --- values the database cannot take ----------------------------------------------------------


async def test_follow_up_due_in_year_one_is_a_422(client: Any, db: Any) -> None:
    await a_ticket(client)
    async with db.sessionmaker() as s:
        ticket_id = (await s.scalars(select(Ticket.id))).one()
    await sign_in(client, "admin", "kefu-admin")
    await client.get(f"/tickets/{ticket_id}")
    response = await client.post(
        f"/tickets/{ticket_id}/follow-ups",
        data={"method": "phone", "discussed": "called", "next_due_at": "0001-01-01T00:00"},
        headers={**hx(client), "HX-Request": "true"},
    )
    assert response.status_code == 422
    assert await count(db, FollowUp) == 0


async def test_a_user_in_a_department_that_does_not_exist_is_a_422(client: Any, db: Any) -> None:
    before = await count(db, User)
    await sign_in(client, "admin", "kefu-admin")
    token = await csrf_token(client, "/admin")
    for department in ("999999", "2147483648"):
        response = await client.post(
            "/admin/users",
            data={
                "_csrf_token": token,
                "username": f"ghost{department[-2:]}",
                "password": "long-enough-1",
                "role": "agent",
                "department_id": department,
            },
            follow_redirects=False,
        )
        assert response.status_code == 422, response.text[:300]
    assert await count(db, User) == before


@pytest.mark.parametrize(
    ("language", "label"), [("zh-CN", "沟通内容"), ("en", "What was discussed")]
)
async def test_a_field_error_names_the_field_in_the_persons_language(
    client: Any, db: Any, language: str, label: str
) -> None:
    await a_ticket(client)
    async with db.sessionmaker() as s:
        ticket_id = (await s.scalars(select(Ticket.id))).one()
    await sign_in(client, "admin", "kefu-admin")
    await client.get(f"/tickets/{ticket_id}")
    response = await client.post(
        f"/tickets/{ticket_id}/follow-ups",
        data={"method": "phone", "discussed": "  "},
        headers={**hx(client), "HX-Request": "true", "Accept-Language": language},
    )
    assert response.status_code == 422
    assert f"<strong>{label}</strong>" in response.text
    assert "<strong>discussed</strong>" not in response.text, "the field's code name is shown"
    assert await count(db, FollowUp) == 0
