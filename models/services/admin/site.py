"""Install-wide switches: whether this is a demo install, whether admins must use 2FA, and
whose contact details agents may reveal."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import ContactReveal
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden
from models.site_setting import SiteSetting


async def get_site(session: AsyncSession) -> SiteSetting:
    """The one settings row (made on first use; a fresh install is not a demo)."""
    row = await session.scalar(select(SiteSetting).order_by(SiteSetting.id).limit(1))
    if row is None:
        row = SiteSetting(
            is_demo=False,
            require_admin_2fa=False,
            agent_contact_reveal=ContactReveal.DEPARTMENT,
        )
        session.add(row)
        await session.flush()
    return row


async def read_site(session: AsyncSession) -> tuple[bool, bool]:
    """(is_demo, require_admin_2fa) without writing anything (read on every sign-in)."""
    row = await session.scalar(select(SiteSetting).order_by(SiteSetting.id).limit(1))
    return (row.is_demo, row.require_admin_2fa) if row is not None else (False, False)


async def mark_demo(session: AsyncSession) -> None:
    """Called by the demo seeder: the sign-in page then names the demo logins."""
    row = await get_site(session)
    row.is_demo = True


async def set_require_admin_2fa(session: AsyncSession, actor: Actor, required: bool) -> None:
    row = await get_site(session)
    if row.require_admin_2fa == required:
        return
    row.require_admin_2fa = required
    audit.record(
        session,
        actor,
        entity_type="site",
        entity_id=row.id,
        action="require_admin_2fa",
        before={"required": not required},
        after={"required": required},
    )


async def read_contact_reveal(session: AsyncSession) -> ContactReveal:
    """Whose contacts agents may reveal, without writing anything (read on every reveal)."""
    value = await session.scalar(
        select(SiteSetting.agent_contact_reveal).order_by(SiteSetting.id).limit(1)
    )
    return ContactReveal(value) if value is not None else ContactReveal.DEPARTMENT


async def set_contact_reveal(session: AsyncSession, actor: Actor, policy: ContactReveal) -> None:
    """Tighten or loosen whose contacts agents may reveal (admins only; audited when it
    changes)."""
    if not actor.is_admin:
        raise Forbidden(N_("You do not have permission to do that."))
    row = await get_site(session)
    before = ContactReveal(row.agent_contact_reveal)
    if before is policy:
        return
    row.agent_contact_reveal = policy
    audit.record(
        session,
        actor,
        entity_type="site",
        entity_id=row.id,
        action="agent_contact_reveal",
        before={"policy": before.value},
        after={"policy": policy.value},
    )
