"""Answers while the visitor types, and "this solved it" (a deflection: counted, no ticket)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.article import Article
from models.db import unit_of_work
from models.enums import ArticleStatus
from models.services.demo import seed
from models.services.knowledge import kb
from models.suggestion import Deflection
from models.ticket import Ticket
from tests.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
async def articles(db: Any) -> dict[str, int]:
    """The seed knowledge base, published; external id → row id."""
    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
    async with db.sessionmaker() as s:
        return dict((await s.execute(select(Article.external_id, Article.id))).all())


async def test_suggestions_match_the_question_in_its_language(
    db: Any, articles: dict[str, int]
) -> None:
    async with db.sessionmaker() as s:
        zh = await kb.suggest_for_portal(s, "我想申请退货退款，怎么操作？", "zh_CN", 3)
        en = await kb.suggest_for_portal(s, "How do I return an item I bought?", "en", 3)
        nothing = await kb.suggest_for_portal(s, "的", "zh_CN", 3)
    assert zh and zh[0].article_id == articles["zh-001"]
    assert all(isinstance(x, kb.PortalSuggestion) and x.snippet for x in zh)
    assert "**" not in zh[0].snippet, "snippets are plain text"
    assert en and en[0].article_id == articles["en-001"]
    assert nothing == []


async def test_drafts_are_never_suggested(db: Any, articles: dict[str, int]) -> None:
    async with unit_of_work(db) as s:
        article = await s.get(Article, articles["zh-001"])
        assert article is not None
        article.status = ArticleStatus.DRAFT
    async with db.sessionmaker() as s:
        found = await kb.suggest_for_portal(s, "我想申请退货退款，怎么操作？", "zh_CN", 5)
    assert articles["zh-001"] not in [x.article_id for x in found]


async def test_suggestion_fragment_while_typing(client: Any, articles: dict[str, int]) -> None:
    response = await client.get(
        "/portal/suggest", params={"description": "退款多久能到账"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "退款多久能到账？" in response.text
    assert f'name="article_id" value="{articles["zh-002"]}"' in response.text
    assert "<html" not in response.text, "a fragment for #suggestions"
    empty = await client.get("/portal/suggest", params={"description": ""})
    assert "开始描述您的问题" in empty.text


async def test_this_solved_it_records_a_deflection_and_no_ticket(
    client: Any, db: Any, articles: dict[str, int]
) -> None:
    token = await csrf_token(client, "/portal")
    article_id = articles["zh-002"]
    response = await client.post(
        "/portal/solved",
        data={
            "article_id": str(article_id),
            "description": "退款多久能到账",
            "_csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "很高兴帮到您" in response.text
    async with db.sessionmaker() as s:
        deflection = (await s.scalars(select(Deflection))).one()
        assert deflection.article_id == article_id and deflection.query == "退款多久能到账"
        assert deflection.locale == "zh_CN"
        article = await s.get(Article, article_id)
        assert article is not None and article.solved_count == 1
        assert int(await s.scalar(select(func.count()).select_from(Ticket)) or 0) == 0
        assert article.updated_at == article.created_at, "a deflection is not an edit"
    page = await client.post(
        "/portal/solved",
        data={"article_id": str(article_id), "description": "到账", "_csrf_token": token},
    )
    assert page.status_code == 200 and "<html" in page.text, "works without JavaScript too"
    unknown = await client.post(
        "/portal/solved", data={"article_id": "999999", "description": "x", "_csrf_token": token}
    )
    assert unknown.status_code == 404
    async with db.sessionmaker() as s:
        assert int(await s.scalar(select(func.count()).select_from(Deflection)) or 0) == 2
