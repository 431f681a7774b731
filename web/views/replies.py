"""Quick replies (快捷回复) and macros (宏): the /replies management page, the search and
render endpoints behind the ``/`` popup of every ``data-quick-replies`` text box, and the
drawer's macro menu.

Forms post with htmx: a refused form keeps what was typed and shows the localized field
errors in the flash area; a saved one goes back to its tab. A refused macro leaves the drawer
as it was and shows which step was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Response, Template

from models.enums import Priority, RequestType, TicketStatus
from models.quick_reply import ReplyLanguage, ReplyScope
from models.services.replies import macros, quick
from web.deps import CurrentActor, DbSession
from web.errors import render_error
from web.forms import Form, parse_id
from web.i18n import get_locale, gettext
from web.security import requires_staff
from web.views.tickets import render_drawer

TABS = ("team", "personal", "macros")


@dataclass
class ReplyForm:
    title: str = ""
    body: str = ""
    language: str = "any"
    scope: str = "personal"
    shortcut: str = ""


@dataclass
class MacroForm:
    name: str = ""
    scope: str = "personal"
    status: str = ""
    priority: str = ""
    request_type: str = ""
    assignee: str = ""
    reply: str = ""
    note: str = ""


@dataclass
class ApplyForm:
    ticket_id: str = ""
    version: str = ""


def _back(request: HTMXRequest, tab: str) -> Response[Any]:
    url = f"/replies?tab={tab}"
    return ClientRedirect(redirect_to=url) if request.htmx else Redirect(url)


def _macro_input(data: MacroForm) -> macros.MacroInput:
    return macros.MacroInput(
        data.name,
        data.scope,
        data.status,
        data.priority,
        data.request_type,
        data.assignee,
        data.reply,
        data.note,
    )


def step_refused(request: Request[Any, Any, Any], exc: macros.StepRefused) -> Response[Any]:
    """Which step of the macro was refused and why, in the person's language."""
    reason = gettext(exc.cause.message, **exc.cause.params)
    step_label = str(exc.params["step"])
    message = gettext(exc.message, macro=exc.macro, step=gettext(step_label), reason=reason)
    return render_error(request, exc.status_code, message)


def _form_context(reply: Any, scope: str, can_team: bool) -> dict[str, Any]:
    return {
        "reply": reply,
        "scope": scope,
        "can_team": can_team,
        "languages": list(ReplyLanguage),
        "variables": list(quick.VARIABLES),
    }


def _macro_context(macro: Any, scope: str, can_team: bool) -> dict[str, Any]:
    return {
        "macro": macro,
        "scope": scope,
        "can_team": can_team,
        "statuses": list(TicketStatus),
        "priorities": list(Priority),
        "request_types": list(RequestType),
        "variables": list(quick.VARIABLES),
    }


class RepliesController(Controller):
    path = "/replies"
    guards = [requires_staff]
    include_in_schema = False
    exception_handlers = {macros.StepRefused: step_refused}

    @get("/")
    async def index(
        self, db_session: DbSession, actor: CurrentActor, tab: FromQuery[str] = "team"
    ) -> Template:
        tab = tab if tab in TABS else "team"
        return Template(
            "replies/index.html",
            context={
                "tab": tab,
                "team": await quick.rows(db_session, actor, ReplyScope.TEAM),
                "personal": await quick.rows(db_session, actor, ReplyScope.PERSONAL),
                "macros": await macros.rows(db_session, actor),
                "can_team": actor.is_lead,
            },
        )

    @get("/new")
    async def new(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        scope: FromQuery[str] = "personal",
        article_id: FromQuery[int | None] = None,
    ) -> Template:
        """A blank form, or one pre-filled from a knowledge-base article."""
        draft = None
        if article_id is not None:
            draft = await quick.draft_from_article(db_session, actor, article_id)
        scope = (
            scope
            if scope in ("team", "personal") and (actor.is_lead or scope != "team")
            else "personal"
        )
        return Template("replies/form.html", context=_form_context(draft, scope, actor.is_lead))

    @post("/new", status_code=200)
    async def create(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[ReplyForm, Form],
    ) -> Response[Any]:
        reply = await quick.create(
            db_session,
            actor,
            quick.ReplyInput(data.title, data.body, data.language, data.scope, data.shortcut),
        )
        return _back(request, str(reply.scope))

    @get("/{reply_id:int}/edit")
    async def edit(
        self, db_session: DbSession, actor: CurrentActor, reply_id: FromPath[int]
    ) -> Template:
        reply = await quick.edit_view(db_session, actor, reply_id)
        return Template(
            "replies/form.html", context=_form_context(reply, reply.scope.value, actor.is_lead)
        )

    @post("/{reply_id:int}/edit", status_code=200)
    async def update(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        reply_id: FromPath[int],
        data: Annotated[ReplyForm, Form],
    ) -> Response[Any]:
        reply = await quick.update_reply(
            db_session,
            actor,
            reply_id,
            quick.ReplyInput(data.title, data.body, data.language, data.scope, data.shortcut),
        )
        return _back(request, str(reply.scope))

    @post("/{reply_id:int}/delete", status_code=200)
    async def delete(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        reply_id: FromPath[int],
    ) -> Response[Any]:
        reply = await quick.get(db_session, actor, reply_id)
        scope = str(reply.scope)
        await quick.delete(db_session, actor, reply_id)
        return _back(request, scope)

    @get("/search")
    async def search(
        self, db_session: DbSession, actor: CurrentActor, q: FromQuery[str] = ""
    ) -> list[dict[str, Any]]:
        """The ``/`` popup's matches: the person's language first."""
        found = await quick.search(db_session, actor, q, get_locale())
        return [
            {"id": r.id, "title": r.title, "shortcut": r.shortcut or "", "body": r.body}
            for r in found
        ]

    @get("/render")
    async def render(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromQuery[int],
        reply_id: FromQuery[int],
    ) -> dict[str, str]:
        """The reply with this ticket's values filled in (counts one use)."""
        return {"text": await quick.render_for_ticket(db_session, actor, reply_id, ticket_id)}

    # --- macros ---------------------------------------------------------------------------

    @get("/macros/new")
    async def new_macro(self, actor: CurrentActor, scope: FromQuery[str] = "personal") -> Template:
        scope = scope if scope == "team" and actor.is_lead else "personal"
        return Template(
            "replies/macro_form.html", context=_macro_context(None, scope, actor.is_lead)
        )

    @post("/macros/new", status_code=200)
    async def create_macro(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[MacroForm, Form],
    ) -> Response[Any]:
        await macros.create(db_session, actor, _macro_input(data))
        return _back(request, "macros")

    @get("/macros/{macro_id:int}/edit")
    async def edit_macro(
        self, db_session: DbSession, actor: CurrentActor, macro_id: FromPath[int]
    ) -> Template:
        macro = await macros.edit_view(db_session, actor, macro_id)
        return Template(
            "replies/macro_form.html",
            context=_macro_context(macro, macro.scope.value, actor.is_lead),
        )

    @post("/macros/{macro_id:int}/edit", status_code=200)
    async def update_macro(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        macro_id: FromPath[int],
        data: Annotated[MacroForm, Form],
    ) -> Response[Any]:
        await macros.update_macro(db_session, actor, macro_id, _macro_input(data))
        return _back(request, "macros")

    @post("/macros/{macro_id:int}/delete", status_code=200)
    async def delete_macro(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        macro_id: FromPath[int],
    ) -> Response[Any]:
        await macros.delete(db_session, actor, macro_id)
        return _back(request, "macros")

    @get("/macros/menu")
    async def macro_menu(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromQuery[int],
        version: FromQuery[int],
    ) -> Template:
        """The drawer's macro menu for one ticket (the version the drawer shows)."""
        return Template(
            "replies/partials/_macro_menu.html",
            context={
                "macros": await macros.rows(db_session, actor),
                "ticket_id": ticket_id,
                "version": version,
            },
        )

    @post("/macros/{macro_id:int}/apply", status_code=200)
    async def apply(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        macro_id: FromPath[int],
        data: Annotated[ApplyForm, Form],
    ) -> Response[Any]:
        ticket_id = parse_id(data.ticket_id, "ticket_id") or 0
        await macros.apply_macro(
            db_session,
            actor,
            ticket_id,
            macro_id,
            expected_version=parse_id(data.version, "version"),
        )
        if not request.htmx:
            return Redirect(f"/tickets/{ticket_id}")
        return await render_drawer(request, db_session, actor, ticket_id)
