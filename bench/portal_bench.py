"""The web's own answer suggestions at 10,000 published articles: the BM25 fallback the portal
uses when the worker does not answer in time.

The web keeps one :class:`kb.LexicalIndexCache` (over the newest 1,000 articles) and rebuilds it
only when the published articles change. Timed: a cold call (the index built inside it), warm
calls on the cached index, and the first call after an article edit. No embeddings are needed,
so this runs in seconds beside the triage benchmark's hybrid figures.

    python -m bench portal
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from sqlalchemy import insert, update

import models
from bench.common import percentiles, scratch_database_url
from bench.triage_bench import SEED, _messages, _synthetic_articles
from models.article import Article
from models.base import utcnow
from models.db import Database, unit_of_work
from models.enums import ArticleStatus
from models.services.demo import seed
from models.services.knowledge import kb
from models.settings import reset_settings

WARM_SAMPLES = 200
COLD_SAMPLES = 10


async def _fill(db: Database, n: int) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.drop_all)
        await conn.run_sync(models.Base.metadata.create_all)
    async with unit_of_work(db) as session:
        await seed.seed_reference(session)
        await seed.seed_articles(session)
    now = utcnow()
    rows = _synthetic_articles(n, _messages())
    async with db.engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(
                insert(Article),
                [
                    {
                        "external_id": r["id"],
                        "title": r["title"],
                        "body": r["body"],
                        "locale": r.get("locale", "zh_CN"),
                        "status": ArticleStatus.PUBLISHED,
                        "created_at": now,
                        "updated_at": now,
                        "published_at": now,
                        "suggested_count": 0,
                        "click_count": 0,
                        "solved_count": 0,
                    }
                    for r in rows[start : start + 2000]
                ],
            )


async def _timed(db: Database, query: str, cache: kb.LexicalIndexCache) -> tuple[float, bool]:
    started = time.perf_counter()
    async with db.sessionmaker() as session:
        found = await kb.suggest_for_portal(session, query, "zh_CN", 3, lexical_cache=cache)
    return (time.perf_counter() - started) * 1000, bool(found)


async def run() -> dict[str, Any]:
    n = int(os.environ.get("KEFU_BENCH_PORTAL_ARTICLES", "10000"))
    url = scratch_database_url("portal")
    saved = os.environ.get("KEFU_DATABASE_URL")
    os.environ["KEFU_DATABASE_URL"] = url
    reset_settings()
    db = Database(url)
    try:
        started = time.perf_counter()
        await _fill(db, n)
        fill_seconds = time.perf_counter() - started
        queries = [m["text"] for m in random.Random(SEED).sample(_messages(), WARM_SAMPLES)]

        cold = [(await _timed(db, q, kb.LexicalIndexCache()))[0] for q in queries[:COLD_SAMPLES]]
        cache = kb.LexicalIndexCache()
        await _timed(db, queries[0], cache)
        warm, answered = [], 0
        for q in queries:
            ms, found = await _timed(db, q, cache)
            warm.append(ms)
            answered += found
        async with db.engine.begin() as conn:  # an edit: the next call rebuilds the index
            await conn.execute(
                update(Article)
                .where(Article.external_id == "syn-0")
                .values(title="已更新的文章", updated_at=utcnow())
            )
        after_edit, _ = await _timed(db, queries[1], cache)
        return {
            "articles": n,
            "indexed": kb.PORTAL_CANDIDATES,
            "fill_seconds": round(fill_seconds, 1),
            "cold_call": percentiles(cold),
            "cached_index": percentiles(warm),
            "with_suggestions": answered,
            "first_call_after_an_edit_ms": round(after_edit, 2),
        }
    finally:
        await db.dispose()
        if saved is None:
            os.environ.pop("KEFU_DATABASE_URL", None)
        else:
            os.environ["KEFU_DATABASE_URL"] = saved
        reset_settings()
