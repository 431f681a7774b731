"""The append-only audit trail. Every change to a ticket or customer is written here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AuditEvent
from models.services.common.actor import Actor


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def record(
    session: AsyncSession,
    actor: Actor,
    *,
    entity_type: str,
    entity_id: int,
    action: str,
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    ticket_id: int | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_label=actor.label,
        entity_type=entity_type,
        entity_id=entity_id,
        ticket_id=ticket_id,
        action=action,
        field=field,
        before=_plain(before),
        after=_plain(after),
    )
    session.add(event)
    return event


async def ticket_timeline(session: AsyncSession, ticket_id: int) -> Sequence[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.ticket_id == ticket_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return (await session.scalars(stmt)).all()
