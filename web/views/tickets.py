"""The ticket drawer: details, customer history, timeline, follow-ups and edits.

Opened from a board card (htmx fragment into ``#drawer``) or as its own page. Every edit
carries the version the person saw; a stale one is refused (409) by the service and board.js
reloads the drawer with the other person's change. A successful edit re-renders the drawer
and, when it was opened from the board, the card too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import discard_side_effects
from models.enums import FollowUpMethod, Priority, RequestType
from models.services.common.actor import Actor
from models.services.common.errors import N_, ValidationFailed
from models.services.composer import compose, presence
from models.services.tickets import board, commands, merge, survey_desk, surveys
from models.settings import get_settings
from web.deps import CurrentActor, DbSession
from web.forms import Form, parse_choice, parse_id
from web.security import CurrentUser, requires_staff


@dataclass
class AssignForm:
    assignee_id: str = ""  # "me": the person signed in
    version: str = ""
    inline: str = ""  # set by the drawer's inline fields: answer with the fields, not the drawer


@dataclass
class PriorityForm:
    priority: str = ""
    version: str = ""
    inline: str = ""


@dataclass
class TypeForm:
    request_type: str = ""
    version: str = ""
    inline: str = ""


@dataclass
class CollaboratorForm:
    user_id: str = ""
    version: str = ""
    inline: str = ""


@dataclass
class FollowUpForm:
    method: str = ""
    discussed: str = ""
    customer_feedback: str = ""
    next_step: str = ""
    next_owner_id: str = ""
    next_due_at: str = ""
    done: str = ""
    visible_to_customer: str = ""


@dataclass
class ComposeForm(FollowUpForm):
    kind: str = ""  # reply | note
    seen: str = ""  # the newest follow-up id when the drawer was drawn
    confirm: str = ""  # send although someone else replied since


@dataclass
class MergeForm:
    number: str = ""
    version: str = ""
    other_customer: str = ""


@dataclass
class PhoneSurveyForm:
    speed: str = ""
    solution: str = ""
    attitude: str = ""
    comment: str = ""


MIN_YEAR, MAX_YEAR = 1970, 9998


def parse_local_time(value: str, field: str) -> datetime | None:
    """A ``datetime-local`` value, read in the team's timezone."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: N_("Invalid value.")}
        ) from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:  # far dates overflow on conversion to UTC
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: N_("Invalid value.")}
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return moment


def follow_up_input(data: FollowUpForm) -> commands.FollowUpInput:
    return commands.FollowUpInput(
        method=parse_choice(FollowUpMethod, data.method, "method"),
        discussed=data.discussed,
        customer_feedback=data.customer_feedback,
        next_step=data.next_step,
        next_owner_id=parse_id(data.next_owner_id, "next_owner_id", required=False),
        next_due_at=parse_local_time(data.next_due_at, "next_due_at"),
        done=bool(data.done),
        visible_to_customer=bool(data.visible_to_customer),
    )


def compose_input(data: ComposeForm) -> compose.ComposeInput:
    return compose.ComposeInput(
        kind=compose.parse_kind(data.kind),
        record=follow_up_input(data),
        seen_follow_up_id=parse_id(data.seen, "seen", required=False) or 0,
        confirmed=bool(data.confirm),
    )


def _from_board(request: HTMXRequest) -> bool:
    details = request.htmx
    return bool(details) and urlparse(str(details.current_url or "")).path.startswith("/board")


async def render_drawer(
    request: HTMXRequest,
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    *,
    opened: bool = False,
) -> Response[Any]:
    """The drawer fragment (plus the card, out of band, on the board) or the full page;
    ``opened``: a person opens it (which clears the "customer replied" mark)."""
    context = await _drawer_context(request, session, actor, ticket_id, opened=opened)
    if request.htmx:
        return HTMXTemplate(template_name="tickets/partials/_drawer_response.html", context=context)
    return Template("tickets/show.html", context=context)


async def _drawer_context(
    request: HTMXRequest,
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    *,
    opened: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    # Held while both parts read it: the session's identity map keeps only what is referenced,
    # and the second part would otherwise load the ticket and its relations again.
    held = await commands.get(session, ticket_id)
    if opened:
        detail = await board.open_ticket(session, actor, ticket_id)
    else:
        detail = await board.ticket_detail(session, actor, ticket_id)
    composer = await compose.view(session, actor, ticket_id)
    del held
    return {
        "t": detail,
        "c": composer,
        "me_id": actor.user_id,
        "priorities": list(Priority),
        "request_types": list(RequestType),
        "methods": list(FollowUpMethod),
        "with_card": _from_board(request),
        "timezone": get_settings().timezone,
        **extra,
    }


async def _part(
    request: HTMXRequest,
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    template: str,
    target: str,
    status: int = 200,
    **extra: Any,
) -> Response[Any]:
    """A part of the drawer (the inline fields, the composer) re-drawn in place."""
    context = await _drawer_context(request, session, actor, ticket_id, **extra)
    return HTMXTemplate(
        template_name=template,
        context=context,
        status_code=status,
        re_target=target,
        re_swap="outerHTML",
    )


async def _edit(
    request: HTMXRequest,
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    inline: str,
    run: Callable[[], Awaitable[object]],
) -> Response[Any]:
    """An edit from the drawer: an inline field answers with the fields (its own "saved" mark,
    or its refusal on the field and nothing saved); a plain form with the drawer."""
    if not (request.htmx and inline):
        await run()
        return _done(request, ticket_id) or await render_drawer(request, session, actor, ticket_id)
    try:
        await run()
    except ValidationFailed as exc:
        await session.rollback()
        discard_side_effects(session)
        fields = exc.fields if inline in exc.fields else {inline: exc.message}
        return await _part(
            request,
            session,
            actor,
            ticket_id,
            "tickets/partials/_handling_response.html",
            "#drawer-handling",
            status=exc.status_code,
            errors=fields,
        )
    return await _part(
        request,
        session,
        actor,
        ticket_id,
        "tickets/partials/_handling_response.html",
        "#drawer-handling",
        saved=inline,
    )


def _display_name(request: Request[Any, Any, Any], actor: Actor) -> str:
    user = request.scope.get("user")
    return user.display_name if isinstance(user, CurrentUser) else actor.label


def _done(request: HTMXRequest, ticket_id: int) -> Redirect | None:
    """Plain form posts (no JavaScript) go back to the ticket page."""
    return None if request.htmx else Redirect(f"/tickets/{ticket_id}")


class TicketController(Controller):
    path = "/tickets"
    guards = [requires_staff]
    include_in_schema = False

    @get("/{ticket_id:int}")
    async def show(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
    ) -> Response[Any]:
        return await render_drawer(request, db_session, actor, ticket_id, opened=True)

    @post("/{ticket_id:int}/assign", status_code=200)
    async def assign(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[AssignForm, Form],
    ) -> Response[Any]:
        async def run() -> object:
            who = (
                actor.user_id
                if data.assignee_id == "me"
                else parse_id(data.assignee_id, "assignee_id", required=False)
            )
            return await commands.assign(
                db_session,
                actor,
                ticket_id,
                who,
                expected_version=parse_id(data.version, "version"),
            )

        return await _edit(request, db_session, actor, ticket_id, data.inline, run)

    @post("/{ticket_id:int}/priority", status_code=200)
    async def priority(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[PriorityForm, Form],
    ) -> Response[Any]:
        async def run() -> object:
            return await commands.change_priority(
                db_session,
                actor,
                ticket_id,
                parse_choice(Priority, data.priority, "priority"),
                expected_version=parse_id(data.version, "version"),
            )

        return await _edit(request, db_session, actor, ticket_id, data.inline, run)

    @post("/{ticket_id:int}/type", status_code=200)
    async def request_type(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[TypeForm, Form],
    ) -> Response[Any]:
        async def run() -> object:
            return await commands.change_type(
                db_session,
                actor,
                ticket_id,
                parse_choice(RequestType, data.request_type, "request_type"),
                expected_version=parse_id(data.version, "version"),
            )

        return await _edit(request, db_session, actor, ticket_id, data.inline, run)

    @post("/{ticket_id:int}/collaborators", status_code=200)
    async def add_collaborator(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[CollaboratorForm, Form],
    ) -> Response[Any]:
        async def run() -> object:
            return await commands.add_collaborator(
                db_session,
                actor,
                ticket_id,
                parse_id(data.user_id, "user_id") or 0,
                expected_version=parse_id(data.version, "version"),
            )

        return await _edit(request, db_session, actor, ticket_id, data.inline, run)

    @post("/{ticket_id:int}/collaborators/remove", status_code=200)
    async def remove_collaborator(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[CollaboratorForm, Form],
    ) -> Response[Any]:
        async def run() -> object:
            return await commands.remove_collaborator(
                db_session,
                actor,
                ticket_id,
                parse_id(data.user_id, "user_id") or 0,
                expected_version=parse_id(data.version, "version"),
            )

        return await _edit(request, db_session, actor, ticket_id, data.inline, run)

    @post("/{ticket_id:int}/follow-ups", status_code=200)
    async def add_follow_up(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[FollowUpForm, Form],
    ) -> Response[Any]:
        await commands.add_follow_up(db_session, actor, ticket_id, follow_up_input(data))
        return _done(request, ticket_id) or await render_drawer(
            request, db_session, actor, ticket_id
        )

    @post("/{ticket_id:int}/compose", status_code=200)
    async def compose(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[ComposeForm, Form],
    ) -> Response[Any]:
        """The composer's one send: a reply by the ticket's channel or an internal note; held
        (the text kept) when someone else replied since the drawer was drawn."""
        composer = "tickets/partials/_composer.html"
        try:
            held = await compose.send(db_session, actor, ticket_id, compose_input(data))
        except ValidationFailed as exc:
            if not request.htmx:
                raise
            await db_session.rollback()
            discard_side_effects(session=db_session)
            errors = {("discussed" if k == "text" else k): v for k, v in exc.fields.items()}
            return await _part(
                request,
                db_session,
                actor,
                ticket_id,
                composer,
                "#composer",
                status=exc.status_code,
                errors=errors,
                f=asdict(data),
            )
        if held is not None:
            return await _part(
                request,
                db_session,
                actor,
                ticket_id,
                composer,
                "#composer",
                held=held,
                f=asdict(data),
            )
        await presence.clear(request.app.state.redis, ticket_id, actor.user_id or 0)
        return _done(request, ticket_id) or await render_drawer(
            request, db_session, actor, ticket_id
        )

    @get("/{ticket_id:int}/composing")
    async def composing(
        self, request: HTMXRequest, actor: CurrentActor, ticket_id: FromPath[int]
    ) -> Template:
        """Who else is writing a reply here now (the composer polls it)."""
        writers = await presence.others(request.app.state.redis, ticket_id, actor.user_id)
        return Template("tickets/partials/_collision.html", context={"writers": writers})

    @post("/{ticket_id:int}/composing", status_code=204)
    async def typing(
        self, request: HTMXRequest, actor: CurrentActor, ticket_id: FromPath[int]
    ) -> None:
        """A heartbeat while this person types in the composer."""
        if actor.user_id is not None:
            await presence.mark(
                request.app.state.redis, ticket_id, actor.user_id, _display_name(request, actor)
            )

    @post("/{ticket_id:int}/merge/preview", status_code=200)
    async def merge_preview(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[MergeForm, Form],
    ) -> Template:
        """The confirmation that names both tickets (nothing is merged yet)."""
        found = await merge.preview(db_session, actor, ticket_id, data.number)
        return Template(
            "tickets/partials/_merge_confirm.html",
            context={"m": found, "version": parse_id(data.version, "version")},
        )

    @post("/{ticket_id:int}/merge", status_code=200)
    async def merge(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[MergeForm, Form],
    ) -> Response[Any]:
        """Merge this ticket into the one numbered; the primary's drawer opens."""
        primary = await merge.merge_by_number(
            db_session,
            actor,
            ticket_id,
            data.number,
            other_customer_confirmed=bool(data.other_customer),
            expected_version=parse_id(data.version, "version"),
        )
        return _done(request, primary.id) or await render_drawer(
            request, db_session, actor, primary.id
        )

    @get("/{ticket_id:int}/survey-link")
    async def survey_link(
        self, db_session: DbSession, actor: CurrentActor, ticket_id: FromPath[int]
    ) -> Template:
        """The survey link to copy and hand over through any channel (no mailbox needed)."""
        url = await survey_desk.link(db_session, actor, ticket_id)
        return Template("tickets/partials/_survey_link.html", context={"url": url})

    @post("/{ticket_id:int}/survey/phone", status_code=200)
    async def record_phone_survey(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[PhoneSurveyForm, Form],
    ) -> Response[Any]:
        """A survey the customer answered on the phone, recorded by the person on the call."""
        answer = surveys.AnswerInput(
            speed=data.speed, solution=data.solution, attitude=data.attitude, comment=data.comment
        )
        await survey_desk.record_by_phone(db_session, actor, ticket_id, answer)
        return _done(request, ticket_id) or await render_drawer(
            request, db_session, actor, ticket_id
        )
