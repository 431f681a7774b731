"""The agents' chat inbox (/chat): availability, the queue, their chats and one chat in full.

The page is server-rendered; ``chat_inbox.js`` appends new lines as the live stream
(``chat`` events on the staff stream) names them, sends replies, typing and read marks, and
keeps the agent counted as online while the page is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from models.services.chat import conversations as chat
from models.services.chat import inbox
from models.services.common import ids
from web import i18n
from web.deps import CurrentActor, DbSession
from web.security import requires_staff
from web.views.chat import publish_typing

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class ReplyForm:
    text: str = ""
    client_id: str = ""


@dataclass
class SeqForm:
    seq: str = ""


@dataclass
class AvailabilityForm:
    available: str = ""


@dataclass
class TransferForm:
    to_user_id: str = ""
    to_department_id: str = ""


def _locale() -> str:
    return "en" if i18n.get_locale() == "en" else "zh-CN"


class ChatInboxController(Controller):
    path = "/chat"
    guards = [requires_staff]
    include_in_schema = False

    async def _page(
        self, request: HTMXRequest, db_session: Any, actor: Any, selected: str | None
    ) -> Template:
        view = await inbox.inbox(db_session, actor)
        pane = None
        if selected:
            pane = await inbox.chat_view(db_session, actor, selected, locale=_locale())
        return Template("chat/inbox.html", context={"inbox": view, "c": pane, "selected": selected})

    @get("/")
    async def index(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        c: FromQuery[str] = "",
    ) -> Template:
        await chat.heartbeat(db_session, actor)
        return await self._page(request, db_session, actor, c or None)

    @get("/list")
    async def list_(
        self, db_session: DbSession, actor: CurrentActor, c: FromQuery[str] = ""
    ) -> Template:
        view = await inbox.inbox(db_session, actor)
        return Template("chat/partials/_list.html", context={"inbox": view, "selected": c})

    @get("/c/{public_id:str}")
    async def conversation(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
    ) -> Template:
        if not request.htmx:
            return await self._page(request, db_session, actor, public_id)
        pane = await inbox.chat_view(db_session, actor, public_id, locale=_locale())
        return Template("chat/partials/_pane.html", context={"c": pane})

    @get("/c/{public_id:str}/lines")
    async def lines(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
        after: FromQuery[int] = 0,
    ) -> Template:
        fresh, read_seq = await inbox.lines_after(db_session, actor, public_id, after)
        return Template("chat/partials/_lines.html", context={"lines": fresh, "read_seq": read_seq})

    @post("/c/{public_id:str}/messages", status_code=200)
    async def reply(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
        data: Annotated[ReplyForm, Form],
    ) -> Template:
        line = await chat.agent_post(
            db_session, actor, public_id, data.text, client_id=data.client_id or None
        )
        # Just the new line: the customer has not read it yet.
        return Template("chat/partials/_lines.html", context={"lines": [line], "read_seq": 0})

    @post("/c/{public_id:str}/read", status_code=204)
    async def read(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
        data: Annotated[SeqForm, Form],
    ) -> None:
        await chat.agent_read(db_session, actor, public_id, ids.digits(data.seq) or 0)

    @post("/c/{public_id:str}/typing", status_code=204)
    async def typing(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
    ) -> None:
        await chat.for_staff(db_session, actor, public_id, working=True)
        await publish_typing(request, public_id, "agent")

    @post("/c/{public_id:str}/accept", status_code=200)
    async def accept(
        self, db_session: DbSession, actor: CurrentActor, public_id: FromPath[str]
    ) -> Template:
        await chat.accept(db_session, actor, public_id)
        pane = await inbox.chat_view(db_session, actor, public_id, locale=_locale())
        return Template("chat/partials/_pane.html", context={"c": pane})

    @get("/c/{public_id:str}/transfer")
    async def transfer_options(
        self, db_session: DbSession, actor: CurrentActor, public_id: FromPath[str]
    ) -> Template:
        """The transfer menu's choices, read when it opens (who is online now)."""
        pane = await inbox.chat_view(db_session, actor, public_id, locale=_locale())
        return Template("chat/partials/_transfer.html", context={"c": pane})

    @post("/c/{public_id:str}/transfer", status_code=200)
    async def transfer(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        public_id: FromPath[str],
        data: Annotated[TransferForm, Form],
    ) -> Template:
        await chat.transfer(
            db_session,
            actor,
            public_id,
            to_user_id=ids.digits(data.to_user_id),
            to_department_id=ids.digits(data.to_department_id),
        )
        pane = await inbox.chat_view(db_session, actor, public_id, locale=_locale())
        return Template("chat/partials/_pane.html", context={"c": pane})

    @post("/c/{public_id:str}/end", status_code=200)
    async def end(
        self, db_session: DbSession, actor: CurrentActor, public_id: FromPath[str]
    ) -> Template:
        await chat.agent_end(db_session, actor, public_id)
        pane = await inbox.chat_view(db_session, actor, public_id, locale=_locale())
        return Template("chat/partials/_pane.html", context={"c": pane})

    @post("/availability", status_code=200)
    async def availability(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[AvailabilityForm, Form]
    ) -> Template:
        await chat.set_available(db_session, actor, data.available == "on")
        view = await inbox.inbox(db_session, actor)
        return Template("chat/partials/_list.html", context={"inbox": view, "selected": ""})

    @post("/heartbeat", status_code=204)
    async def heartbeat(self, db_session: DbSession, actor: CurrentActor) -> None:
        await chat.heartbeat(db_session, actor)
