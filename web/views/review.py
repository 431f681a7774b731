"""The review queue: tickets whose type only the model decided, least confident first.

A lead confirms or corrects a type with one click per row; the correction goes through
:func:`models.services.tickets.commands.change_type` (the same service as the drawer), which
stores a Label the classifier learns from and queues a retraining after N new labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from models.enums import RequestType
from models.services.tickets import commands, triage
from web.deps import CurrentActor, DbSession
from web.forms import Form, parse_choice, parse_id
from web.security import requires_lead

PAGE = 50


@dataclass
class CorrectionForm:
    request_type: str = ""
    version: str = ""


class ReviewController(Controller):
    path = "/review"
    guards = [requires_lead]
    include_in_schema = False

    @get("/")
    async def index(
        self, request: HTMXRequest, db_session: DbSession, offset: FromQuery[int] = 0
    ) -> Template:
        page = await triage.review_queue(db_session, limit=PAGE, offset=max(offset, 0))
        name = "review/partials/_rows.html" if request.htmx else "review/index.html"
        return Template(name, context={"page": page})

    @post("/{ticket_id:int}/type", status_code=200)
    async def correct(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[CorrectionForm, Form],
    ) -> Response[Any]:
        ticket = await commands.change_type(
            db_session,
            actor,
            ticket_id,
            parse_choice(RequestType, data.request_type, "request_type"),
            expected_version=parse_id(data.version, "version"),
        )
        if not request.htmx:
            return Redirect("/review")
        return Template(
            "review/partials/_done.html",
            context={
                "number": ticket.number,
                "ticket_id": ticket.id,
                "request_type": ticket.request_type,
            },
        )
