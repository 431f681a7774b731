"""Malformed admin input gets a localized message and the right status; nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.user import User
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")


async def _users(db: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(User)) or 0)


@pytest.mark.parametrize(
    "form",
    [
        {"username": "", "password": "long-enough-1", "role": "agent"},
        {"username": "ok.name", "password": "short", "role": "agent"},
        {"username": "ok.name", "password": "long-enough-1", "role": "overlord"},
        {"username": "名字", "password": "long-enough-1", "role": "agent"},
    ],
)
async def test_invalid_user_form_is_refused_in_chinese(
    client: Any, db: Any, form: dict[str, str]
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    before = await _users(db)
    response = await client.post(
        "/admin/users", data={**form, "_csrf_token": client.cookies.get("kefu_csrf")}
    )
    assert response.status_code == 422
    assert "请修改标出的字段" in response.text
    assert await _users(db) == before


async def test_duplicate_username_is_a_conflict(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    before = await _users(db)
    response = await client.post(
        "/admin/users",
        data={
            "username": "LEAD",
            "password": "long-enough-1",
            "role": "agent",
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
    )
    assert response.status_code == 409
    assert "已被占用" in response.text
    assert await _users(db) == before


async def test_english_error_for_english_readers(client: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    response = await client.post(
        "/admin/users",
        data={
            "username": "",
            "password": "x",
            "role": "agent",
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "Please correct the highlighted fields." in response.text
