"""``deliver_notification``: one attempt at delivering a notification to email or a webhook.

The attempt and its outcome are logged on the ``notification_deliveries`` row (committed
whatever happens); a failure that may clear up is retried by arq after the exponential
backoff the service computed. The row's status makes the job idempotent: a sent or
abandoned delivery is never attempted again.
"""

from __future__ import annotations

from typing import Any

from arq import Retry
from arq.worker import func

from models.db import unit_of_work
from models.services.common import jobs
from models.services.notify import notifications
from models.settings import get_settings

# The service caps attempts (KEFU_NOTIFY_MAX_ATTEMPTS); arq's own cap only guards against loops.
ARQ_MAX_TRIES = 100


async def deliver_notification(ctx: dict[str, Any], delivery_id: int) -> str:
    """Attempt the delivery; raise Retry with the backoff when another attempt is due."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        outcome = await notifications.deliver(session, delivery_id)
    if outcome.retry_in is not None:
        raise Retry(defer=outcome.retry_in)
    return str(outcome.status)


FUNCTIONS: list[Any] = [
    func(deliver_notification, name=jobs.DELIVER_NOTIFICATION, max_tries=ARQ_MAX_TRIES),
]
CRON_JOBS: list[Any] = []
