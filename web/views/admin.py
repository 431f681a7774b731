"""Administration: staff accounts, departments, API keys, routing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from models.enums import ContactReveal, RequestType, Role
from models.services.admin import api_keys, site, twofactor, users
from models.services.common.errors import N_, ValidationFailed
from models.services.customers import registry
from models.services.tickets import routing
from web.deps import CurrentActor, DbSession
from web.forms import parse_id
from web.security import requires_admin, session_token


@dataclass
class UserForm:
    username: str = ""
    display_name: str = ""
    password: str = ""
    role: str = "agent"
    department_id: str = ""
    email: str = ""


@dataclass
class UserEditForm:
    display_name: str = ""
    role: str = "agent"
    department_id: str = ""
    email: str = ""


@dataclass
class SecurityForm:
    require_admin_2fa: str = ""


@dataclass
class ContactPolicyForm:
    agent_contact_reveal: str = ""


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


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class AdminController(Controller):
    path = "/admin"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        return Template(
            "admin/index.html",
            context={
                "departments": await users.list_departments(db_session),
                "api_keys": await api_keys.list_keys(db_session),
                "routes": await routing.routing_table(db_session),
            },
        )

    # --- staff accounts --------------------------------------------------------------------

    @get("/users")
    async def staff(self, db_session: DbSession) -> Template:
        return await _staff_page(db_session)

    @post("/users", status_code=200)
    async def create_user(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[UserForm, Form],
    ) -> Response[Any]:
        try:
            await users.create_user(
                db_session,
                actor,
                username=data.username,
                password=data.password,
                role=data.role,
                display_name=data.display_name.strip() or None,
                department_id=parse_id(data.department_id, "department_id", required=False),
                email=data.email,
            )
        except ValidationFailed as exc:
            values = {k: v for k, v in vars(data).items() if k != "password"}
            return await _staff_page(db_session, values=values, errors=exc.fields, status=422)
        return Redirect("/admin/users", status_code=303)

    @get("/users/{user_id:int}")
    async def edit_user(self, db_session: DbSession, user_id: FromPath[int]) -> Template:
        return await _user_page(db_session, await users.get_user(db_session, user_id))

    @post("/users/{user_id:int}", status_code=200)
    async def save_user(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        user_id: FromPath[int],
        data: Annotated[UserEditForm, Form],
    ) -> Template:
        try:
            user = await users.update_user(
                db_session,
                actor,
                user_id,
                display_name=data.display_name,
                role=data.role,
                department_id=parse_id(data.department_id, "department_id", required=False),
                email=data.email,
            )
        except ValidationFailed as exc:
            user = await users.get_user(db_session, user_id)
            return await _user_page(
                db_session, user, values=vars(data), errors=exc.fields, status=422
            )
        return await _user_page(db_session, user, saved=True)

    @post("/users/{user_id:int}/deactivate", status_code=200)
    async def deactivate_user(
        self, db_session: DbSession, actor: CurrentActor, user_id: FromPath[int]
    ) -> Template:
        user = await users.set_active(db_session, actor, user_id, False)
        return _status_section(user)

    @post("/users/{user_id:int}/activate", status_code=200)
    async def activate_user(
        self, db_session: DbSession, actor: CurrentActor, user_id: FromPath[int]
    ) -> Template:
        user = await users.set_active(db_session, actor, user_id, True)
        return _status_section(user)

    @post("/users/{user_id:int}/reset-password", status_code=200)
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        user_id: FromPath[int],
    ) -> Template:
        # The user's sessions end; an admin resetting their own keeps this one.
        user, raw = await users.reset_password(
            db_session, actor, user_id, keep_token=session_token(request)
        )
        return _status_section(user, temporary_password=raw)

    @post("/users/{user_id:int}/reset-2fa", status_code=200)
    async def reset_two_factor(
        self, db_session: DbSession, actor: CurrentActor, user_id: FromPath[int]
    ) -> Template:
        user = await users.get_user(db_session, user_id)
        twofactor.disable(db_session, actor, user)
        return _status_section(user, two_factor_reset=True)

    @post("/security", status_code=200)
    async def save_security(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[SecurityForm, Form]
    ) -> Template:
        await site.set_require_admin_2fa(db_session, actor, data.require_admin_2fa == "on")
        return _security_section(await site.get_site(db_session), saved=True)

    @post("/contact-policy", status_code=200)
    async def save_contact_policy(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[ContactPolicyForm, Form]
    ) -> Template:
        try:
            policy = ContactReveal(data.agent_contact_reveal)
        except ValueError:
            raise ValidationFailed(
                N_("Choose whose contact details agents may reveal."),
                fields={"agent_contact_reveal": N_("Choose one of the options.")},
            ) from None
        await site.set_contact_reveal(db_session, actor, policy)
        return _contact_policy_section(await site.get_site(db_session), saved=True)

    # --- routing: which department handles each request type -----------------------------

    @post("/routing", status_code=200)
    async def save_routing(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[RoutingForm, Form],
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
        data: Annotated[ApiKeyForm, Form],
    ) -> Template:
        created, raw = await api_keys.create(db_session, actor, data.name)
        return _api_keys_section(await api_keys.list_keys(db_session), created=created, raw=raw)

    @post("/api-keys/{key_id:int}/revoke", status_code=200)
    async def revoke_api_key(
        self, db_session: DbSession, actor: CurrentActor, key_id: FromPath[int]
    ) -> Template:
        await api_keys.revoke(db_session, actor, key_id)
        return _api_keys_section(await api_keys.list_keys(db_session))


async def _staff_page(db_session: DbSession, *, status: int = 200, **context: Any) -> Template:
    """The staff list with the new-account form (and its inline errors, if any)."""
    return Template(
        "admin/users.html",
        context={
            "users": await users.list_users(db_session),
            "departments": await users.list_departments(db_session),
            "roles": list(Role),
            "site": await site.get_site(db_session),
            "contact_reveals": list(ContactReveal),
            "reveal_days": registry.REVEAL_AFTER_DONE.days,
            "values": {},
            "errors": {},
            **context,
        },
        status_code=status,
    )


async def _user_page(
    db_session: DbSession, user: Any, *, status: int = 200, **context: Any
) -> Template:
    values = {
        "display_name": user.display_name,
        "role": Role(user.role).value,
        "department_id": str(user.department_id or ""),
        "email": user.email or "",
    }
    return Template(
        "admin/user.html",
        context={
            "u": user,
            "departments": await users.list_departments(db_session),
            "roles": list(Role),
            "values": values,
            "errors": {},
            **context,
        },
        status_code=status,
    )


def _status_section(user: Any, **context: Any) -> Template:
    """An account's status and actions (htmx swaps it in place)."""
    return Template("admin/partials/_user_status.html", context={"u": user, **context})


def _security_section(row: Any, **context: Any) -> Template:
    return Template("admin/partials/_security.html", context={"site": row, **context})


def _contact_policy_section(row: Any, **context: Any) -> Template:
    return Template(
        "admin/partials/_contact_policy.html",
        context={
            "site": row,
            "contact_reveals": list(ContactReveal),
            "reveal_days": registry.REVEAL_AFTER_DONE.days,
            **context,
        },
    )


def _routing_section(routes: Any, departments: Any, **context: Any) -> Template:
    """The routing section (htmx swaps it in place; plain posts get it as a page)."""
    return Template(
        "admin/partials/_routing.html",
        context={"routes": routes, "departments": departments, **context},
    )


def _api_keys_section(keys: list[Any], **context: Any) -> Template:
    """The API key section, which the admin page swaps in place (htmx)."""
    return Template("admin/partials/_api_keys.html", context={"api_keys": keys, **context})
