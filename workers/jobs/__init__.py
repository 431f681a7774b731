"""Every job function and cron job the worker runs."""

from __future__ import annotations

import functools
import logging
from typing import Any

from workers.jobs import (
    assignment,
    attachments,
    backup,
    chat,
    counts,
    kb,
    mail,
    notify,
    sla,
    triage,
)

log = logging.getLogger(__name__)

FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = []

CRON_JOBS += backup.CRON_JOBS  # weekly backup, Sunday 03:00 local time
FUNCTIONS += sla.FUNCTIONS + notify.FUNCTIONS
CRON_JOBS += sla.CRON_JOBS  # the SLA tick, every minute
FUNCTIONS += counts.FUNCTIONS
CRON_JOBS += counts.CRON_JOBS  # fold the board-count changes, every minute
FUNCTIONS += triage.FUNCTIONS + kb.FUNCTIONS  # triage_ticket, retrain_classifier, suggest …
CRON_JOBS += triage.CRON_JOBS  # classifier sweep, every 10 minutes
FUNCTIONS += mail.FUNCTIONS  # poll_mailboxes, send_mail
CRON_JOBS += mail.CRON_JOBS  # mailbox polling, every minute
CRON_JOBS += attachments.CRON_JOBS  # orphaned files, nightly 04:30 local time
FUNCTIONS += assignment.FUNCTIONS
CRON_JOBS += assignment.CRON_JOBS  # drain waiting tickets to agents with room, every minute
FUNCTIONS += chat.FUNCTIONS  # wecom_sync, wecom_send
CRON_JOBS += chat.CRON_JOBS  # chat sweep: escalate unanswered chats, twice a minute

# A periodic run's id is its name and scheduled instant, and arq enqueues it only while no job
# or result holds that id. Its default for cron jobs keeps no result, so a worker that reaches
# the instant late (a long job on its loop, a pause) would run a period the other worker has
# already finished. The result is kept a day: each period runs once, whoever takes it.
PERIODIC_RESULT_SECONDS = 24 * 3600


def _named_run(coroutine: Any) -> Any:
    """The periodic job, saying which period it runs (arq's own line names only the job)."""

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        log.info("periodic run %s", ctx.get("job_id"))
        return await coroutine(ctx, *args, **kwargs)

    return run


for _job in CRON_JOBS:
    _job.unique = True
    _job.keep_result = PERIODIC_RESULT_SECONDS
    _job.coroutine = _named_run(_job.coroutine)
