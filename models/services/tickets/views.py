"""Which board a person sees: their default, the board they last looked at, and saved views.

With nothing in the address, /board shows what the person last filtered by; before they
ever filtered, their own department (a lead's: the department they belong to or
supervise; an admin's: every department). Saved views are named filter sets, personal or
shared with a team (made by leads and admins, listed for the department they were made
for, or for everyone when made by someone without a department).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.board_view import BoardView
from models.department import Department
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.user import User

NAME_MAX = 60
QUERY_MAX = 500
VIEWS_MAX = 30  # per person: the chips must still fit above the board
# The URL parameters a board view may hold (the filters, nothing else).
FILTER_KEYS = ("mine", "department", "type", "priority", "sla", "level", "q")


def clean_query(query: str) -> str:
    """Keep the filter parameters of a query string, in a stable order, without empties."""
    pairs = dict(parse_qsl(query or "", keep_blank_values=False))
    return urlencode([(k, pairs[k]) for k in FILTER_KEYS if pairs.get(k)])[:QUERY_MAX]


async def _home_department(session: AsyncSession, actor: Actor) -> int | None:
    if actor.department_id is not None:
        return actor.department_id
    if actor.is_lead and actor.user_id is not None:
        return await session.scalar(
            select(Department.id)
            .where(Department.supervisor_id == actor.user_id)
            .order_by(Department.id)
            .limit(1)
        )
    return None


async def default_query(session: AsyncSession, actor: Actor) -> str:
    """The board to show with nothing in the address: the remembered one, else the role's."""
    if actor.user_id is None:
        return ""
    user = await session.get(User, actor.user_id)
    remembered = (user.board_prefs or {}).get("query") if user is not None else None
    if remembered:
        return clean_query(str(remembered))
    if actor.is_admin:
        return ""
    department = await _home_department(session, actor)
    return f"department={department}" if department else ""


async def remember(session: AsyncSession, actor: Actor, query: str) -> None:
    """Keep the board this person just looked at (only when it changed)."""
    if actor.user_id is None:
        return
    user = await session.get(User, actor.user_id)
    query = clean_query(query)
    if user is None or not query or (user.board_prefs or {}).get("query") == query:
        return
    user.board_prefs = {"query": query}


@dataclass(frozen=True)
class ViewChip:
    id: int
    name: str
    query: str
    team: bool
    mine: bool  # the person may delete it


def _visible(actor: Actor) -> object:
    team = BoardView.team.is_(True) & or_(
        BoardView.department_id.is_(None), BoardView.department_id == actor.department_id
    )
    return or_(BoardView.owner_id == actor.user_id, team)


async def list_views(session: AsyncSession, actor: Actor) -> list[ViewChip]:
    """The person's own views and their team's, team views first, then by name."""
    if actor.user_id is None:
        return []
    rows = (
        await session.scalars(
            select(BoardView)
            .where(_visible(actor))  # type: ignore[arg-type]
            .order_by(BoardView.team.desc(), BoardView.name, BoardView.id)
        )
    ).all()
    return [ViewChip(v.id, v.name, v.query, v.team, v.owner_id == actor.user_id) for v in rows]


async def save_view(
    session: AsyncSession, actor: Actor, name: str, query: str, *, team: bool = False
) -> BoardView:
    """Save the filters under a name (a person's names are unique; saving again replaces)."""
    if actor.user_id is None:
        raise Forbidden(N_("Only staff can save board views."))
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(N_("Give the view a name."), fields={"name": N_("Required.")})
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            N_("A view name has at most %(n)s characters."),
            fields={"name": N_("Too long.")},
            n=NAME_MAX,
        )
    if team and not actor.is_lead:
        raise Forbidden(N_("Only leads and admins can save a view for the team."))
    query = clean_query(query)
    existing = await session.scalar(
        select(BoardView).where(BoardView.owner_id == actor.user_id, BoardView.name == name)
    )
    if existing is not None:
        existing.query, existing.team = query, team
        existing.department_id = actor.department_id
        return existing
    count = len(
        (
            await session.scalars(select(BoardView.id).where(BoardView.owner_id == actor.user_id))
        ).all()
    )
    if count >= VIEWS_MAX:
        raise ValidationFailed(N_("You have saved %(n)s views; delete one first."), n=VIEWS_MAX)
    view = BoardView(
        name=name,
        owner_id=actor.user_id,
        team=team,
        department_id=actor.department_id,
        query=query,
    )
    session.add(view)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise ValidationFailed(
            N_("A view with this name already exists."), fields={"name": N_("Taken.")}
        ) from None
    return view


async def delete_view(session: AsyncSession, actor: Actor, view_id: int) -> None:
    """Delete one of the person's own views."""
    view = await session.get(BoardView, view_id)
    if view is None or not (view.owner_id == actor.user_id or (view.team and _sees(actor, view))):
        raise NotFound(N_("No such view."))
    if view.owner_id != actor.user_id:
        raise Forbidden(N_("Only the person who saved a view can delete it."))
    await session.execute(delete(BoardView).where(BoardView.id == view.id))


def _sees(actor: Actor, view: BoardView) -> bool:
    return view.department_id is None or view.department_id == actor.department_id
