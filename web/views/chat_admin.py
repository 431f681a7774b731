"""Chat widgets at /admin/chat: create and change them, copy the embed code, try one out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRefresh, HTMXRequest
from litestar.response import Redirect, Response, Template

from models.services.admin.users import list_departments
from models.services.chat import wecom_channel, widgets
from models.services.common import ids
from models.services.common.errors import ValidationFailed
from web.deps import CurrentActor, DbSession
from web.forms import Form
from web.security import requires_admin

DAYS = tuple(range(7))


@dataclass
class WidgetForm:
    name: str = ""
    department_id: str = ""
    color: str = "#1677ff"
    greeting_zh: str = ""
    greeting_en: str = ""
    lang_zh: str = ""
    lang_en: str = ""
    hours_on: str = ""
    start: str = "09:00"
    end: str = "18:00"
    timezone: str = widgets.DEFAULT_TIMEZONE
    allowed_origins: str = ""
    is_active: str = ""
    # Business days as checkboxes day0 … day6 (Monday = 0).
    day0: str = ""
    day1: str = ""
    day2: str = ""
    day3: str = ""
    day4: str = ""
    day5: str = ""
    day6: str = ""

    def to_input(self) -> widgets.WidgetInput:
        days = tuple(d for d in DAYS if getattr(self, f"day{d}")) if self.hours_on else ()
        languages = tuple(
            lang for lang, on in (("zh-CN", self.lang_zh), ("en", self.lang_en)) if on
        )
        return widgets.WidgetInput(
            name=self.name,
            department_id=ids.digits(self.department_id),
            color=self.color.strip(),
            greeting_zh=self.greeting_zh,
            greeting_en=self.greeting_en,
            languages=languages,
            days=days,
            start=self.start.strip(),
            end=self.end.strip(),
            timezone=self.timezone.strip(),
            allowed_origins=self.allowed_origins,
            is_active=bool(self.is_active),
        )


def _values(widget: Any | None) -> dict[str, Any]:
    if widget is None:
        return {
            "color": "#1677ff",
            "lang_zh": "on",
            "lang_en": "on",
            "is_active": "on",
            "start": "09:00",
            "end": "18:00",
            "timezone": widgets.DEFAULT_TIMEZONE,
        }
    hours = widget.hours or {}
    values: dict[str, Any] = {
        "name": widget.name,
        "department_id": str(widget.department_id or ""),
        "color": widget.color,
        "greeting_zh": widget.greeting_zh,
        "greeting_en": widget.greeting_en,
        "lang_zh": "on" if "zh-CN" in widget.languages else "",
        "lang_en": "on" if "en" in widget.languages else "",
        "hours_on": "on" if hours else "",
        "start": hours.get("start", "09:00"),
        "end": hours.get("end", "18:00"),
        "timezone": hours.get("timezone", widgets.DEFAULT_TIMEZONE),
        "allowed_origins": widget.allowed_origins,
        "is_active": "on" if widget.is_active else "",
    }
    for day in hours.get("days", []):
        values[f"day{day}"] = "on"
    return values


@dataclass
class WeComForm:
    name: str = ""
    corp_id: str = ""
    open_kfid: str = ""
    secret: str = ""
    token: str = ""
    aes_key: str = ""
    department_id: str = ""
    base_url: str = wecom_channel.DEFAULT_BASE_URL
    is_active: str = ""

    def to_input(self) -> wecom_channel.AccountInput:
        return wecom_channel.AccountInput(
            name=self.name,
            corp_id=self.corp_id,
            open_kfid=self.open_kfid,
            secret=self.secret,
            token=self.token,
            aes_key=self.aes_key,
            department_id=ids.digits(self.department_id),
            base_url=self.base_url,
            is_active=bool(self.is_active),
        )


class ChatWidgetAdminController(Controller):
    path = "/admin/chat"
    guards = [requires_admin]
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: Any,
        *,
        editing: Any = None,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        wecom_values: dict[str, Any] | None = None,
        wecom_errors: dict[str, str] | None = None,
    ) -> Template:
        return Template(
            "chat/admin.html",
            context={
                "widgets": await widgets.all_widgets(db_session),
                "departments": await list_departments(db_session),
                "editing": editing,
                "values": values if values is not None else _values(editing),
                "errors": errors or {},
                "base_url": str(request.base_url).rstrip("/"),
                "identity_secret": widgets.identity_secret(editing) if editing else None,
                "wecom_accounts": await wecom_channel.account_rows(db_session),
                "wecom_values": wecom_values
                or {"base_url": wecom_channel.DEFAULT_BASE_URL, "is_active": "on"},
                "wecom_errors": wecom_errors or {},
            },
            status_code=status,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._page(request, db_session)

    @get("/{widget_id:int}")
    async def edit(
        self, request: Request[Any, Any, Any], db_session: DbSession, widget_id: FromPath[int]
    ) -> Template:
        widget = await widgets.get(db_session, widget_id)
        return await self._page(request, db_session, editing=widget)

    @post("/")
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[WidgetForm, Form],
    ) -> Response[Any]:
        return await self._save(request, db_session, actor, data, None)

    @post("/{widget_id:int}")
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        widget_id: FromPath[int],
        data: Annotated[WidgetForm, Form],
    ) -> Response[Any]:
        return await self._save(request, db_session, actor, data, widget_id)

    async def _save(
        self,
        request: Request[Any, Any, Any],
        db_session: Any,
        actor: Any,
        data: WidgetForm,
        widget_id: int | None,
    ) -> Response[Any]:
        try:
            await widgets.save(db_session, actor, data.to_input(), widget_id)
        except ValidationFailed as exc:
            editing = await widgets.get(db_session, widget_id) if widget_id else None
            await db_session.rollback()
            return await self._page(
                request,
                db_session,
                editing=editing,
                values=vars(data),
                errors=exc.fields,
                status=exc.status_code,
            )
        return Redirect("/admin/chat", status_code=303)

    @post("/{widget_id:int}/identity-secret")
    async def renew_identity_secret(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        widget_id: FromPath[int],
    ) -> Response[Any]:
        """A new key for signed identities (the site must sign with it from now on)."""
        await widgets.renew_identity_secret(db_session, actor, widget_id)
        if request.htmx:
            return ClientRefresh()
        return Redirect(f"/admin/chat/{widget_id}#identity", status_code=303)

    @get("/{widget_id:int}/preview")
    async def preview(self, db_session: DbSession, widget_id: FromPath[int]) -> Template:
        """A blank page with the widget embedded, as a site would have it."""
        widget = await widgets.get(db_session, widget_id)
        return Template("chat/preview.html", context={"widget": widget})

    @post("/wecom")
    async def connect_wecom(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[WeComForm, Form],
    ) -> Response[Any]:
        """Connect a WeCom customer-service account (secrets are sealed, never shown again)."""
        try:
            await wecom_channel.save_account(db_session, actor, data.to_input())
        except ValidationFailed as exc:
            await db_session.rollback()
            values = {
                k: v for k, v in vars(data).items() if k not in ("secret", "token", "aes_key")
            }
            return await self._page(
                request,
                db_session,
                wecom_values=values,
                wecom_errors=exc.fields,
                status=exc.status_code,
            )
        return Redirect("/admin/chat", status_code=303)
