"""The knowledge base as staff see it."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from models.services import kb
from web.security import requires_staff


class KnowledgeBaseController(Controller):
    path = "/kb"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: AsyncSession) -> Template:
        articles = await kb.list_articles(db_session)
        return Template("kb/index.html", context={"articles": articles})
