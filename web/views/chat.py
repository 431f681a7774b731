"""The web chat widget's side: the frame page a site embeds and the JSON it talks to.

A site adds ``<script src="https://kefu.example/static/chat/loader.js" data-widget="KEY"
async></script>``; the loader draws a button and opens ``/chat/w/KEY`` in an iframe on
Kefu's own origin, so the site's pages and Kefu's never share scripts or cookies. The frame
keeps a random visitor secret in its storage and sends it as ``X-Kefu-Visitor`` with every
call under ``/api/chat/`` (no cookies: nothing for a forged cross-site request to ride on).
Errors are JSON with a localized message; the live stream names a conversation by its
unguessable public id and carries only nudges (numbers), never message text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import ServerSentEvent, Template

from models.services.chat import conversations as chat
from models.services.chat import wecom_channel, widgets
from models.services.common.errors import N_, ValidationFailed
from models.services.tickets import attachments, surveys
from web import i18n
from web.deps import DbSession
from web.views.attachments import PRIVATE_HEADERS, file_response, read_form
from web.views.events import stream
from web.views.portal import client_ip

VISITOR_HEADER = "x-kefu-visitor"
# The signed-in customer the embedding site vouched for (see widgets' signed identities).
IDENTITY_HEADER = "x-kefu-identity"


def _secret(request: Request[Any, Any, Any]) -> str:
    return request.headers.get(VISITOR_HEADER, "")


def _identity(request: Request[Any, Any, Any], widget: Any) -> widgets.IdentityCheck:
    return widgets.check_identity(widget, request.headers.get(IDENTITY_HEADER, ""))


def _locale(widget: Any, raw: str) -> str:
    locale = "en" if raw.lower().startswith("en") else "zh-CN"
    return locale if locale in (widget.languages or widgets.LANGUAGES) else widget.languages[0]


def frame_policy(allowed_origins: str) -> str:
    """The frame page's own policy: the page rules of every Kefu page, but embeddable by the
    widget's sites (any site when none is listed)."""
    from web.headers import CSP

    ancestors = allowed_origins or "*"
    return CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


class ChatFrameController(Controller):
    """The page inside the iframe."""

    path = "/chat/w"
    include_in_schema = False

    @get("/{key:str}")
    async def frame(
        self, db_session: DbSession, key: FromPath[str], lang: FromQuery[str] = ""
    ) -> Template:
        widget = await widgets.by_key(db_session, key)
        locale = _locale(widget, lang or i18n.get_locale())
        i18n.set_locale("en" if locale == "en" else "zh_CN")
        return Template(
            "chat/frame.html",
            context={
                "widget": widget,
                "locale": locale,
                "greeting": widgets.greeting(widget, locale),
                "max_length": chat.TEXT_MAX,
            },
            headers={
                "Content-Security-Policy": frame_policy(widget.allowed_origins),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )


@dataclass
class MessageIn:
    text: str = ""
    client_id: str = ""
    conversation: str = ""
    locale: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass
class ReadIn:
    seq: int = 0


@dataclass
class LeaveIn:
    name: str = ""
    phone: str = ""
    email: str = ""
    text: str = ""
    locale: str = ""


@dataclass
class SurveyIn:
    speed: str = ""
    solution: str = ""
    attitude: str = ""
    comment: str = ""


@dataclass
class SolvedIn:
    article_id: int = 0
    query: str = ""


class ChatApiController(Controller):
    """What the widget's frame calls (JSON; errors are JSON too, under /api/)."""

    path = "/api/chat/{key:str}"
    include_in_schema = False

    @get("/state")
    async def state(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        after: FromQuery[int] = 0,
    ) -> dict[str, Any]:
        widget = await widgets.by_key(db_session, key)
        view = await chat.visitor_view(
            db_session,
            widget,
            _secret(request),
            after=max(0, after),
            identity=_identity(request, widget),
        )
        return view.as_json()

    @post("/messages", status_code=201)
    async def send(
        self, request: Request[Any, Any, Any], db_session: DbSession, key: FromPath[str]
    ) -> dict[str, Any]:
        widget = await widgets.by_key(db_session, key)
        data, upload = await _message_input(request)
        conversation, line = await chat.visitor_post(
            db_session,
            request.app.state.redis,
            widget,
            _secret(request),
            chat.VisitorMessage(
                text=data.text,
                client_id=data.client_id or None,
                locale=_locale(widget, data.locale),
                name=data.name,
                phone=data.phone,
                email=data.email,
                upload=upload,
            ),
            public_id=data.conversation or None,
            identity=_identity(request, widget),
        )
        return {"conversation": conversation.public_id, "line": line.as_json()}

    @post("/c/{public_id:str}/read", status_code=204)
    async def read(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
        data: JSONBody[ReadIn],
    ) -> None:
        widget = await widgets.by_key(db_session, key)
        await chat.visitor_read(db_session, widget, _secret(request), public_id, data.seq)

    @post("/c/{public_id:str}/typing", status_code=204)
    async def typing(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
    ) -> None:
        widget = await widgets.by_key(db_session, key)
        conversation = await chat.visitor_typing(
            db_session, request.app.state.redis, widget, _secret(request), public_id
        )
        await publish_typing(request, conversation.public_id, "customer")

    @post("/c/{public_id:str}/end", status_code=204)
    async def end(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
    ) -> None:
        widget = await widgets.by_key(db_session, key)
        await chat.visitor_end(db_session, widget, _secret(request), public_id)

    @post("/c/{public_id:str}/survey", status_code=204)
    async def survey(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
        data: JSONBody[SurveyIn],
    ) -> None:
        widget = await widgets.by_key(db_session, key)
        await chat.visitor_survey(
            db_session,
            widget,
            _secret(request),
            public_id,
            surveys.AnswerInput(
                speed=data.speed,
                solution=data.solution,
                attitude=data.attitude,
                comment=data.comment,
            ),
        )

    @post("/leave", status_code=201)
    async def leave(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        data: JSONBody[LeaveIn],
    ) -> dict[str, Any]:
        widget = await widgets.by_key(db_session, key)
        ticket = await chat.leave_message(
            db_session,
            request.app.state.redis,
            widget,
            _secret(request),
            chat.LeftMessage(
                name=data.name,
                phone=data.phone,
                email=data.email,
                text=data.text,
                locale=_locale(widget, data.locale),
            ),
            identity=_identity(request, widget),
        )
        return {"number": ticket.number}

    @get("/suggest")
    async def suggest(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        q: FromQuery[str] = "",
    ) -> dict[str, Any]:
        widget = await widgets.by_key(db_session, key)
        found = await chat.suggestions(
            db_session,
            request.app.state.redis,
            widget,
            q[: chat.TEXT_MAX],
            i18n.get_locale(),
            client=client_ip(request),
            lexical_cache=request.app.state.kb_lexical,
        )
        return {
            "suggestions": [
                {"id": s.article_id, "title": s.title, "snippet": s.snippet} for s in found
            ]
        }

    @get("/articles/{article_id:int}")
    async def article(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        article_id: FromPath[int],
    ) -> dict[str, Any]:
        await widgets.by_key(db_session, key)
        from models.services.tickets import portal

        found = await portal.article(
            db_session, request.app.state.redis, article_id, client_ip=client_ip(request)
        )
        return {"id": found.id, "title": found.title, "body": found.html}

    @post("/solved", status_code=204)
    async def solved(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        data: JSONBody[SolvedIn],
    ) -> None:
        widget = await widgets.by_key(db_session, key)
        await chat.solved_by_article(
            db_session, widget, _secret(request), data.article_id, data.query
        )

    @get("/c/{public_id:str}/files/{attachment_id:int}")
    async def file(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
        attachment_id: FromPath[int],
    ) -> Response[bytes]:
        """A file of the conversation (the customer's own screenshot, shown in the widget)."""
        widget = await widgets.by_key(db_session, key)
        found = await chat.conversation_file(db_session, widget, public_id, attachment_id)
        return file_response(found, PRIVATE_HEADERS)

    @get("/c/{public_id:str}/events")
    async def events(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        key: FromPath[str],
        public_id: FromPath[str],
    ) -> ServerSentEvent:
        """The conversation's nudges: new message n, typing, read up to n, status."""
        widget = await widgets.by_key(db_session, key)
        await chat.conversation_exists(db_session, widget, public_id)
        state = request.app.state
        return ServerSentEvent(
            stream(state.redis, state.settings.event_channel, conversation_events(public_id)),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


async def _message_input(
    request: Request[Any, Any, Any],
) -> tuple[MessageIn, attachments.Upload | None]:
    """JSON for text; multipart for a file (under ``files``, with the text fields)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        data, uploads = await read_form(request, MessageIn)
        if len(uploads) != 1:
            raise ValidationFailed(N_("Choose one file."), fields={"files": N_("Required.")})
        return data, uploads[0]
    try:
        raw = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ValidationFailed(N_("The request could not be understood.")) from exc
    if not isinstance(raw, dict):
        raise ValidationFailed(N_("The request could not be understood."))
    names = [item.name for item in fields(MessageIn)]
    return MessageIn(**{name: str(raw.get(name) or "") for name in names}), None


async def publish_typing(request: Request[Any, Any, Any], public_id: str, side: str) -> None:
    """Typing is a passing signal: published straight to Redis, never stored."""
    payload = {"type": "chat.typing", "conversation": public_id, "side": side}
    try:
        await request.app.state.redis.publish(
            request.app.state.settings.event_channel, json.dumps(payload)
        )
    except Exception:  # no typing dots while Redis is away; the chat itself goes on
        return


def conversation_events(public_id: str) -> Callable[[dict[str, Any]], list[tuple[str, str]]]:
    """One conversation's ``chat.*`` nudges off the shared channel, as numbers only."""

    def relay(payload: dict[str, Any]) -> list[tuple[str, str]]:
        kind = str(payload.get("type", ""))
        if payload.get("conversation") != public_id or not kind.startswith("chat."):
            return []
        public = {k: payload[k] for k in ("seq", "side", "status", "author") if k in payload}
        return [(kind.removeprefix("chat."), json.dumps(public))]

    return relay


class WeComCallbackController(Controller):
    """WeCom's callback for a connected customer-service account (URL check and events)."""

    path = "/api/wecom/{account_id:int}/callback"
    include_in_schema = False

    @get("/", media_type="text/plain")
    async def verify(
        self,
        db_session: DbSession,
        account_id: FromPath[int],
        msg_signature: FromQuery[str] = "",
        timestamp: FromQuery[str] = "",
        nonce: FromQuery[str] = "",
        echostr: FromQuery[str] = "",
    ) -> str:
        return await wecom_channel.verify_url(
            db_session, account_id, msg_signature, timestamp, nonce, echostr
        )

    @post("/", media_type="text/plain", status_code=200)
    async def event(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        account_id: FromPath[int],
        msg_signature: FromQuery[str] = "",
        timestamp: FromQuery[str] = "",
        nonce: FromQuery[str] = "",
    ) -> str:
        """Answered at once ("success"); the worker pulls the messages."""
        body = await request.body()
        await wecom_channel.receive_callback(
            db_session, account_id, msg_signature, timestamp, nonce, body[:65536]
        )
        return "success"


ROUTES = [ChatFrameController, ChatApiController, WeComCallbackController]
