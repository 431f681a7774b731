"""Routing: which department handles each request type (the admin-editable mapping).

The triage job routes a newly classified ticket through this mapping; admins change it on
/admin. A type without a rule leaves the ticket unrouted (every agent sees it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.department import Department
from models.enums import RequestType
from models.routing import RoutingRule
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, ValidationFailed


@dataclass(frozen=True)
class RouteRow:
    """One line of the routing table as the admin page shows it."""

    request_type: RequestType
    department_id: int | None


async def department_for(session: AsyncSession, request_type: RequestType) -> int | None:
    """The department a ticket of this type is routed to, if a rule exists."""
    return await session.scalar(
        select(RoutingRule.department_id).where(RoutingRule.request_type == request_type)
    )


async def routing_table(session: AsyncSession) -> list[RouteRow]:
    """Every request type with its department (None where no rule exists yet)."""
    rules = dict(
        (await session.execute(select(RoutingRule.request_type, RoutingRule.department_id))).all()
    )
    return [RouteRow(rt, rules.get(rt)) for rt in RequestType]


async def set_routes(
    session: AsyncSession, actor: Actor, routes: dict[RequestType, int | None]
) -> list[RouteRow]:
    """Replace the mapping for the given types (None removes a rule); audited per change.

    Unknown departments are refused before anything is written.
    """
    if not actor.is_admin:
        raise Forbidden(N_("You do not have permission to do that."))
    known = set((await session.scalars(select(Department.id))).all())
    bad = {
        str(rt): N_("Unknown department.")
        for rt, dept in routes.items()
        if dept is not None and dept not in known
    }
    if bad:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=bad)
    existing = {
        rule.request_type: rule for rule in (await session.scalars(select(RoutingRule))).all()
    }
    for request_type, department_id in routes.items():
        rule = existing.get(request_type)
        before = rule.department_id if rule else None
        if before == department_id:
            continue
        if department_id is None and rule is not None:
            await session.delete(rule)
        elif rule is None:
            rule = RoutingRule(request_type=request_type, department_id=department_id)
            session.add(rule)
        else:
            rule.department_id = department_id  # type: ignore[assignment]
        await session.flush()
        audit.record(
            session,
            actor,
            entity_type="routing_rule",
            entity_id=rule.id if rule else 0,
            action="route",
            field=str(request_type),
            before=before,
            after=department_id,
        )
    return await routing_table(session)
