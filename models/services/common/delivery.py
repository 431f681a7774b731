"""Whether an emailed reply reached the customer: the follow-up's delivery state, read from
its outgoing mail row (the row is the truth; the follow-up only records what was written).

Shared by the drawer's timeline and the customer record, so both say the same thing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.mail_message import MailDirection, MailMessage, MailStatus
from models.services.common.errors import N_

LABELS: dict[MailStatus, str] = {
    MailStatus.QUEUED: N_("Reply queued"),
    MailStatus.SENT: N_("Reply sent"),
    MailStatus.FAILED: N_("Reply not sent"),
}


@dataclass(frozen=True)
class ReplyDelivery:
    """A reply's delivery state; ``label`` is a msgid, ``reason`` the last error (a msgid
    when the cause is ours, such as "SMTP is not configured", else the server's words)."""

    mail_id: int
    label: str
    queued: bool
    sent: bool
    failed: bool
    reason: str | None


async def reply_deliveries(
    session: AsyncSession, follow_up_ids: Iterable[int]
) -> dict[int, ReplyDelivery]:
    """follow-up id → the delivery state of the mail that carried it (latest if several)."""
    ids = sorted(set(follow_up_ids))
    if not ids:
        return {}
    stmt = (
        select(MailMessage)
        .where(MailMessage.follow_up_id.in_(ids), MailMessage.direction == MailDirection.OUT)
        .order_by(MailMessage.id)
    )
    found: dict[int, ReplyDelivery] = {}
    for row in (await session.scalars(stmt)).all():
        status = MailStatus(row.status)
        if row.follow_up_id is None or status not in LABELS:
            continue
        found[row.follow_up_id] = ReplyDelivery(
            mail_id=row.id,
            label=LABELS[status],
            queued=status is MailStatus.QUEUED,
            sent=status is MailStatus.SENT,
            failed=status is MailStatus.FAILED,
            reason=row.reason if status is not MailStatus.SENT else None,
        )
    return found
