"""The review queue: tickets whose type only the model decided, most informative first.

While leads have given fewer than :data:`~models.services.tickets.triage.TEACH_TARGET`
labels, the page is the "teach Kefu your tickets" step: the most informative recent tickets,
a progress bar, and "retrain now" (the same retraining request as the model page).

A lead confirms or corrects a type with one click per row; the correction goes through
:func:`models.services.tickets.triage.review_type` over ``commands.change_type`` (the same
write path as the drawer), which stores a Label the classifier learns from (a confirmation
too) and queues a retraining after N new labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from models.enums import RequestType
from models.services.tickets import triage
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
        if request.htmx:
            page = await triage.review_queue(db_session, limit=PAGE, offset=max(offset, 0))
            return Template("review/partials/_rows.html", context={"page": page})
        teach = await triage.teach_step(db_session)
        if teach.active:
            return Template("review/index.html", context={"page": teach.page, "teach": teach})
        page = await triage.review_queue(db_session, limit=PAGE, offset=max(offset, 0))
        return Template("review/index.html", context={"page": page, "teach": teach})

    @get("/teach")
    async def teach_status(self, db_session: DbSession) -> Template:
        """The teach step's progress (polled while a retraining runs)."""
        teach = await triage.teach_step(db_session, with_items=False)
        return Template("review/partials/_teach_status.html", context={"teach": teach})

    @post("/teach/retrain", status_code=200)
    async def teach_retrain(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        teach, queued = await triage.teach_retrain(db_session, actor)
        if not request.htmx:
            return Redirect("/review")
        return Template(
            "review/partials/_teach_status.html",
            context={"teach": teach, "queued": queued, "already": not queued},
        )

    @post("/{ticket_id:int}/type", status_code=200)
    async def correct(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[CorrectionForm, Form],
    ) -> Response[Any]:
        done = await triage.review_type(
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
                "number": done.ticket.number,
                "ticket_id": done.ticket.id,
                "request_type": done.ticket.request_type,
                "teach": done.teach,
            },
        )
