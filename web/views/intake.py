"""Agent intake: register an inquiry taken by phone, at a visit or in a chat.

The agent finds the customer (name, number, phone or email; masked results) or enters a new
one — de-duplicated on the normalized phone/email — then the request; the ticket is created
pending, triage is enqueued and the card appears on every open board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from models.enums import CustomerType, Urgency
from models.services.common import ids
from models.services.common.errors import ValidationFailed
from models.services.tickets import attachments, intake
from models.settings import get_settings
from web.deps import CurrentActor, DbSession
from web.security import requires_staff
from web.views.attachments import file_error, read_form


@dataclass
class IntakeForm:
    customer_id: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    customer_type: str = "individual"
    description: str = ""
    urgency: str = "normal"
    channel: str = "phone"
    order_number: str = ""
    form_key: str = ""


@dataclass(frozen=True)
class IntakeFormView:
    """The intake form as rendered: values, errors, choices and a fresh idempotency key."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    form_key: str = field(default_factory=intake.new_form_key)
    channels: tuple[Any, ...] = intake.AGENT_CHANNELS
    urgencies: tuple[Any, ...] = tuple(Urgency)
    customer_types: tuple[Any, ...] = tuple(CustomerType)
    max_length: int = field(default_factory=lambda: get_settings().description_max_length)
    file_error: str = ""  # the refused file and why, already translated


def _page(request: HTMXRequest, form: IntakeFormView, status: int = 200) -> Template:
    name = "intake/partials/_form.html" if request.htmx else "intake/index.html"
    return Template(name, context={"form": form}, status_code=status)


class IntakeController(Controller):
    path = "/intake"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, request: HTMXRequest) -> Template:
        return _page(request, IntakeFormView())

    @get("/customers")
    async def find_customers(self, db_session: DbSession, q: FromQuery[str] = "") -> Template:
        matches = await intake.find_customers(db_session, q)
        return Template(
            "intake/partials/_matches.html", context={"matches": matches, "q": q.strip()[:100]}
        )

    @post("/", status_code=200)
    async def register(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        data, uploads = await read_form(request, IntakeForm)
        key = intake.form_key(data.form_key)
        try:
            result = await attachments.register_with_files(
                db_session,
                actor,
                intake.InquiryInput(
                    description=data.description,
                    channel=data.channel,
                    name=data.name,
                    phone=data.phone,
                    email=data.email,
                    customer_id=ids.digits(data.customer_id),
                    customer_type=data.customer_type,
                    urgency=data.urgency,
                    order_number=data.order_number,
                    idempotency_key=intake.idempotency_key(f"intake:{actor.user_id}", key),
                    dedupe_recent=True,
                ),
                uploads,
                source="intake",
            )
        except ValidationFailed as exc:
            form = IntakeFormView(
                values=vars(data),
                errors=exc.fields,
                form_key=data.form_key,
                file_error=file_error(exc),
            )
            return _page(request, form, status=exc.status_code)
        name = "intake/partials/_done.html" if request.htmx else "intake/done.html"
        return Template(name, context={"result": result, "number": result.ticket.number})
