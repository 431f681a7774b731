"""The SLA region of a ticket (deadlines, acknowledge, overdue reason, extension requests)
and the leads' queue of extension requests.

``GET /sla/tickets/<id>`` is the fragment the ticket drawer loads into its SLA region (it is
also a page of its own); every form in it posts here and gets the re-rendered region back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template

from models.services.common.actor import Actor
from models.services.escalation import extensions
from web.deps import CurrentActor, DbSession
from web.security import requires_lead, requires_staff

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class ReasonForm:
    reason: str = ""


@dataclass
class ExtensionForm:
    requested_due: str = ""
    reason: str = ""


@dataclass
class DecisionForm:
    decision: str = ""
    note: str = ""
    back: str = ""


async def _panel(
    request: HTMXRequest, db_session: DbSession, actor: Actor, ticket_id: int
) -> Response[Any]:
    panel = await extensions.panel(db_session, actor, ticket_id)
    if request.htmx:
        return HTMXTemplate(template_name="sla/partials/_ticket_sla.html", context={"panel": panel})
    return Template("sla/ticket.html", context={"panel": panel})


class SlaTicketController(Controller):
    path = "/sla"
    guards = [requires_staff]
    include_in_schema = False

    @get("/tickets/{ticket_id:int}")
    async def show(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
    ) -> Response[Any]:
        return await _panel(request, db_session, actor, ticket_id)

    @post("/tickets/{ticket_id:int}/acknowledge")
    async def acknowledge(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
    ) -> Response[Any]:
        await extensions.acknowledge(db_session, actor, ticket_id)
        return await _panel(request, db_session, actor, ticket_id)

    @post("/tickets/{ticket_id:int}/overdue-reason")
    async def overdue_reason(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[ReasonForm, Form],
    ) -> Response[Any]:
        await extensions.record_overdue_reason(db_session, actor, ticket_id, data.reason)
        return await _panel(request, db_session, actor, ticket_id)

    @post("/tickets/{ticket_id:int}/extensions")
    async def request_extension(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[ExtensionForm, Form],
    ) -> Response[Any]:
        await extensions.request_extension(
            db_session,
            actor,
            ticket_id,
            extensions.ExtensionInput(requested_due=data.requested_due, reason=data.reason),
        )
        return await _panel(request, db_session, actor, ticket_id)

    @post("/extensions/{request_id:int}/decide", guards=[requires_lead])
    async def decide(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        request_id: FromPath[int],
        data: Annotated[DecisionForm, Form],
    ) -> Response[Any]:
        approve = extensions.parse_decision(data.decision)
        decided = await extensions.decide(
            db_session, actor, request_id, approve=approve, note=data.note
        )
        if data.back == "queue":
            if not request.htmx:
                return Redirect("/sla/extensions")
            return HTMXTemplate(
                template_name="sla/partials/_queue.html",
                context={"items": await extensions.pending_requests(db_session, actor)},
            )
        return await _panel(request, db_session, actor, decided.ticket_id)

    @get("/extensions", guards=[requires_lead])
    async def queue(self, db_session: DbSession, actor: CurrentActor) -> Template:
        return Template(
            "sla/extensions.html",
            context={"items": await extensions.pending_requests(db_session, actor)},
        )
