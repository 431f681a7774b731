"""The bell: unread count, the list, mark read; and each person's delivery channels.

The bell in the top bar is an htmx fragment (``/notifications/bell``) refreshed when the
live stream says ``notification`` (the board's SSE endpoint forwards only the addressee's),
when something here changed (``kefu-notifications`` on the body), and once a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template

from models.services.notify import notifications
from web.deps import CurrentActor, DbSession
from web.i18n import get_locale
from web.security import requires_staff

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
CHANGED = "kefu-notifications"


@dataclass
class ChannelForm:
    channel: str = ""
    target: str = ""
    secret: str = ""
    scope: str = "me"
    kind_urgent_reminder: str = ""
    kind_escalation: str = ""
    kind_overdue: str = ""
    kind_low_csat: str = ""
    kind_daily_digest: str = ""
    kind_extension: str = ""
    kind_customer_reply: str = ""
    kind_reply_failed: str = ""
    kind_assigned: str = ""
    kind_mentioned: str = ""
    kind_collaborator_added: str = ""

    def kinds(self) -> list[str]:
        """The ticked kinds (none ticked: every kind)."""
        return [k for k in notifications.KINDS if getattr(self, f"kind_{k}", "")]


class NotificationController(Controller):
    path = "/notifications"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        inbox = await notifications.inbox(db_session, actor)
        if request.htmx:
            return HTMXTemplate(
                template_name="notifications/partials/_list.html", context={"inbox": inbox}
            )
        return Template("notifications/index.html", context={"inbox": inbox})

    @get("/bell")
    async def bell(self, db_session: DbSession, actor: CurrentActor) -> Template:
        count = await notifications.unread_count(db_session, actor.user_id or 0)
        return Template("notifications/partials/_bell.html", context={"unread": count})

    @post("/{notification_id:int}/read")
    async def read(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        notification_id: FromPath[int],
    ) -> Response[Any]:
        await notifications.mark_read(db_session, actor, notification_id)
        return await self._after_read(request, db_session, actor)

    @post("/read-all")
    async def read_all(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        await notifications.mark_read(db_session, actor)
        return await self._after_read(request, db_session, actor)

    async def _after_read(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        if not request.htmx:
            return Redirect("/notifications")
        inbox = await notifications.inbox(db_session, actor)
        return HTMXTemplate(
            template_name="notifications/partials/_list.html",
            context={"inbox": inbox},
            trigger_event=CHANGED,
            after="receive",
        )

    @get("/channels")
    async def channels(
        self, db_session: DbSession, actor: CurrentActor, saved: FromQuery[str] = ""
    ) -> Template:
        view = await notifications.channels_view(db_session, actor, locale=get_locale())
        kinds = await notifications.kind_settings(db_session, actor, locale=get_locale())
        return Template(
            "notifications/channels.html",
            context={"view": view, "kinds": kinds, "saved": saved == "kinds"},
        )

    @post("/kinds")
    async def save_kinds(
        self, request: Request[Any, Any, Any], db_session: DbSession, actor: CurrentActor
    ) -> Redirect:
        """The personal grid: ``bell`` lists the kinds that ring the bell, ``channel-<id>``
        the kinds each own channel hears (unticked boxes are simply absent)."""
        form = await request.form()
        channels: dict[int, list[str]] = {}
        for value in form.getall("channels", []):
            if isinstance(value, str) and value.isdigit():
                picked = form.getall(f"channel-{value}", [])
                channels[int(value)] = [k for k in picked if isinstance(k, str)]
        bell = [k for k in form.getall("bell", []) if isinstance(k, str)]
        await notifications.save_kind_settings(db_session, actor, bell=bell, channels=channels)
        return Redirect("/notifications/channels?saved=kinds", status_code=303)

    @post("/channels")
    async def add_channel(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        data: Annotated[ChannelForm, Form],
    ) -> Response[Any]:
        await notifications.add_channel(
            db_session,
            actor,
            notifications.ChannelInput(
                channel=data.channel,
                target=data.target,
                secret=data.secret,
                kinds=data.kinds(),
                scope=data.scope,
            ),
        )
        return await self._channels(request, db_session, actor)

    @post("/channels/{pref_id:int}/delete")
    async def remove_channel(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        pref_id: FromPath[int],
    ) -> Response[Any]:
        await notifications.remove_channel(db_session, actor, pref_id)
        return await self._channels(request, db_session, actor)

    @post("/channels/{pref_id:int}/test")
    async def test_channel(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        pref_id: FromPath[int],
    ) -> Response[Any]:
        await notifications.send_test(db_session, actor, pref_id)
        return await self._channels(request, db_session, actor, tested=pref_id)

    async def _channels(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        tested: int | None = None,
    ) -> Response[Any]:
        if not request.htmx:
            return Redirect("/notifications/channels")
        view = await notifications.channels_view(db_session, actor, locale=get_locale())
        return HTMXTemplate(
            template_name="notifications/partials/_channels.html",
            context={"view": view, "tested": tested},
        )
