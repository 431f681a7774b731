"""Merging a duplicate ticket into its primary, as the drawer asks for it: by the primary's
number, first previewed (the confirmation names both tickets), then made through
:func:`commands.merge` — the one write path."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.services.common.actor import Actor
from models.services.common.errors import N_, ValidationFailed
from models.services.tickets import commands
from models.ticket import Ticket

UNKNOWN = N_("No ticket has this number.")


@dataclass(frozen=True)
class MergePreview:
    """What the confirmation says: which ticket goes into which, and whether the customers
    differ (then the person must tick that they mean it)."""

    duplicate_id: int
    duplicate_number: str
    duplicate_title: str
    primary_id: int
    primary_number: str
    primary_title: str
    other_customer: bool


async def resolve_primary(session: AsyncSession, number: str) -> int:
    text = (number or "").strip().upper()
    found = await session.scalar(select(Ticket.id).where(Ticket.number == text)) if text else None
    if found is None:
        raise ValidationFailed(UNKNOWN)
    return found


async def preview(
    session: AsyncSession, actor: Actor, duplicate_id: int, primary_number: str
) -> MergePreview:
    """Check a merge without making it (every refusal :func:`commands.merge` would give,
    except the other customer's, which the preview shows instead)."""
    primary_id = await resolve_primary(session, primary_number)
    duplicate, primary = await commands.merge_check(
        session, actor, duplicate_id, primary_id, other_customer_confirmed=True
    )
    return MergePreview(
        duplicate.id,
        duplicate.number,
        duplicate.title,
        primary.id,
        primary.number,
        primary.title,
        duplicate.customer_id != primary.customer_id,
    )


async def merge_by_number(
    session: AsyncSession,
    actor: Actor,
    duplicate_id: int,
    primary_number: str,
    *,
    other_customer_confirmed: bool = False,
    expected_version: int | None = None,
) -> Ticket:
    """Merge the duplicate into the ticket with this number; returns the primary."""
    primary_id = await resolve_primary(session, primary_number)
    return await commands.merge(
        session,
        actor,
        duplicate_id,
        primary_id,
        other_customer_confirmed=other_customer_confirmed,
        expected_version=expected_version,
    )
