"""Reports for leads: the periodic problem summary (record 5)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Template

from models.services import reports
from models.settings import get_settings
from web.deps import DbSession
from web.security import requires_lead


def month_bounds(month: str | None) -> tuple[date, datetime, datetime]:
    """[first day, next first day) of ``YYYY-MM`` (default: this month) in the team's zone."""
    zone = ZoneInfo(get_settings().timezone)
    today = datetime.now(zone).date()
    try:
        first = datetime.strptime(month or "", "%Y-%m").date()
    except ValueError:
        first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (first, datetime.combine(first, time(), zone), datetime.combine(following, time(), zone))


class ReportController(Controller):
    path = "/reports"
    guards = [requires_lead]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        first, start, end = month_bounds(request.query_params.get("month"))
        rows = await reports.summary_by_type(db_session, start, end)
        return Template("reports/index.html", context={
            "rows": rows, "month": first.strftime("%Y-%m"),
            "total": sum(r.count for r in rows),
        })
