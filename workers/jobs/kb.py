"""Knowledge-base jobs: embed published articles, and answer suggestion queries.

A suggestion query is a question the web asks and waits for, at most ~1.5 s
(:func:`models.services.common.asks.ask`); the worker answers it with :func:`answer_suggest`
(:func:`serve_suggestions` runs for the worker's lifetime). The web falls back to lexical
ranking when no answer comes in time. The arq job ``suggest`` answers web processes of the
previous release, which asked through the queue, during a rolling upgrade.
"""

from __future__ import annotations

from typing import Any

from arq.worker import func

from models.services.common import asks, jobs
from workers.context import TriageRuntime


async def embed_articles(ctx: dict[str, Any], article_ids: list[int] | None = None) -> int:
    """Embed published articles lacking a current embedding (all of them without ids)."""
    runtime: TriageRuntime = ctx["triage"]
    return await runtime.embed_articles(ctx["db"], ctx.get("redis"), article_ids)


async def suggest(
    ctx: dict[str, Any], query: str, locale: str | None = None, k: int = 3
) -> list[tuple[int, float]]:
    """The best published articles for a portal or chat query: ``[(article id, score)]``."""
    runtime: TriageRuntime = ctx["triage"]
    hits = await runtime.search(ctx["db"], query[:1000], max(1, min(k, 10)), locale=locale)
    return [(hit.article_id, hit.score) for hit in hits]


async def answer_suggest(ctx: dict[str, Any], question: dict[str, Any]) -> list[tuple[int, float]]:
    """:func:`suggest` for a question asked through :func:`models.services.common.asks.ask`."""
    locale = question.get("locale")
    return await suggest(
        ctx,
        str(question["query"]),
        str(locale) if locale else None,
        int(question.get("k") or 3),
    )


async def serve_suggestions(ctx: dict[str, Any]) -> None:
    """Answer the web's suggestion queries until cancelled (one task per worker connection)."""
    await asks.serve(ctx["redis"], jobs.SUGGEST, lambda q: answer_suggest(ctx, q))


FUNCTIONS: list[Any] = [
    func(embed_articles, name=jobs.EMBED_ARTICLES),
    func(suggest, name=jobs.SUGGEST),
]
