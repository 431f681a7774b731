"""The bell: unread count, the list in the reader's language, mark read, and the live event
the board's stream forwards to the addressee only."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from models.enums import Urgency
from models.services.notify import notifications
from models.settings import get_settings
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import actor, make_ticket, notes, run_tick, ticket

pytestmark = pytest.mark.usefixtures("reference")


def hx(client: Any) -> dict[str, str]:
    return {"HX-Request": "true", "x-csrftoken": client.cookies.get("kefu_csrf", "")}


async def remind(db: Any, reference: dict[str, int], redis: Any = None) -> str:
    """An urgent ticket left pending past its reminder: agent, agent.emma and lead are told."""
    tid = await make_ticket(db, reference, urgency=Urgency.URGENT, assignee="agent")
    row = await ticket(db, tid)
    assert row.reminder_due is not None
    await run_tick(db, row.reminder_due + timedelta(minutes=1), redis)
    return row.number


async def test_bell_counts_unread_and_the_list_reads_in_my_language(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    number = await remind(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/board")
    assert 'id="bell"' in page.text and 'hx-get="/notifications/bell"' in page.text
    bell = await client.get("/notifications/bell", headers=hx(client))
    # The reminder, and (registered by the admin) the ticket being assigned to me.
    assert 'data-testid="bell-count">2<' in bell.text
    assert "未读通知：2 条" in bell.text
    listing = await client.get("/notifications")
    assert f"紧急任务 {number} 登记已满30分钟仍处于待处理状态" in listing.text
    client.cookies.set("kefu_lang", "en")
    english = await client.get("/notifications")
    assert f"Urgent ticket {number} is still pending 30 minutes after registration" in english.text


async def test_mark_read_updates_the_bell(client: Any, db: Any, reference: dict[str, int]) -> None:
    await remind(db, reference)
    await remind(db, reference)
    agent = await actor(db, "agent")
    mine = [n for n in await notes(db) if n.user_id == agent.user_id]
    others = [n for n in await notes(db) if n.user_id != agent.user_id]
    # Two reminders and, the tickets being registered by the admin, two assignments.
    assert sorted(n.kind for n in mine) == sorted(
        [notifications.KIND_REMINDER] * 2 + [notifications.KIND_ASSIGNED] * 2
    )
    await sign_in(client, "agent", "kefu-agent")
    read = await client.post(f"/notifications/{mine[0].id}/read", headers=hx(client))
    assert read.status_code == 200
    assert read.headers.get("hx-trigger") and "kefu-notifications" in read.headers["hx-trigger"]
    assert 'data-testid="bell-count">3<' in (await client.get("/notifications/bell")).text
    # Someone else's notification is not mine to read.
    refused = await client.post(f"/notifications/{others[0].id}/read", headers=hx(client))
    assert refused.status_code == 404
    await client.post("/notifications/read-all", headers=hx(client))
    assert "bell-count" not in (await client.get("/notifications/bell")).text
    assert all(n.read_at is None for n in await notes(db) if n.user_id != agent.user_id)


async def test_notification_event_is_published_for_the_live_stream(
    db: Any, redis: Any, reference: dict[str, int]
) -> None:
    from web.views.events import sse_messages

    pubsub = redis.pubsub()
    await pubsub.subscribe(get_settings().event_channel)
    try:
        await remind(db, reference, redis)
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while len([e for e in events if e["type"] == "notification"]) < 3:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    events.append(json.loads(message["data"]))
    finally:
        await pubsub.aclose()
    told = {e["user_id"] for e in events if e["type"] == "notification"}
    agent, lead = await actor(db, "agent"), await actor(db, "lead")
    assert {agent.user_id, lead.user_id} <= told
    event = next(e for e in events if e["type"] == "notification" and e["user_id"] == agent.user_id)
    assert event["notification_kind"] == notifications.KIND_REMINDER
    # The board's stream gives it to the addressee and to nobody else.
    assert [name for name, _ in sse_messages(event, agent)] == ["notification"]
    assert sse_messages(event, await actor(db, "agent.tech")) == []


async def test_channels_page_adds_and_removes_a_channel(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/notifications/channels")
    assert page.status_code == 200 and "企业微信群机器人" in page.text
    added = await client.post(
        "/notifications/channels",
        headers=hx(client),
        data={
            "channel": "wecom",
            "target": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key="
            "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
            "scope": "me",
            "kind_escalation": "1",
        },
    )
    assert added.status_code == 200
    assert "https://qyapi.weixin.qq.com/…5aaa" in added.text
    assert "693a91f6" not in added.text
    bad = await client.post(
        "/notifications/channels",
        headers=hx(client),
        data={"channel": "wecom", "target": "javascript:alert(1)"},
    )
    assert bad.status_code == 422 and "请输入 Webhook 地址" in bad.text
    pid = added.text.split('id="channel-', 1)[1].split('"', 1)[0]
    removed = await client.post(f"/notifications/channels/{pid}/delete", headers=hx(client))
    assert removed.status_code == 200 and f'id="channel-{pid}"' not in removed.text
