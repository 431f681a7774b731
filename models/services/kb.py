"""Knowledge-base articles: listing and authoring."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.article import Article
from models.enums import ArticleStatus


async def list_articles(
    session: AsyncSession, *, status: ArticleStatus | None = None, limit: int = 100
) -> Sequence[Article]:
    stmt = select(Article).order_by(Article.updated_at.desc(), Article.id.desc())
    if status:
        stmt = stmt.where(Article.status == status)
    return (await session.scalars(stmt.limit(limit))).all()
