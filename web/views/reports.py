"""Reports for leads: the problem summary (record 5) with charts, and the KPI dashboard.

Handlers parse the period, make the service call and hand the template view-models: chart
geometry (:mod:`web.charts`), display strings and green/red flags are computed here, never in
the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template

from models.enums import RequestType
from models.services.admin import users
from models.services.common.errors import N_
from models.services.reports import cache, chat_figures, kpi
from models.services.reports import summary as reports
from models.services.reports.kpi import Direction, Unit
from web import charts
from web.deps import CurrentActor, DbSession
from web.i18n import gettext
from web.labels import label
from web.security import requires_lead

PERIOD_KINDS = [
    ("month", N_("Month")),
    ("quarter", N_("Quarter")),
    ("year", N_("Year")),
    ("custom", N_("Date range")),
]
DIMENSIONS = [
    ("speed", N_("Response speed")),
    ("solution", N_("Solution")),
    ("attitude", N_("Service attitude")),
]
PERIOD_KEYS = ("period", "month", "quarter", "year", "from", "to")
EXPORTS = [
    ("tickets", N_("Tickets")),
    ("follow_ups", N_("Follow-ups")),
    ("surveys", N_("Surveys")),
    ("summary", N_("Problem summary")),
]


def _key(request_type: RequestType | None) -> str:
    return request_type.value if request_type else "none"


def _type_label(request_type: RequestType | None) -> str:
    return label(request_type) if request_type else gettext("Unclassified")


@dataclass(frozen=True)
class PeriodForm:
    """The period picker's current values and choices (for either side of a comparison)."""

    prefix: str
    period: reports.Period
    quarters: list[str]
    years: list[str]

    @property
    def month(self) -> str:
        return f"{self.period.first_day:%Y-%m}"

    @property
    def quarter(self) -> str:
        return (
            self.period.key
            if self.period.kind == "quarter"
            else f"{self.period.first_day.year}-Q{(self.period.first_day.month - 1) // 3 + 1}"
        )

    @property
    def year(self) -> str:
        return str(self.period.first_day.year)


def period_form(period: reports.Period, today: date, prefix: str = "") -> PeriodForm:
    quarters = []
    year, quarter = today.year, (today.month - 1) // 3 + 1
    for _ in range(12):
        quarters.append(f"{year}-Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    years = [str(today.year - i) for i in range(8)]
    form = PeriodForm(prefix, period, quarters, years)
    if form.quarter not in quarters:
        quarters.append(form.quarter)
    if form.year not in years:
        years.append(form.year)
    return form


def _query(params: Mapping[str, str], keys: Sequence[str]) -> str:
    return urlencode({k: params[k] for k in keys if params.get(k)})


def topic_columns(found: Mapping[RequestType, Any]) -> list[tuple[RequestType, str, Any]]:
    """The topics section: every request type, with its most frequent problems."""
    return [(rt, _type_label(rt), found.get(rt, [])) for rt in RequestType]


def summary_context(
    summary: reports.ProblemSummary,
    departments: Sequence[Any],
    today: date,
    topics: Mapping[RequestType, Any] | None = None,
) -> dict[str, Any]:
    """The problem summary page's view-model (``topics`` None: the page loads them after)."""
    period_params = {**summary.period.params(), "department": str(summary.department_id or "")}
    query = _query(period_params, [*PERIOD_KEYS, "department"])
    weekly = summary.weekly
    series = [
        (_key(rt), _type_label(rt), counts)
        for rt, counts in weekly.counts.items()
        if rt is not None or any(counts)
    ]
    distribution = summary.total.satisfaction.distribution
    return {
        "summary": summary,
        "form": period_form(summary.period, today),
        "kinds": PERIOD_KINDS,
        "departments": departments,
        "department_id": summary.department_id,
        "rows": [
            (row, _key(row.request_type), _type_label(row.request_type)) for row in summary.rows
        ],
        "donut": charts.donut(
            [(_key(r.request_type), _type_label(r.request_type), r.count) for r in summary.rows]
        ),
        "weekly_chart": charts.line_chart(series, [f"{d:%m-%d}" for d in weekly.starts]),
        "satisfaction": charts.stacked_bars(
            [(key, gettext(text), distribution[i]) for i, (key, text) in enumerate(DIMENSIONS)]
        ),
        "topics": None if topics is None else topic_columns(topics),
        "exports": [
            (gettext(text), f"/exports/{record}.csv?{query}", f"/exports/{record}.xlsx?{query}")
            for record, text in EXPORTS
        ],
        "customer_exports": ("/exports/customers.csv", "/exports/customers.xlsx"),
        "query": query,
    }


def format_value(definition: kpi.KpiDef, value: float | None) -> str:
    """A KPI value for display: 92.5%, 3.2 h, 1.25."""
    if value is None:
        return "—"
    if definition.unit is Unit.PERCENT:
        return f"{value * 100:.1f}%"
    if definition.unit is Unit.HOURS:
        return gettext("%(n)s h", n=f"{value:.1f}")
    return f"{value:.2f}"


def format_change(row: kpi.Comparison) -> str:
    change = row.change
    if change is None:
        return ""
    sign = "+" if change > 0 else ""
    if row.definition.unit is Unit.PERCENT:
        return gettext("%(n)s pts", n=f"{sign}{change * 100:.1f}")
    if row.definition.unit is Unit.HOURS:
        return gettext("%(n)s h", n=f"{sign}{change:.1f}")
    return f"{sign}{change:.2f}"


def target_text(definition: kpi.KpiDef, target: float) -> str:
    symbol = "≥" if definition.direction is Direction.AT_LEAST else "≤"
    return f"{symbol} {format_value(definition, target)}"


def kpi_context(board: kpi.Dashboard, departments: Sequence[Any], today: date) -> dict[str, Any]:
    """The KPI dashboard's view-model: each KPI's two values, colours and the targets form."""
    params = {
        **board.a.period.params(),
        **board.b.period.params("b_"),
        "department": str(board.department_id or ""),
    }
    rows = [
        {
            "key": row.definition.key,
            "label": gettext(row.definition.label),
            "target": target_text(row.definition, row.target),
            "a": format_value(row.definition, row.a.value),
            "a_state": row.a.state.value,
            "b": format_value(row.definition, row.b.value),
            "b_state": row.b.state.value,
            "change": format_change(row),
            "improved": row.improved,
        }
        for row in board.rows
    ]
    units = {
        Unit.PERCENT: "%",
        Unit.HOURS: gettext("hours"),
        Unit.RATE: gettext("tickets / agent-hour"),
    }
    targets_form = [
        {
            "key": d.key,
            "label": gettext(d.label),
            "value": kpi.display_target(d, board.targets[d.key]),
            "unit": units[d.unit],
            "symbol": "≥" if d.direction is Direction.AT_LEAST else "≤",
        }
        for d in kpi.KPIS
    ]
    return {
        "board": board,
        "rows": rows,
        "targets_form": targets_form,
        "form_a": period_form(board.a.period, today),
        "form_b": period_form(board.b.period, today, "b_"),
        "kinds": PERIOD_KINDS,
        "departments": departments,
        "department_id": board.department_id,
        "hidden": params,
        "query": urlencode({k: v for k, v in params.items() if v}),
    }


async def _dashboard(
    db_session: Any, params: Mapping[str, str], request: Request[Any, Any, Any] | None = None
) -> kpi.Dashboard:
    """The dashboard of the parameters' periods; cached when ``request`` is given (a handler
    that has just changed something reads it uncached, in its own transaction)."""
    a = reports.period_from_params(params)
    b = reports.period_from_params(params, prefix="b_") if params.get("b_period") else a.previous()
    department_id = reports.department_from_params(params)
    if request is None:
        return await kpi.dashboard(db_session, a, b, department_id=department_id)
    state = request.app.state
    return await cache.dashboard(
        db_session, state.redis, state.settings.event_channel, a, b, department_id=department_id
    )


async def _with_chats(
    db_session: Any, board: kpi.Dashboard, context: dict[str, Any]
) -> dict[str, Any]:
    """The live-chat figures of both periods (read uncached: chats change by the second)."""
    context["chats"] = {
        side: await chat_figures.chat_figures(db_session, pk.period, board.department_id)
        for side, pk in (("a", board.a), ("b", board.b))
    }
    return context


class ReportController(Controller):
    path = "/reports"
    guards = [requires_lead]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        params = dict(request.query_params)
        period = reports.period_from_params(params)
        department_id = reports.department_from_params(params)
        state = request.app.state
        redis, channel = state.redis, state.settings.event_channel
        # The figures now; the topics too when they are known, else the page fetches them
        # (after new inquiries, working them out takes the longest).
        summary = await cache.problem_summary(
            db_session, redis, channel, period, department_id=department_id, with_topics=False
        )
        found = await cache.topics(
            db_session, redis, channel, period, department_id=department_id, known_only=True
        )
        departments = await users.list_departments(db_session)
        return Template(
            "reports/index.html",
            context=summary_context(summary, departments, reports.today_local(), found),
        )

    @get("/topics")
    async def topics(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        """The summary's "most frequent problems" section, for the page that lacked it."""
        params = dict(request.query_params)
        period = reports.period_from_params(params)
        state = request.app.state
        found = await cache.topics(
            db_session,
            state.redis,
            state.settings.event_channel,
            period,
            department_id=reports.department_from_params(params),
        )
        assert found is not None
        return Template("reports/partials/_topics.html", context={"topics": topic_columns(found)})

    @get("/kpi")
    async def kpi_page(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        board = await _dashboard(db_session, dict(request.query_params), request)
        departments = await users.list_departments(db_session)
        context = kpi_context(board, departments, reports.today_local())
        return Template("reports/kpi.html", context=await _with_chats(db_session, board, context))

    @get("/kpi/panel")
    async def kpi_panel(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        """The dashboard fragment (what the period form swaps in); the page URL is pushed."""
        board = await _dashboard(db_session, dict(request.query_params), request)
        context = await _with_chats(
            db_session, board, kpi_context(board, [], reports.today_local())
        )
        return HTMXTemplate(
            template_name="reports/partials/_kpi.html",
            context=context,
            push_url=f"/reports/kpi?{context['query']}",
        )

    @post("/kpi/targets")
    async def save_targets(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """Save the targets; htmx gets the re-rendered dashboard, a plain form a redirect."""
        await kpi.set_targets(db_session, actor, data)
        if not request.htmx:
            return Redirect(f"/reports/kpi?{_query(data, _period_keys())}")
        board = await _dashboard(db_session, data)
        context = await _with_chats(
            db_session, board, kpi_context(board, [], reports.today_local())
        )
        context["saved"] = True
        return HTMXTemplate(template_name="reports/partials/_kpi.html", context=context)


def _period_keys() -> list[str]:
    return [*PERIOD_KEYS, *(f"b_{k}" for k in PERIOD_KEYS), "department"]
