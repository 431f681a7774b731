"""The kanban board: columns, live fragments, moves, and the department matrix.

Every fragment route returns the same partial the page includes, so a column refreshed by a
live event, a card re-read after an edit and the first render all look alike. Filters live in
the URL; board.js adds the page's filters to fragment requests that carry none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template

from models.enums import CustomerLevel, Priority, RequestType, TicketStatus
from models.services.admin import users
from models.services.common import ids
from models.services.common.errors import N_, ValidationFailed
from models.services.reports import cache
from models.services.sla.deadlines import SlaState
from models.services.tickets import board, bulk, views
from web.deps import CurrentActor, DbSession
from web.forms import Form, parse_choice, parse_id
from web.security import requires_staff

QUERY_MAX = 100


def parse_filters(params: Any) -> board.BoardFilters:
    """URL parameters to filters; unknown values are ignored rather than refused."""

    def pick(enum: Any, key: str) -> Any:
        try:
            return enum(params.get(key, "")) if params.get(key) else None
        except ValueError:
            return None

    department = str(params.get("department", "") or "")
    return board.BoardFilters(
        mine=params.get("mine") == "1",
        department_id=ids.digits(department) if department.strip() else None,
        unrouted=department == "none",
        all_departments=department == "all",
        request_type=pick(RequestType, "type"),
        priority=pick(Priority, "priority"),
        sla_state=pick(SlaState, "sla"),
        level=pick(CustomerLevel, "level"),
        q=str(params.get("q", "") or "")[:QUERY_MAX],
    )


def parse_status(value: str) -> TicketStatus:
    """A column's state from the URL (404 for anything else)."""
    try:
        return TicketStatus(value)
    except ValueError:
        raise NotFoundException() from None


@dataclass
class ViewForm:
    name: str = ""
    query: str = ""
    team: str = ""


@dataclass
class BulkForm:
    ticket_ids: str = ""  # comma-separated
    action: str = ""
    assignee_id: str = ""
    priority: str = ""
    status: str = ""
    resolution: str = ""
    primary_number: str = ""


def parse_ticket_ids(value: str) -> list[int]:
    """The selected tickets ("12,13,14"); anything else is a localized 422."""
    found = []
    for part in (value or "").split(","):
        if part.strip():
            found.append(parse_id(part, "ticket_ids") or 0)
    if not found:
        raise ValidationFailed(N_("Select at least one ticket."), fields={"ticket_ids": "x"})
    return found


def bulk_action(data: BulkForm) -> bulk.BulkAction:
    kind = parse_choice(bulk.BulkKind, data.action, "action")
    return bulk.BulkAction(
        kind=kind,
        assignee_id=parse_id(data.assignee_id, "assignee_id", required=False)
        if kind is bulk.BulkKind.ASSIGN
        else None,
        priority=parse_choice(Priority, data.priority, "priority")
        if kind is bulk.BulkKind.PRIORITY
        else None,
        status=parse_choice(TicketStatus, data.status, "status")
        if kind is bulk.BulkKind.MOVE
        else None,
        resolution=data.resolution[:5000],
        primary_number=data.primary_number[:32] if kind is bulk.BulkKind.MERGE else "",
    )


@dataclass
class MoveForm:
    ticket_id: str = ""
    version: str = ""
    status: str = ""
    resolution: str = ""


def board_context(filters: board.BoardFilters, **extra: Any) -> dict[str, Any]:
    """What every board template needs to build its fragment URLs and filter menus."""
    return {
        "filters": filters,
        "qs": filters.query_string(),
        "request_types": list(RequestType),
        "priorities": list(Priority),
        "levels": list(CustomerLevel),
        "sla_states": board.SLA_FILTERS,
        "sla_labels": board.SLA_LABELS,
        **extra,
    }


class BoardController(Controller):
    path = "/board"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Template:
        if request.query_params:
            filters = parse_filters(request.query_params)
            await views.remember(db_session, actor, filters.query_string())
        else:  # nothing asked for: the board this person last looked at, or their default
            query = await views.default_query(db_session, actor)
            filters = parse_filters(dict(parse_qsl(query)))
        columns = await board.load_board(db_session, actor, filters)
        departments = await users.list_departments(db_session)
        return Template(
            "board/index.html",
            context=board_context(
                filters,
                columns=columns,
                departments=departments,
                refusals=board.drop_refusals(actor),
                views=await views.list_views(db_session, actor),
                bulk_staff=await board.staff(db_session),
                may_share=actor.is_lead,
                me=actor.user_id,
            ),
        )

    @post("/views", status_code=200)
    async def save_view(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[ViewForm, Form],
    ) -> Response[Any]:
        view = await views.save_view(
            db_session, actor, data.name, data.query, team=data.team == "1"
        )
        return Redirect("/board" + (f"?{view.query}" if view.query else "?department=all"))

    @post("/views/{view_id:int}/delete", status_code=200)
    async def delete_view(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        view_id: FromPath[int],
    ) -> Response[Any]:
        await views.delete_view(db_session, actor, view_id)
        return Redirect("/board")

    @post("/bulk", status_code=200)
    async def bulk(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[BulkForm, Form],
    ) -> Template:
        outcomes = await bulk.apply(
            db_session, actor, parse_ticket_ids(data.ticket_ids), bulk_action(data)
        )
        return Template("board/partials/_bulk_result.html", context={"outcomes": outcomes})

    @get("/columns/{status:str}")
    async def column(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        status: FromPath[str],
    ) -> Template:
        filters = parse_filters(request.query_params)
        (column,) = await board.columns(
            db_session, actor, filters, statuses=(parse_status(status),)
        )
        return Template(
            "board/partials/_column.html", context=board_context(filters, column=column)
        )

    @get("/columns/{status:str}/more")
    async def more(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        status: FromPath[str],
    ) -> Template:
        filters = parse_filters(request.query_params)
        state = parse_status(status)
        offset = parse_id(request.query_params.get("offset", "0"), "offset") or 0
        pinned = parse_id(request.query_params.get("pinned", ""), "pinned", required=False)
        cards, next_offset = await board.column_cards(
            db_session, actor, state, filters, offset=offset, pinned=pinned
        )
        return Template(
            "board/partials/_more.html",
            context=board_context(
                filters,
                cards=cards,
                next_offset=next_offset,
                status=state,
                pinned_id=pinned,
                collapsed=board.collapsed(state),
            ),
        )

    @get("/cards/{ticket_id:int}")
    async def card(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
    ) -> Response[Any]:
        filters = parse_filters(request.query_params)
        found = await board.card(db_session, actor, ticket_id, filters)
        if found is None:  # gone, or no longer matching the filters: the card disappears
            return Response(content="", media_type="text/html")
        return Template("board/partials/_card.html", context=board_context(filters, card=found))

    @post("/move", status_code=200)
    async def move(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[MoveForm, Form],
    ) -> Response[Any]:
        filters = parse_filters(request.query_params)
        result = await board.move(
            db_session,
            actor,
            parse_id(data.ticket_id, "ticket_id") or 0,
            parse_choice(TicketStatus, data.status, "status"),
            expected_version=parse_id(data.version, "version"),
            resolution=data.resolution,
            filters=filters,
        )
        if not request.htmx:
            query = filters.query_string()
            return Redirect("/board" + (f"?{query}" if query else ""))
        return HTMXTemplate(
            template_name="board/partials/_moved.html",
            context=board_context(filters, moved=result),
        )

    @get("/matrix")
    async def matrix(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Template:
        filters = parse_filters(request.query_params)
        state = request.app.state
        rows = await cache.matrix(
            db_session, state.redis, state.settings.event_channel, actor, filters
        )
        return Template(
            "board/matrix.html",
            context=board_context(
                filters,
                rows=rows,
                statuses=list(board.ORDER),
            ),
        )
