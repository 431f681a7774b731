"""The knowledge base: staff read it (and open suggested articles), leads write and publish.

Article forms post with htmx: a refused form keeps what was typed and shows the localized
field errors in the flash area; a saved one redirects to the article. Drawer suggestions
(stored by the triage job) come from ``/tickets/<id>/suggestions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Response, Template

from models.enums import ArticleStatus
from models.services.knowledge import kb
from web.deps import CurrentActor, DbSession
from web.forms import Form, parse_choice
from web.security import requires_lead, requires_staff


@dataclass
class ArticleForm:
    title: str = ""
    body: str = ""
    locale: str = "zh_CN"
    publish: str = ""


@dataclass
class StatusForm:
    status: str = ""


def _saved(request: HTMXRequest, article_id: int) -> Response[Any]:
    url = f"/kb/{article_id}"
    return ClientRedirect(redirect_to=url) if request.htmx else Redirect(url)


class KnowledgeBaseController(Controller):
    """Reading: every staff member."""

    path = "/kb"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession, actor: CurrentActor) -> Template:
        return Template(
            "kb/index.html",
            context={
                "articles": await kb.article_rows(db_session, actor),
                "can_edit": actor.is_lead,
            },
        )

    @get("/{article_id:int}")
    async def show(
        self, db_session: DbSession, actor: CurrentActor, article_id: FromPath[int]
    ) -> Template:
        return Template(
            "kb/show.html",
            context={"article": await kb.article_view(db_session, actor, article_id)},
        )

    @get("/{article_id:int}/open")
    async def open_suggested(self, db_session: DbSession, article_id: FromPath[int]) -> Redirect:
        """A suggested article was opened (from the drawer): count the click, then show it."""
        await kb.record_click(db_session, article_id)
        return Redirect(f"/kb/{article_id}")


class KnowledgeBaseAuthoringController(Controller):
    """Writing and publishing: leads."""

    path = "/kb"
    guards = [requires_lead]
    include_in_schema = False

    @get("/new")
    async def new(self) -> Template:
        return Template("kb/form.html", context={"article": None})

    @post("/new", status_code=200)
    async def create(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[ArticleForm, Form],
    ) -> Response[Any]:
        article = await kb.create_article(
            db_session,
            actor,
            kb.ArticleInput(data.title, data.body, data.locale),
            publish=bool(data.publish),
        )
        return _saved(request, article.id)

    @get("/{article_id:int}/edit")
    async def edit(
        self, db_session: DbSession, actor: CurrentActor, article_id: FromPath[int]
    ) -> Template:
        return Template(
            "kb/form.html",
            context={"article": await kb.article_view(db_session, actor, article_id)},
        )

    @post("/{article_id:int}/edit", status_code=200)
    async def update(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        article_id: FromPath[int],
        data: Annotated[ArticleForm, Form],
    ) -> Response[Any]:
        await kb.update_article(
            db_session, actor, article_id, kb.ArticleInput(data.title, data.body, data.locale)
        )
        return _saved(request, article_id)

    @post("/{article_id:int}/status", status_code=200)
    async def set_status(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        article_id: FromPath[int],
        data: Annotated[StatusForm, Form],
    ) -> Response[Any]:
        await kb.set_status(
            db_session, actor, article_id, parse_choice(ArticleStatus, data.status, "status")
        )
        return _saved(request, article_id)


class TicketSuggestionsController(Controller):
    """The drawer's #suggestions region: articles the triage job stored for the ticket."""

    path = "/tickets"
    guards = [requires_staff]
    include_in_schema = False

    @get("/{ticket_id:int}/suggestions")
    async def suggestions(self, db_session: DbSession, ticket_id: FromPath[int]) -> Template:
        return Template(
            "kb/partials/_suggestions.html",
            context={"s": await kb.ticket_suggestions(db_session, ticket_id)},
        )
