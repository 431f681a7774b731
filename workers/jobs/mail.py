"""The email channel's jobs: ``poll_mailboxes`` (cron, every minute) and ``send_mail``.

``poll_mailboxes`` polls each mailbox that is due (``KEFU_MAIL_POLL_SECONDS``, or later after
failures), then emails survey invitations and re-asks for queued mail whose job was lost.
Two workers polling at once import each message once: the ``mail_messages`` claim decides.

``send_mail`` is one attempt at one queued message; the row's status makes it idempotent and
arq retries it after the backoff the service computed.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry
from arq.cron import cron
from arq.worker import func

from models.db import unit_of_work
from models.services.common import jobs
from models.services.mail import inbound, outbound
from models.settings import get_settings

log = logging.getLogger(__name__)

# The service caps attempts (KEFU_NOTIFY_MAX_ATTEMPTS); arq's own cap only guards against loops.
ARQ_MAX_TRIES = 100


async def poll_mailboxes(ctx: dict[str, Any]) -> dict[str, Any]:
    """Poll every due mailbox; returns what each poll did."""
    settings = ctx.get("settings") or get_settings()
    reports = await inbound.poll_due(ctx["db"], ctx.get("redis"), settings.event_channel)
    summary = {
        str(r.mailbox_id): {"fetched": r.fetched, **r.outcomes, "error": r.error} for r in reports
    }
    if any(r.fetched or r.error for r in reports):
        log.info("mail poll: %s", summary)
    return summary


async def send_mail(ctx: dict[str, Any], mail_id: int) -> str:
    """Attempt to send one queued message; raise Retry with the backoff when it may work later."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        outcome = await outbound.deliver(session, mail_id)
    if outcome.retry_in is not None:
        raise Retry(defer=outcome.retry_in)
    return str(outcome.status)


FUNCTIONS: list[Any] = [
    poll_mailboxes,
    func(send_mail, name=jobs.SEND_MAIL, max_tries=ARQ_MAX_TRIES),
]
CRON_JOBS: list[Any] = [cron(poll_mailboxes, second=30, timeout=300, max_tries=1, unique=True)]
