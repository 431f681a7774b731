"""Knowledge-base suggestions: hybrid retrieval in the worker, lexical fallback in the web."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from models.article import Article
from models.db import unit_of_work
from models.services.demo import seed
from models.services.knowledge import kb
from models.settings import get_settings
from tests.integration.triage_support import running_worker, triage_runtime, worker_thread

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    async with triage_runtime() as rt:
        yield rt


@pytest.fixture
async def articles(db: Any) -> dict[str, int]:
    """The seed knowledge base, published; external id → row id."""
    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
    async with db.sessionmaker() as s:
        return dict((await s.execute(select(Article.external_id, Article.id))).all())


def suggested_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="article_id" value="(\d+)"', html)]


async def test_the_worker_embeds_published_articles(
    db: Any, articles: dict[str, int], runtime: Any
) -> None:
    done = await runtime.embed_articles(db)
    again = await runtime.embed_articles(db)
    assert done == len(articles) and again == 0
    async with db.sessionmaker() as s:
        rows = (await s.execute(select(Article.embedding, Article.embedding_model))).all()
    assert all(r.embedding and len(r.embedding) == 384 * 4 for r in rows)
    assert {r.embedding_model for r in rows} == {await runtime.encoder.name()}


async def test_a_chinese_query_finds_the_chinese_article_through_the_worker(
    client: Any, db: Any, redis: Any, articles: dict[str, int], runtime: Any
) -> None:
    await runtime.embed_articles(db)
    with worker_thread() as worker:
        # Warm the worker's index first, so the request below is answered within its timeout.
        warm = await redis.enqueue_job("suggest", query="预热一下索引", locale="zh_CN", k=1)
        await warm.result(timeout=120)
        before = worker.jobs_complete

        response = await client.get(
            "/portal/suggest",
            params={"description": "退款多久能到账呢"},
            headers={"HX-Request": "true"},
        )

        answered_by_worker = worker.jobs_complete - before
    assert response.status_code == 200
    ids = suggested_ids(response.text)
    assert ids and ids[0] == articles["zh-002"]
    assert all(i in {v for k, v in articles.items() if k.startswith("zh-")} for i in ids)
    assert answered_by_worker == 1, "the suggestion came from the worker's suggest job"


async def test_an_english_paraphrase_is_found_with_dense_retrieval(
    db: Any, redis: Any, articles: dict[str, int], runtime: Any
) -> None:
    await runtime.embed_articles(db)
    async with running_worker(runtime), db.sessionmaker() as s:
        found = await kb.suggest_for_portal(
            s, "I can't remember my login credentials", "en", 3, redis=redis, wait=60
        )
    async with db.sessionmaker() as s:
        titles = {a.id: a.title for a in (await s.scalars(select(Article))).all()}
    assert found, "a paraphrase with few shared words still finds articles"
    assert any("password" in titles[f.article_id].lower() for f in found), [
        titles[f.article_id] for f in found
    ]


async def test_without_a_worker_the_web_answers_lexically_within_its_timeout(
    client: Any, redis: Any, articles: dict[str, int]
) -> None:
    response = await client.get(
        "/portal/suggest",
        params={"description": "我想申请退货退款，怎么操作？"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert suggested_ids(response.text)[0] == articles["zh-001"]
    queue = await redis.zcard(get_settings().queue_name)
    assert queue == 1, "the web asked the worker first (the job expires unanswered)"
    nothing = await client.get(
        "/portal/suggest", params={"description": "的"}, headers={"HX-Request": "true"}
    )
    assert suggested_ids(nothing.text) == []


async def test_portal_suggestions_skip_drafts_and_unrelated_queries(
    db: Any, redis: Any, articles: dict[str, int], runtime: Any
) -> None:
    await runtime.embed_articles(db)
    async with unit_of_work(db) as s:
        article = await s.get(Article, articles["zh-002"])
        assert article is not None
        article.status = "draft"  # type: ignore[assignment]
    async with running_worker(runtime), db.sessionmaker() as s:
        refund = await kb.suggest_for_portal(s, "退款多久能到账", "zh_CN", 3, redis=redis, wait=60)
        unrelated = await kb.suggest_for_portal(s, "zxqv wplk grrb", "en", 3, redis=redis, wait=60)
    assert refund and articles["zh-002"] not in [r.article_id for r in refund]
    assert unrelated == []
