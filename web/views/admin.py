"""Administration: users and departments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from models.enums import RequestType, Role
from models.services.admin import api_keys, users
from models.services.common import ids
from models.services.tickets import routing
from web.deps import CurrentActor, DbSession
from web.security import requires_admin
from web.views.board import parse_id


@dataclass
class UserForm:
    username: str = ""
    display_name: str = ""
    password: str = ""
    role: str = "agent"
    department_id: str = ""


@dataclass
class ApiKeyForm:
    name: str = ""


@dataclass
class RoutingForm:
    """The department chosen for each request type ("" = no rule)."""

    consultation: str = ""
    problem: str = ""
    complaint: str = ""
    after_sales: str = ""


class AdminController(Controller):
    path = "/admin"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        return Template(
            "admin/index.html",
            context={
                "users": await users.list_users(db_session),
                "departments": await users.list_departments(db_session),
                "roles": list(Role),
                "api_keys": await api_keys.list_keys(db_session),
                "routes": await routing.routing_table(db_session),
            },
        )

    @post("/users")
    async def create_user(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[UserForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        await users.create_user(
            db_session,
            actor,
            username=data.username,
            password=data.password,
            role=data.role,
            display_name=data.display_name.strip() or None,
            department_id=ids.parse_id(data.department_id, "department_id", required=False),
        )
        return Redirect("/admin")

    # --- routing: which department handles each request type -----------------------------

    @post("/routing", status_code=200)
    async def save_routing(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[RoutingForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        routes = await routing.set_routes(
            db_session,
            actor,
            {rt: parse_id(getattr(data, rt.value), rt.value, required=False) for rt in RequestType},
        )
        return _routing_section(routes, await users.list_departments(db_session), saved=True)

    # --- API keys (shown once when created; only their hash is stored) -------------------

    @post("/api-keys", status_code=200)
    async def create_api_key(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[ApiKeyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        created, raw = await api_keys.create(db_session, actor, data.name)
        return _api_keys_section(await api_keys.list_keys(db_session), created=created, raw=raw)

    @post("/api-keys/{key_id:int}/revoke", status_code=200)
    async def revoke_api_key(
        self, db_session: DbSession, actor: CurrentActor, key_id: FromPath[int]
    ) -> Template:
        await api_keys.revoke(db_session, actor, key_id)
        return _api_keys_section(await api_keys.list_keys(db_session))


def _routing_section(routes: Any, departments: Any, **context: Any) -> Template:
    """The routing section (htmx swaps it in place; plain posts get it as a page)."""
    return Template(
        "admin/partials/_routing.html",
        context={"routes": routes, "departments": departments, **context},
    )


def _api_keys_section(keys: list[Any], **context: Any) -> Template:
    """The API key section, which the admin page swaps in place (htmx)."""
    return Template("admin/partials/_api_keys.html", context={"api_keys": keys, **context})
