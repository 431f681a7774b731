"""Macros: several changes to a ticket in one click — status, priority, type, assignee, a
reply visible to the customer and an internal note — applied all or nothing.

Every change goes through the ticket commands (the one write path), in the caller's
transaction. When any step is refused (a move the state machine forbids, a permission), the
error names the step and the caller's transaction rolls back, so nothing is half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import FollowUpMethod, Priority, RequestType, TicketStatus
from models.macro import Macro
from models.quick_reply import ReplyScope
from models.services.common.actor import Actor
from models.services.common.errors import N_, DomainError, NotFound, ValidationFailed
from models.services.composer import compose
from models.services.replies import quick
from models.services.tickets import commands
from models.services.tickets.write import check_version
from models.user import User

NAME_MAX = 120
TEXT_MAX = 5000
ASSIGN_TO_ME = "me"

# The steps, in the order they are applied; each label names the step in a refusal.
STEP_LABELS = {
    "priority": N_("Priority"),
    "request_type": N_("Request type"),
    "assignee": N_("Assignee"),
    "note": N_("Internal note"),
    "reply": N_("Reply to the customer"),
    "status": N_("Status"),
}


class StepRefused(DomainError):
    """One step of a macro was refused; nothing of the macro was applied."""

    def __init__(self, macro: str, step: str, cause: DomainError) -> None:
        super().__init__(
            N_(
                "Macro “%(macro)s” was not applied: the step “%(step)s” was refused: "
                "%(reason)s Nothing was changed."
            ),
            macro=macro,
            step=STEP_LABELS[step],
            reason=str(cause),
        )
        self.status_code = cause.status_code
        self.macro = macro
        self.step = step
        self.cause = cause


@dataclass(frozen=True)
class MacroInput:
    name: str
    scope: str = ReplyScope.PERSONAL.value
    status: str = ""
    priority: str = ""
    request_type: str = ""
    assignee: str = ""
    reply: str = ""
    note: str = ""


@dataclass(frozen=True)
class MacroRow:
    id: int
    name: str
    scope: ReplyScope
    status: TicketStatus | None
    priority: Priority | None
    request_type: RequestType | None
    assignee: str  # "", "me" or a user id
    reply: str
    note: str
    usage_count: int
    can_edit: bool


def _invalid(field: str, message: str = N_("Choose a value.")) -> ValidationFailed:
    return ValidationFailed(N_("Please correct the highlighted fields."), fields={field: message})


def _choice(enum: Any, value: str, field: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return str(enum(text).value)
    except ValueError:
        raise _invalid(field) from None


async def _clean(session: AsyncSession, data: MacroInput) -> tuple[str, ReplyScope, dict[str, Any]]:
    name = (data.name or "").strip()
    if not name:
        raise _invalid("name", N_("Required."))
    if len(name) > NAME_MAX:
        raise _invalid("name", N_("Too long."))
    try:
        scope = ReplyScope(data.scope)
    except ValueError:
        raise _invalid("scope") from None
    actions: dict[str, Any] = {}
    for key, enum in (
        ("status", TicketStatus),
        ("priority", Priority),
        ("request_type", RequestType),
    ):
        value = _choice(enum, getattr(data, key), key)
        if value:
            actions[key] = value
    assignee = (data.assignee or "").strip()
    if assignee == ASSIGN_TO_ME:
        actions["assignee"] = ASSIGN_TO_ME
    elif assignee:
        user = await session.get(User, int(assignee)) if assignee.isdigit() else None
        if user is None or not user.is_active:
            raise _invalid("assignee_id", N_("Unknown."))
        actions["assignee"] = user.id
    for key in ("reply", "note"):
        text = (getattr(data, key) or "").replace("\r\n", "\n").strip()
        if len(text) > TEXT_MAX:
            raise _invalid(key, N_("Too long."))
        if text:
            quick.check_variables(text, key)
            actions[key] = text
    if actions.get("status") == TicketStatus.COMPLETED.value and not actions.get("reply"):
        raise _invalid("reply", N_("Completing a ticket needs a reply (it is the resolution)."))
    if not actions:
        raise ValidationFailed(N_("A macro needs at least one change."))
    return name, scope, actions


def _row(actor: Actor, macro: Macro) -> MacroRow:
    scope = ReplyScope(macro.scope)
    actions = dict(macro.actions or {})
    return MacroRow(
        macro.id,
        macro.name,
        scope,
        TicketStatus(actions["status"]) if actions.get("status") else None,
        Priority(actions["priority"]) if actions.get("priority") else None,
        RequestType(actions["request_type"]) if actions.get("request_type") else None,
        str(actions.get("assignee") or ""),
        str(actions.get("reply") or ""),
        str(actions.get("note") or ""),
        macro.usage_count,
        quick.can_manage(actor, scope, macro.owner_id),
    )


def _visible(actor: Actor) -> Any:
    return or_(
        Macro.scope == ReplyScope.TEAM,
        Macro.owner_id == (actor.user_id if actor.user_id is not None else -1),
    )


async def get(session: AsyncSession, actor: Actor, macro_id: int) -> Macro:
    macro = await session.scalar(select(Macro).where(Macro.id == macro_id, _visible(actor)))
    if macro is None:
        raise NotFound(N_("Macro not found."))
    return macro


async def create(session: AsyncSession, actor: Actor, data: MacroInput) -> Macro:
    name, scope, actions = await _clean(session, data)
    owner_id = actor.user_id if scope is ReplyScope.PERSONAL else None
    quick.ensure_can_manage(actor, scope, owner_id)
    now = utcnow()
    macro = Macro(
        name=name,
        scope=scope,
        owner_id=owner_id,
        actions=actions,
        usage_count=0,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(macro)
    await session.flush()
    return macro


async def update_macro(
    session: AsyncSession, actor: Actor, macro_id: int, data: MacroInput
) -> Macro:
    macro = await get(session, actor, macro_id)
    scope = ReplyScope(macro.scope)
    quick.ensure_can_manage(actor, scope, macro.owner_id)
    fields = {k: getattr(data, k) for k in MacroInput.__dataclass_fields__ if k != "scope"}
    name, _scope, actions = await _clean(session, MacroInput(scope=scope.value, **fields))
    macro.name, macro.actions, macro.updated_at = name, actions, utcnow()
    await session.flush()
    return macro


async def delete(session: AsyncSession, actor: Actor, macro_id: int) -> None:
    macro = await get(session, actor, macro_id)
    quick.ensure_can_manage(actor, ReplyScope(macro.scope), macro.owner_id)
    await session.delete(macro)
    await session.flush()


async def rows(session: AsyncSession, actor: Actor) -> list[MacroRow]:
    found = await session.scalars(select(Macro).where(_visible(actor)).order_by(Macro.name))
    return [_row(actor, m) for m in found]


async def edit_view(session: AsyncSession, actor: Actor, macro_id: int) -> MacroRow:
    macro = await get(session, actor, macro_id)
    quick.ensure_can_manage(actor, ReplyScope(macro.scope), macro.owner_id)
    return _row(actor, macro)


async def apply_macro(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    macro_id: int,
    *,
    expected_version: int | None,
) -> None:
    """Apply every change of the macro to the ticket through the ticket commands.

    Raises :class:`StepRefused` naming the first refused step; the caller's transaction then
    rolls back whatever earlier steps wrote. Counts one use when it succeeds.
    """
    macro = await get(session, actor, macro_id)
    actions = dict(macro.actions or {})
    ticket = await commands.get(session, ticket_id)
    check_version(ticket, expected_version)
    values = await quick.values_for(session, actor, ticket)
    version: int | None = expected_version

    async def step(name: str, work: Any) -> None:
        nonlocal version
        try:
            await work(version)
        except DomainError as exc:
            raise StepRefused(macro.name, name, exc) from exc
        version = None  # later steps follow the macro's own changes

    if "priority" in actions:
        priority = Priority(actions["priority"])
        await step(
            "priority",
            lambda v: commands.change_priority(
                session, actor, ticket_id, priority, expected_version=v
            ),
        )
    if "request_type" in actions:
        request_type = RequestType(actions["request_type"])
        await step(
            "request_type",
            lambda v: commands.change_type(
                session, actor, ticket_id, request_type, expected_version=v
            ),
        )
    if "assignee" in actions:
        assignee = actor.user_id if actions["assignee"] == ASSIGN_TO_ME else actions["assignee"]
        await step(
            "assignee",
            lambda v: commands.assign(session, actor, ticket_id, assignee, expected_version=v),
        )
    target = TicketStatus(actions["status"]) if "status" in actions else None
    for key, public in (("note", False), ("reply", True)):
        if key not in actions or (public and target is TicketStatus.COMPLETED):
            continue  # completing: the reply becomes the resolution below
        text = quick.fill(actions[key], values)
        data = commands.FollowUpInput(
            method=FollowUpMethod.ONLINE_CHAT, discussed=text, visible_to_customer=public
        )
        await step(key, lambda v, data=data: _follow_up(session, actor, ticket_id, v, data))
    if target is not None:
        resolution = quick.fill(actions.get("reply", ""), values) or None
        await step(
            "status",
            lambda v: commands.move(
                session, actor, ticket_id, target, expected_version=v, resolution=resolution
            ),
        )
    await session.execute(
        update(Macro).where(Macro.id == macro.id).values(usage_count=Macro.usage_count + 1)
    )


async def _follow_up(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    expected_version: int | None,
    data: commands.FollowUpInput,
) -> None:
    if expected_version is not None:
        check_version(await commands.get(session, ticket_id), expected_version)
    if not data.visible_to_customer:
        await commands.add_follow_up(session, actor, ticket_id, data)
        return
    # A reply goes the way the composer sends it: by email where the customer wrote by
    # email and mail works, otherwise on the tracking page.
    await compose.send(
        session,
        actor,
        ticket_id,
        compose.ComposeInput(kind=compose.Kind.REPLY, record=data, confirmed=True),
    )
