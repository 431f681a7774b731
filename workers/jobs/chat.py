"""Live chat's jobs: ``wecom_sync`` (a WeCom callback said new messages are waiting),
``wecom_send`` (deliver an agent's reply to WeCom) and ``chat_sweep`` (twice a minute:
escalate chats unanswered past the first-response target, give back the chats of agents whose
inbox went silent, offer waiting chats to agents).

Each may run twice: a synced message is stored once (WeCom's msgid is unique), a reply's row
says whether it was sent, the sweep marks what it escalated.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry
from arq.cron import cron
from arq.worker import func

from models.db import unit_of_work
from models.services.chat import conversations, wecom_channel
from models.services.common import jobs
from models.settings import get_settings

log = logging.getLogger(__name__)

SYNC_LOCK_SECONDS = 120
SEND_RETRY_SECONDS = 15


async def wecom_sync(ctx: dict[str, Any], account_id: int, callback_token: str = "") -> int:
    """Pull one WeCom account's new messages; one sync per account at a time."""
    settings = ctx.get("settings") or get_settings()
    redis = ctx["redis"]
    lock = redis.lock(f"kefu:wecom-sync:{account_id}", timeout=SYNC_LOCK_SECONDS)
    async with lock:
        stored = await wecom_channel.sync(
            ctx["db"], redis, settings.event_channel, account_id, callback_token
        )
    if stored:
        log.info("WeCom account %s: %d new messages", account_id, stored)
    return stored


async def wecom_send(ctx: dict[str, Any], message_id: int) -> str:
    """Send one reply; a network failure is tried again, WeCom's refusal is recorded."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        outcome = await wecom_channel.deliver(session, message_id, attempt=ctx.get("job_try", 1))
    if outcome.retry:
        raise Retry(defer=SEND_RETRY_SECONDS * ctx.get("job_try", 1))
    return outcome.status


async def chat_sweep(ctx: dict[str, Any]) -> int:
    """Escalate unanswered chats and offer waiting ones to agents who have room."""
    settings = ctx.get("settings") or get_settings()
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        escalated = await conversations.escalate_waiting(session)
        await conversations.requeue_abandoned(session)
        await conversations.dispatch(session)
    if escalated:
        log.info("chat sweep escalated %d waiting chats", escalated)
    return escalated


FUNCTIONS: list[Any] = [
    func(wecom_sync, name=jobs.WECOM_SYNC, max_tries=3),
    func(wecom_send, name=jobs.WECOM_SEND, max_tries=wecom_channel.SEND_ATTEMPTS + 1),
]
CRON_JOBS: list[Any] = [cron(chat_sweep, second={5, 35}, timeout=25, max_tries=1, unique=True)]
