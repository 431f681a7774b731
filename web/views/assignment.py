"""Auto-assignment: each department's settings (leads, /admin/assignment) and everyone's
on/off-duty switch (the top bar, /duty).

The service validates (a bad field is a localized 422 through the central error mapping) and
audits; these handlers only parse the form and render.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from models.services.tickets import assignment
from web.deps import CurrentActor, DbSession
from web.security import requires_lead, requires_staff


def _context(**context: Any) -> dict[str, Any]:
    return {
        "strategies": [(s, assignment.STRATEGY_LABELS[s]) for s in assignment.STRATEGIES],
        "cap_min": assignment.CAP_MIN,
        "cap_max": assignment.CAP_MAX,
        **context,
    }


class AssignmentController(Controller):
    path = "/admin/assignment"
    guards = [requires_lead]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession, actor: CurrentActor) -> Template:
        page = await assignment.settings_page(db_session, actor)
        return Template("assignment/index.html", context=_context(departments=page))

    @post("/{department_id:int}", status_code=200)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        department_id: FromPath[int],
    ) -> Template:
        form = await request.form()
        data = assignment.SettingsInput(
            enabled=form.get("enabled") == "on",
            strategy=str(form.get("strategy") or ""),
            cap=str(form.get("cap") or ""),
            return_to_previous=form.get("return_to_previous") == "on",
            senior_ids=[str(v) for v in form.getall("senior_ids", [])],
        )
        view = await assignment.save_settings(db_session, actor, department_id, data)
        return Template(
            "assignment/partials/_department.html", context=_context(d=view, saved=True)
        )


class DutyController(Controller):
    path = "/duty"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def switch(self, db_session: DbSession, actor: CurrentActor) -> Template:
        on = await assignment.on_duty(db_session, actor)
        return Template("assignment/partials/_duty.html", context={"on_duty": on})

    @post("/", status_code=200)
    async def toggle(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        form = await request.form()
        user = await assignment.set_on_duty(db_session, actor, form.get("on") == "1")
        if not request.htmx:
            return Redirect("/account", status_code=303)
        return Template("assignment/partials/_duty.html", context={"on_duty": user.on_duty})
