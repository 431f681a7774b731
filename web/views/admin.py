"""Administration: users and departments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from models.enums import Role
from models.services import users
from web.deps import CurrentActor, DbSession
from web.security import requires_admin


@dataclass
class UserForm:
    username: str = ""
    display_name: str = ""
    password: str = ""
    role: str = "agent"
    department_id: str = ""


class AdminController(Controller):
    path = "/admin"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        return Template("admin/index.html", context={
            "users": await users.list_users(db_session),
            "departments": await users.list_departments(db_session),
            "roles": list(Role),
        })

    @post("/users")
    async def create_user(
        self, db_session: DbSession, actor: CurrentActor,
        data: Annotated[UserForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        await users.create_user(
            db_session, actor, username=data.username, password=data.password, role=data.role,
            display_name=data.display_name.strip() or None,
            department_id=int(data.department_id) if data.department_id.isdigit() else None,
        )
        return Redirect("/admin")
