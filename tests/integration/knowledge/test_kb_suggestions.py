"""Knowledge-base suggestions: hybrid retrieval in the worker, lexical fallback in the web."""

from __future__ import annotations

import asyncio
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
from triage.embedder import E5_MODEL

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
    # Articles are embedded by retrieval's multilingual model, not the classifier's.
    assert {r.embedding_model for r in rows} == {E5_MODEL}
    assert await runtime.retrieval.name() == E5_MODEL != await runtime.encoder.name()


async def test_a_chinese_query_finds_the_chinese_article_through_the_worker(
    client: Any, db: Any, redis: Any, articles: dict[str, int], runtime: Any
) -> None:
    """Through the portal's HTTP endpoint: the worker (its own thread and event loop, as a
    separate process is) answers by meaning — lexically the first answer would be 退款到账."""
    await runtime.embed_articles(db)
    with worker_thread():
        # Warm the worker's index first, so the request below is answered within its timeout.
        async with db.sessionmaker() as s:
            await kb.suggest_for_portal(s, "预热一下索引", "zh_CN", 1, redis=redis, wait=120)

        response = await client.get(
            "/portal/suggest",
            params={"description": "冰箱坏了能派人来看看吗"},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    ids = suggested_ids(response.text)
    assert ids and ids[0] == articles["zh-006"], "answered by meaning, so by the worker"
    assert all(i in {v for k, v in articles.items() if k.startswith("zh-")} for i in ids)


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


async def test_a_backlog_of_articles_is_embedded_in_the_background(
    db: Any, articles: dict[str, int], runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new embedding model (an upgrade) or a large import leaves many articles without
    vectors: searches are answered lexically at once while the worker embeds them, and the
    index turns hybrid when they are all done."""
    monkeypatch.setattr(kb, "INLINE_EMBED", 10)
    assert len(articles) > 10
    first = await runtime.kb_index(db)
    assert not first.complete and first.index.embeddings is None
    hits = await runtime.search(db, "退款多久能到账", 3)
    assert hits and hits[0].article_id == articles["zh-002"], "answered lexically meanwhile"
    for _ in range(600):
        index = await runtime.kb_index(db)
        if index.complete:
            break
        await asyncio.sleep(0.5)
    assert index.complete and index.index.embeddings is not None
    assert index.index.embeddings.shape[0] == len(articles)
    async with db.sessionmaker() as s:
        assert await kb.missing_embeddings(s, E5_MODEL) == []
    assert (await runtime.search(db, "冰箱坏了能派人来看看吗", 1))[0].article_id == articles[
        "zh-006"
    ]


@pytest.mark.parametrize(
    ("query", "expected", "lexical_first"),
    [
        ("冰箱坏了能派人来看看吗", "zh-006", "zh-002"),  # 上门维修; lexically: 退款到账
        ("钱啥时候能回到我卡上", "zh-002", "zh-035"),  # 退款多久能到账
    ],
)
async def test_a_chinese_paraphrase_is_found_by_meaning(
    db: Any,
    redis: Any,
    articles: dict[str, int],
    runtime: Any,
    query: str,
    expected: str,
    lexical_first: str,
) -> None:
    """The worker's multilingual embedder finds what a customer means in Chinese where the
    words alone point elsewhere (which is all the web's fallback can do)."""
    await runtime.embed_articles(db)
    async with running_worker(runtime), db.sessionmaker() as s:
        found = await kb.suggest_for_portal(s, query, "zh_CN", 3, redis=redis, wait=60)
        lexical = await kb.lexical_suggestions(s, query, "zh_CN", 3)
    assert found and found[0].article_id == articles[expected]
    assert lexical and lexical[0].article_id == articles[lexical_first]


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
    # The web asked the worker first, and took its unanswered question back.
    topic = f"{get_settings().queue_name}:ask:suggest"
    assert await redis.exists(topic) == 0
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
