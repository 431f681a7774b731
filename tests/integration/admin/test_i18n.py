"""Both languages render; the choice comes from the cookie, then Accept-Language."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")


async def test_chinese_is_the_default(client: Any) -> None:
    page = await client.get("/login")
    assert '<html lang="zh-CN">' in page.text
    assert "登录客服系统" in page.text


async def test_accept_language_english(client: Any) -> None:
    page = await client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in page.text
    assert "Sign in to Kefu" in page.text


async def test_switching_language_sticks_for_the_user(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/kb")
    assert ">看板</a>" in page.text and ">知识库</a>" in page.text
    await client.post(
        "/lang",
        data={"locale": "en", "next": "/kb", "_csrf_token": client.cookies.get("kefu_csrf")},
    )
    page = await client.get("/kb")
    assert ">Board</a>" in page.text and ">Knowledge base</a>" in page.text
    assert "看板" not in page.text
    # The choice is stored on the user: a new browser signing in gets English too.
    client.cookies.clear()
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/kb")
    assert ">Knowledge base</a>" in page.text


async def test_every_ui_string_has_a_chinese_translation() -> None:
    from web.locale.extract import missing

    gaps = missing()
    assert gaps == {}, "untranslated: " + "; ".join(f"{k} ({v})" for k, v in gaps.items())
