"""Install-wide switches: whether this is a demo install, whether admins must use 2FA."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.services.common import audit
from models.services.common.actor import Actor
from models.site_setting import SiteSetting


async def get_site(session: AsyncSession) -> SiteSetting:
    """The one settings row (made on first use; a fresh install is not a demo)."""
    row = await session.scalar(select(SiteSetting).order_by(SiteSetting.id).limit(1))
    if row is None:
        row = SiteSetting(is_demo=False, require_admin_2fa=False)
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
