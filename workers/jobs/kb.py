"""Knowledge-base jobs: embed published articles, and answer suggestion queries.

``suggest`` is awaited by the web for at most ~1.5 s (``job.result(timeout=…)``); the web
falls back to lexical ranking when it does not answer in time.
"""

from __future__ import annotations

from typing import Any

from arq.worker import func

from models.services.common import jobs
from workers.context import TriageRuntime


async def embed_articles(ctx: dict[str, Any], article_ids: list[int] | None = None) -> int:
    """Embed published articles lacking a current embedding (all of them without ids)."""
    runtime: TriageRuntime = ctx["triage"]
    return await runtime.embed_articles(ctx["db"], ctx.get("redis"), article_ids)


async def suggest(
    ctx: dict[str, Any], query: str, locale: str | None = None, k: int = 3
) -> list[tuple[int, float]]:
    """The best published articles for a portal or drawer query: ``[(article id, score)]``."""
    runtime: TriageRuntime = ctx["triage"]
    hits = await runtime.search(ctx["db"], query[:1000], max(1, min(k, 10)), locale=locale)
    return [(hit.article_id, hit.score) for hit in hits]


FUNCTIONS: list[Any] = [
    func(embed_articles, name=jobs.EMBED_ARTICLES),
    func(suggest, name=jobs.SUGGEST),
]
