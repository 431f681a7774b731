"""The web's lexical fallback index is built once and rebuilt only when articles change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from models.article import Article
from models.base import utcnow
from models.db import unit_of_work
from models.services.demo import seed
from models.services.knowledge import kb


async def test_index_is_reused_until_an_article_changes(db: Any) -> None:
    async with unit_of_work(db) as s:
        assert await seed.seed_articles(s) > 0
    cache = kb.LexicalIndexCache()
    async with db.sessionmaker() as s:
        first = await cache.get(s)
        assert await cache.get(s) is first
        before = await kb.suggest_for_portal(s, "火星探测器", "zh_CN", 3, lexical_cache=cache)
    assert not any("火星探测器" in hit.title for hit in before)

    async with unit_of_work(db) as s:
        article = (
            await s.scalars(
                select(Article).where(Article.locale == "zh_CN").order_by(Article.id).limit(1)
            )
        ).one()
        article.title = "火星探测器保修怎么申请"
        article.updated_at = utcnow() + timedelta(seconds=1)
    async with db.sessionmaker() as s:
        rebuilt = await cache.get(s)
        assert rebuilt is not first
        after = await kb.suggest_for_portal(s, "火星探测器", "zh_CN", 3, lexical_cache=cache)
    assert after and after[0].title == "火星探测器保修怎么申请"
