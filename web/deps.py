"""Request-scoped dependencies: the database session (a unit of work) and the actor."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import discard_side_effects, flush_side_effects
from models.services.common.actor import Actor
from web.security import CurrentUser


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """Commit when the handler succeeds, then publish its board events and enqueue its jobs."""
    async with state.db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            discard_side_effects(session)
            raise
        await flush_side_effects(session, state.redis, state.settings.event_channel)


def provide_actor(request: Request) -> Actor:
    user = request.scope.get("user")
    if isinstance(user, CurrentUser):
        return user.actor
    return Actor.system("anonymous")


# Handler parameter types that name the dependencies above explicitly.
DbSession = NamedDependency[AsyncSession]
CurrentActor = NamedDependency[Actor]
