"""The customer registry (record 1): list, search and filter; the customer page with the
whole history; create and edit; level changes and contact reveals (audited; leads, and
agents as the contact policy allows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from models.enums import CustomerLevel, CustomerType, Industry
from models.services.common import ids
from models.services.common.errors import N_, ValidationFailed
from models.services.customers import registry
from models.services.tickets import commands, customer_merge
from web.deps import CurrentActor, DbSession
from web.security import requires_lead, requires_staff

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def _enum_or_none(enum: Any, value: str | None) -> Any:
    try:
        return enum(value) if value else None
    except ValueError:
        return None


@dataclass
class CustomerForm:
    name: str = ""
    type: str = "individual"
    contact_person: str = ""
    phone: str = ""
    email: str = ""
    industry: str = ""
    level: str = "normal"
    notes: str = ""


@dataclass
class LevelForm:
    level: str = ""


@dataclass
class MergeForm:
    primary_id: str = ""


@dataclass(frozen=True)
class CustomerFormView:
    """The create/edit form as rendered; contacts are never pre-filled (they stay masked)."""

    action: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    customer_id: int | None = None
    masked: registry.Contacts | None = None
    can_set_level: bool = False
    types: tuple[Any, ...] = tuple(CustomerType)
    levels: tuple[Any, ...] = tuple(CustomerLevel)
    industries: tuple[Any, ...] = tuple(Industry)


def _filters(params: Any) -> registry.CustomerFilters:
    return registry.CustomerFilters(
        query=params.get("q", "")[:100],
        level=_enum_or_none(CustomerLevel, params.get("level")),
        industry=_enum_or_none(Industry, params.get("industry")),
        type=_enum_or_none(CustomerType, params.get("type")),
    )


def _form_page(form: CustomerFormView, status: int = 200) -> Template:
    return Template("customers/form.html", context={"form": form}, status_code=status)


class CustomerController(Controller):
    path = "/customers"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        params = request.query_params
        offset = params.get("offset", "0")
        page = await registry.list_page(
            db_session, _filters(params), offset=ids.digits(offset) or 0
        )
        query = {k: params.get(k, "") for k in ("q", "level", "type", "industry")}
        return Template(
            "customers/index.html",
            context={
                "page": page,
                "levels": list(CustomerLevel),
                "industries": list(Industry),
                "types": list(CustomerType),
                **query,
                "query_string": urlencode({k: v for k, v in query.items() if v}),
            },
        )

    @get("/new")
    async def new(self, actor: CurrentActor) -> Template:
        return _form_page(CustomerFormView(action="/customers", can_set_level=actor.is_lead))

    @post("/", status_code=200)
    async def create(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[CustomerForm, Form]
    ) -> Response[Any]:
        try:
            customer = await registry.create(
                db_session,
                actor,
                registry.CustomerInput(
                    name=data.name,
                    phone=data.phone,
                    email=data.email,
                    type=_enum_or_none(CustomerType, data.type) or CustomerType.INDIVIDUAL,
                    contact_person=data.contact_person,
                    industry=_enum_or_none(Industry, data.industry),
                    level=_enum_or_none(CustomerLevel, data.level) or CustomerLevel.NORMAL,
                    notes=data.notes,
                ),
            )
        except ValidationFailed as exc:
            return _form_page(
                CustomerFormView(
                    action="/customers",
                    values=vars(data),
                    errors=exc.fields,
                    can_set_level=actor.is_lead,
                ),
                status=422,
            )
        return Redirect(f"/customers/{customer.id}", status_code=303)

    @get("/{customer_id:int}")
    async def detail(
        self, db_session: DbSession, actor: CurrentActor, customer_id: FromPath[int]
    ) -> Response[Any]:
        merged_into = await registry.merged_target(db_session, customer_id)
        if merged_into is not None:
            return Redirect(f"/customers/{merged_into}", status_code=303)
        profile = await registry.profile(db_session, actor, customer_id)
        return Template(
            "customers/detail.html", context={"c": profile, "levels": list(CustomerLevel)}
        )

    @get("/{customer_id:int}/merge", guards=[requires_lead])
    async def merge_page(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        customer_id: FromPath[int],
    ) -> Template:
        """Pick the record to keep (search by number or name), then confirm naming both."""
        params = request.query_params
        into = ids.digits(params.get("into", ""))
        view = await registry.merge_view(
            db_session, actor, customer_id, query=params.get("q", "")[:100], into=into
        )
        return Template("customers/merge.html", context={"m": view})

    @post("/{customer_id:int}/merge", guards=[requires_lead], status_code=200)
    async def merge(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        customer_id: FromPath[int],
        data: Annotated[MergeForm, Form],
    ) -> Response[Any]:
        """Merge this record into the chosen one (audited); the kept record's page follows."""
        primary_id = ids.digits(data.primary_id)
        if primary_id is None:
            raise ValidationFailed(
                N_("Please correct the highlighted fields."),
                fields={"primary": N_("Choose another customer.")},
            )
        primary = await customer_merge.merge(db_session, actor, customer_id, primary_id)
        return Redirect(f"/customers/{primary.id}", status_code=303)

    @post("/{customer_id:int}/not-duplicate", status_code=200)
    async def not_duplicate(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        customer_id: FromPath[int],
    ) -> Response[Any]:
        """'Not the same person': clear the possible-duplicate mark (audited)."""
        await registry.dismiss_duplicate(db_session, actor, customer_id)
        if request.htmx:
            return Template(
                "customers/partials/_duplicate.html",
                context={"customer_id": customer_id, "duplicate": None, "dismissed": True},
            )
        return Redirect(f"/customers/{customer_id}", status_code=303)

    @get("/{customer_id:int}/edit")
    async def edit(
        self, db_session: DbSession, actor: CurrentActor, customer_id: FromPath[int]
    ) -> Template:
        profile = await registry.profile(db_session, actor, customer_id)
        values = {
            "name": profile.name,
            "type": profile.type.value,
            "contact_person": profile.contact_person or "",
            "industry": profile.industry.value if profile.industry else "",
            "notes": profile.notes or "",
        }
        return _form_page(
            CustomerFormView(
                action=f"/customers/{customer_id}",
                values=values,
                customer_id=customer_id,
                masked=profile.contacts,
            )
        )

    @post("/{customer_id:int}", status_code=200)
    async def save(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        customer_id: FromPath[int],
        data: Annotated[CustomerForm, Form],
    ) -> Response[Any]:
        try:
            await registry.update(
                db_session,
                actor,
                customer_id,
                registry.CustomerEdit(
                    name=data.name,
                    type=_enum_or_none(CustomerType, data.type) or CustomerType.INDIVIDUAL,
                    contact_person=data.contact_person,
                    industry=_enum_or_none(Industry, data.industry),
                    notes=data.notes,
                    phone=data.phone,
                    email=data.email,
                ),
            )
        except ValidationFailed as exc:
            return _form_page(
                CustomerFormView(
                    action=f"/customers/{customer_id}",
                    values=vars(data),
                    errors=exc.fields,
                    customer_id=customer_id,
                ),
                status=422,
            )
        return Redirect(f"/customers/{customer_id}", status_code=303)

    @post("/{customer_id:int}/level", guards=[requires_lead], status_code=200)
    async def change_level(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        customer_id: FromPath[int],
        data: Annotated[LevelForm, Form],
    ) -> Response[Any]:
        level = _enum_or_none(CustomerLevel, data.level)
        if level is None:
            raise ValidationFailed(
                N_("Please correct the highlighted fields."),
                fields={"level": N_("Choose a level from the list.")},
            )
        customer = await commands.change_customer_level(db_session, actor, customer_id, level)
        if not request.htmx:
            return Redirect(f"/customers/{customer_id}", status_code=303)
        return Template(
            "customers/partials/_level.html",
            context={
                "customer_id": customer.id,
                "level": CustomerLevel(customer.level),
                "levels": list(CustomerLevel),
                "can_change_level": True,
                "saved": True,
            },
        )

    @post("/{customer_id:int}/reveal", guards=[requires_staff], status_code=200)
    async def reveal(
        self, db_session: DbSession, actor: CurrentActor, customer_id: FromPath[int]
    ) -> Template:
        contacts = await registry.reveal(db_session, actor, customer_id)
        return Template(
            "customers/partials/_contacts.html",
            context={
                "customer_id": customer_id,
                "contacts": contacts,
                "revealed": True,
                "can_reveal": True,
            },
        )
