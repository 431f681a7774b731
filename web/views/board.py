"""The board page: one column per ticket state."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from models.enums import CustomerLevel, Priority, RequestType, TicketStatus
from models.services import board, users
from models.services.deadlines import SlaState
from web.deps import CurrentActor, DbSession
from web.security import requires_staff


def parse_filters(params: dict[str, str]) -> board.BoardFilters:
    """URL parameters to filters; unknown values are ignored rather than refused."""

    def pick(enum: Any, key: str) -> Any:
        try:
            return enum(params.get(key, "")) if params.get(key) else None
        except ValueError:
            return None

    department = params.get("department", "")
    return board.BoardFilters(
        mine=params.get("mine") == "1",
        department_id=int(department) if department.isdigit() else None,
        request_type=pick(RequestType, "type"),
        priority=pick(Priority, "priority"),
        sla_state=pick(SlaState, "sla"),
        level=pick(CustomerLevel, "level"),
        q=params.get("q", "")[:100],
    )


class BoardController(Controller):
    path = "/board"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], db_session: DbSession, actor: CurrentActor
    ) -> Template:
        filters = parse_filters(dict(request.query_params))
        columns = await board.load_board(db_session, actor, filters)
        departments = await users.list_departments(db_session)
        return Template("board/index.html", context={
            "columns": columns, "filters": filters, "departments": departments,
            "statuses": list(TicketStatus), "request_types": list(RequestType),
            "priorities": list(Priority), "levels": list(CustomerLevel),
            "sla_states": [SlaState.OK, SlaState.AT_RISK, SlaState.BREACHED],
        })
