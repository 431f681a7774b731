"""The knowledge base as staff see it."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from models.services import kb
from web.deps import DbSession
from web.security import requires_staff


class KnowledgeBaseController(Controller):
    path = "/kb"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        articles = await kb.list_articles(db_session)
        return Template("kb/index.html", context={"articles": articles})
