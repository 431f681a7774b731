"""Administration of the SLA: the default policy, the escalation ladder, the business calendar.

Each form posts to its own route; the service parses and validates it (field errors come back
as a localized 422 through the central error mapping) and stores it, audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template

from models.services.sla import settings
from web.deps import CurrentActor, DbSession
from web.security import requires_admin

Form = Body(media_type=RequestEncodingType.URL_ENCODED)

# One optional string per policy form field (targets, their "business" boxes, levels, ladder).
PolicyForm = make_dataclass(
    "PolicyForm", [(name, str, field(default="")) for name in settings.POLICY_FIELDS]
)


@dataclass
class CalendarForm:
    timezone: str = ""
    intervals: str = ""
    wd0: str = ""
    wd1: str = ""
    wd2: str = ""
    wd3: str = ""
    wd4: str = ""
    wd5: str = ""
    wd6: str = ""
    holidays: str = ""
    workdays: str = ""


class SlaAdminController(Controller):
    path = "/admin/sla"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        return Template(
            "sla/admin.html",
            context={
                "policy": await settings.policy_form(db_session),
                "calendar": await settings.calendar_form(db_session),
            },
        )

    @post("/policy")
    async def save_policy(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[PolicyForm, Form],  # type: ignore[valid-type]
    ) -> Response[Any]:
        await settings.save_policy(db_session, actor, asdict(data))
        if not request.htmx:
            return Redirect("/admin/sla")
        return HTMXTemplate(
            template_name="sla/partials/_policy_form.html",
            context={"policy": await settings.policy_form(db_session), "saved": True},
        )

    @post("/calendar")
    async def save_calendar(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[CalendarForm, Form],
    ) -> Response[Any]:
        await settings.save_calendar(db_session, actor, asdict(data))
        if not request.htmx:
            return Redirect("/admin/sla")
        return HTMXTemplate(
            template_name="sla/partials/_calendar_form.html",
            context={"calendar": await settings.calendar_form(db_session), "saved": True},
        )
