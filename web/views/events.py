"""The live stream: server-sent events fed by Redis pub/sub.

Services record events on their session; :func:`models.db.flush_side_effects` publishes them
on ``settings.event_channel`` after the commit. Every web process subscribes, so a change made
through any process (or by the worker) reaches every open board within a moment.

The stream carries names, not HTML: ``column-<status>`` tells the board to re-read a column,
``card-<id>`` to re-read one card (htmx ``hx-trigger="sse:…"``), each with the JSON payload as
data. ``notification`` events are for the notifications area (only the addressee's stream
gets one that names a ``user_id``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from litestar import Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from models.enums import TicketStatus
from models.services.common.actor import Actor
from web.deps import CurrentActor
from web.security import requires_staff

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000
NOTIFICATION = "notification"


def _status(value: Any) -> TicketStatus | None:
    try:
        return TicketStatus(str(value))
    except ValueError:
        return None


def sse_messages(payload: dict[str, Any], actor: Actor) -> list[tuple[str, str]]:
    """The (event name, data) pairs one published event becomes on this person's stream."""
    kind = str(payload.get("type", ""))
    data = json.dumps(payload, ensure_ascii=False, default=str)
    if kind == NOTIFICATION or kind.startswith(NOTIFICATION + "."):
        addressee = payload.get("user_id")
        return [(NOTIFICATION, data)] if addressee in (None, actor.user_id) else []
    if kind.startswith("chat."):
        # The chat inbox re-reads what changed (the nudge names a conversation, no text);
        # typing has its own name, so it does not make the inbox list re-read.
        return [("chat-typing" if kind == "chat.typing" else "chat", data)]
    if kind == "ticket.moved":
        columns = [payload.get("source"), payload.get("status")]
    elif kind == "ticket.created":
        columns = [payload.get("status")]
    else:
        ticket_id = payload.get("ticket_id")
        return [(f"card-{int(ticket_id)}", data)] if isinstance(ticket_id, int) else []
    names = []
    for value in columns:
        status = _status(value)
        if status is not None and f"column-{status.value}" not in names:
            names.append(f"column-{status.value}")
    return [(name, data) for name in names]


async def stream(
    redis: Any, channel: str, relay: Callable[[dict[str, Any]], list[tuple[str, str]]]
) -> AsyncIterator[ServerSentEventMessage]:
    """Subscribe, say ``ready``, then relay events — what ``relay`` makes of each one, as
    (event name, data) pairs — and a keep-alive comment when quiet."""
    pubsub = redis.pubsub()
    try:
        try:
            await pubsub.subscribe(channel)
        except Exception:  # Redis is away: end the stream; the browser retries in RETRY_MS
            log.warning("live stream unavailable (Redis); the browser will retry")
            yield ServerSentEventMessage(comment="unavailable", data=None, retry=RETRY_MS)
            return
        yield ServerSentEventMessage(event="ready", data="1", retry=RETRY_MS)
        while True:
            try:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS
                )
            except Exception:  # Redis went away mid-stream: the browser reconnects
                log.warning("live stream lost Redis; the browser will reconnect")
                return
            if message is None:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            try:
                payload = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("ignoring a malformed event on %s", channel)
                continue
            if not isinstance(payload, dict):
                continue
            for name, data in relay(payload):
                yield ServerSentEventMessage(event=name, data=data)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await pubsub.aclose()
            except Exception:
                log.debug("closing the pub/sub connection failed", exc_info=True)


@get("/board/events", guards=[requires_staff], include_in_schema=False)
async def board_events(request: Request[Any, Any, Any], actor: CurrentActor) -> ServerSentEvent:
    """One browser's live stream (its EventSource reconnects by itself if it drops)."""
    state = request.app.state
    return ServerSentEvent(
        stream(state.redis, state.settings.event_channel, lambda p: sse_messages(p, actor)),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [board_events]
