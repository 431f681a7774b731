"""Live chat through the web, as the widget and the agent inbox use it: a conversation is a
ticket from its first message, answered from the inbox, ended with the in-widget survey; the
queue honours each agent's cap; nobody online (or off hours) becomes a left message; bad
input is refused with a clear 4xx and nothing half-written."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import func, select

from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, ChatStatus, TicketStatus
from models.followup import FollowUp
from models.services.chat import conversations, widgets
from models.services.common.actor import Actor
from models.services.common.errors import ValidationFailed
from models.ticket import Ticket
from models.user import User
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import policy_form
from tests.integration.triage_support import htmx_headers

pytestmark = pytest.mark.usefixtures("reference")

ADMIN = Actor.system("test")


async def make_widget(db: Any, **changes: Any) -> str:
    async with unit_of_work(db) as session:
        widget = await widgets.save(
            session, ADMIN, widgets.WidgetInput(name="官网", greeting_zh="您好", **changes)
        )
        return widget.key


def second_client() -> Any:
    """Another browser: a client of its own app instance (each runs its own lifespan)."""
    from litestar.testing import AsyncTestClient

    from models.settings import get_settings
    from web.app import create_app

    return AsyncTestClient(app=create_app(get_settings()), base_url="http://testserver.local")


class Visitor:
    """A browser with the widget open: its own secret, talking JSON to /api/chat/KEY."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key
        self.secret = secrets.token_urlsafe(24)
        self.conversation = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"x-kefu-visitor": self.secret}

    async def send(self, text: str, client_id: str | None = None, **extra: str) -> Any:
        body = {
            "text": text,
            "client_id": client_id or secrets.token_hex(8),
            "conversation": self.conversation,
            **extra,
        }
        response = await self.client.post(
            f"/api/chat/{self.key}/messages", json=body, headers=self.headers
        )
        if response.status_code == 201:
            self.conversation = response.json()["conversation"]
        return response

    async def state(self, after: int = 0) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/chat/{self.key}/state?after={after}", headers=self.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.client.post(
            f"/api/chat/{self.key}{path}", json=body or {}, headers=self.headers
        )


async def available(client: Any, on: bool = True) -> None:
    headers = await htmx_headers(client, "/chat")
    response = await client.post(
        "/chat/availability", data={"available": "on" if on else ""}, headers=headers
    )
    assert response.status_code == 200, response.text


async def conversation_row(db: Any, public_id: str) -> ChatConversation:
    async with db.sessionmaker() as session:
        row = await session.scalar(
            select(ChatConversation).where(ChatConversation.public_id == public_id)
        )
        assert row is not None
        return row


async def set_capacity(db: Any, username: str, capacity: int) -> None:
    async with unit_of_work(db) as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.chat_capacity = capacity


async def test_a_chat_is_a_ticket_answered_from_the_inbox_and_rated_in_the_widget(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    async with second_client() as browser:
        visitor = Visitor(browser, key)
        first = await visitor.send("我的订单 KF-123 还没发货，能帮我查一下吗？", client_id="c1")
        assert first.status_code == 201, first.text
        # The same message sent again (the answer was lost) is stored once.
        again = await visitor.send("我的订单 KF-123 还没发货，能帮我查一下吗？", client_id="c1")
        assert again.status_code == 201
        assert again.json()["line"]["seq"] == first.json()["line"]["seq"]

        row = await conversation_row(db, visitor.conversation)
        assert row.status is ChatStatus.ACTIVE  # offered to the one agent online
        async with db.sessionmaker() as session:
            ticket = await session.get(Ticket, row.ticket_id)
            assert ticket is not None
            assert ticket.channel is Channel.ONLINE_CHAT
            assert ticket.description.startswith("我的订单 KF-123")
            agent = await session.scalar(select(User).where(User.username == "agent"))
            assert agent is not None and ticket.assignee_id == agent.id
            assert ticket.first_responded_at is None

        headers = await htmx_headers(client, f"/chat?c={visitor.conversation}")
        page = await client.get(f"/chat?c={visitor.conversation}")
        assert "我的订单 KF-123" in page.text
        reply = await client.post(
            f"/chat/c/{visitor.conversation}/messages",
            data={"text": "您好，我马上为您查询。", "client_id": "a1"},
            headers=headers,
        )
        assert reply.status_code == 200, reply.text

        seen = await visitor.state()
        assert seen["status"] == "active"
        texts = [(line["author"], line["text"]) for line in seen["lines"]]
        assert ("agent", "您好，我马上为您查询。") in texts
        assert texts.count(("customer", "我的订单 KF-123 还没发货，能帮我查一下吗？")) == 1
        later = await visitor.state(after=seen["lines"][-1]["seq"])
        assert later["lines"] == []  # a resumed widget asks only for what it has not seen

        async with db.sessionmaker() as session:
            ticket = await session.get(Ticket, row.ticket_id)
            assert ticket is not None and ticket.first_responded_at is not None

        ended = await client.post(f"/chat/c/{visitor.conversation}/end", headers=headers)
        assert ended.status_code == 200, ended.text
        async with db.sessionmaker() as session:
            ticket = await session.get(Ticket, row.ticket_id)
            assert ticket is not None and ticket.status is TicketStatus.COMPLETED
            transcript = await session.scalar(
                select(FollowUp.discussed).where(
                    FollowUp.ticket_id == ticket.id, FollowUp.by_customer.is_(False)
                )
            )
            assert transcript is not None and "我马上为您查询" in transcript

        after_end = await visitor.state()
        assert after_end["status"] == "ended" and after_end["survey"] is True
        rated = await visitor.post(
            f"/c/{visitor.conversation}/survey",
            {"speed": "5", "solution": "4", "attitude": "5", "comment": "很快"},
        )
        assert rated.status_code == 204, rated.text
        twice = await visitor.post(
            f"/c/{visitor.conversation}/survey", {"speed": "1", "solution": "1", "attitude": "1"}
        )
        assert twice.status_code == 409
        assert (await visitor.state())["survey"] is False


async def test_the_queue_respects_each_agents_cap_and_says_where_the_visitor_stands(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    await set_capacity(db, "agent", 1)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    async with second_client() as browser:
        first, second = Visitor(browser, key), Visitor(browser, key)
        assert (await first.send("第一个问题")).status_code == 201
        assert (await second.send("第二个问题")).status_code == 201
        assert (await conversation_row(db, first.conversation)).status is ChatStatus.ACTIVE
        waiting = await second.state()
        assert waiting["status"] == "queued"
        assert waiting["queue_position"] == 1
        assert waiting["wait_minutes"] is None  # no history to estimate from: said so

        headers = await htmx_headers(client, "/chat")
        refused = await client.post(f"/chat/c/{second.conversation}/accept", headers=headers)
        assert refused.status_code == 409  # the cap is reached

        await client.post(f"/chat/c/{first.conversation}/end", headers=headers)
        beat = await client.post("/chat/heartbeat", headers=headers)
        assert beat.status_code == 204
        assert (await second.state())["status"] == "active"


async def test_nobody_online_or_off_hours_becomes_a_left_message(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    visitor = Visitor(client, key)
    view = await visitor.state()
    assert view["open"] is False
    refused = await visitor.send("有人吗？")
    assert refused.status_code == 409
    assert "留言" in refused.json()["error"]
    missing = await visitor.post("/leave", {"name": "张三", "text": "请回电"})
    assert missing.status_code == 422  # a left message needs a way to answer it
    left = await visitor.post("/leave", {"name": "张三", "phone": "13800138000", "text": "请回电"})
    assert left.status_code == 201, left.text
    async with db.sessionmaker() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == left.json()["number"]))
        assert ticket is not None and ticket.channel is Channel.ONLINE_CHAT

    # An agent online does not open a widget outside its business hours.
    closed_key = await make_widget(db, days=(0,), start="00:00", end="00:01")
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    assert (await Visitor(client, closed_key).state())["open"] is False
    assert (await Visitor(client, key).state())["open"] is True


async def test_bad_input_is_refused_cleanly(
    app: Any, client: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    visitor = Visitor(client, key)
    assert (await visitor.send("x" * (conversations.TEXT_MAX + 1))).status_code == 422
    assert (await visitor.send("   ")).status_code == 422
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count(ChatConversation.id))) == 0

    assert (await visitor.send("<script>alert(1)</script>")).status_code == 201
    page = await client.get(f"/chat?c={visitor.conversation}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    stranger = Visitor(client, key)
    for path in (
        f"/api/chat/{key}/c/{visitor.conversation}/end",
        f"/api/chat/{key}/c/forged-conversation-id/end",
        f"/api/chat/{key}/c/{visitor.conversation}/read",
    ):
        response = await client.post(path, json={"seq": 1}, headers=stranger.headers)
        assert response.status_code == 404, path
    bad_secret = await client.get(f"/api/chat/{key}/state", headers={"x-kefu-visitor": "short"})
    assert bad_secret.status_code == 404
    assert (await client.get("/api/chat/no-such-widget/state")).status_code == 404
    assert (await client.get(f"/chat/w/{key}")).status_code == 200
    assert (await client.get("/chat/w/no-such-widget")).status_code == 404

    monkeypatch.setattr(conversations, "MESSAGE_FACTOR", 1)
    statuses = [(await visitor.send(f"第{n}条")).status_code for n in range(12)]
    assert 429 in statuses
    assert statuses.index(429) > 0


async def test_a_transfer_hands_the_chat_and_its_ticket_to_a_colleague(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    async with second_client() as colleague:
        await sign_in(colleague, "agent.emma", "kefu-agent")
        await available(colleague)
        visitor = Visitor(client, key)
        assert (await visitor.send("退款什么时候到账？")).status_code == 201
        row = await conversation_row(db, visitor.conversation)
        async with db.sessionmaker() as session:
            emma = await session.scalar(select(User).where(User.username == "agent.emma"))
            agent = await session.scalar(select(User).where(User.username == "agent"))
        assert emma is not None and agent is not None
        holder, other = (agent, emma) if row.agent_id == agent.id else (emma, agent)
        holder_client = client if holder is agent else colleague
        headers = await htmx_headers(holder_client, "/chat")
        moved = await holder_client.post(
            f"/chat/c/{visitor.conversation}/transfer",
            data={"to_user_id": str(other.id)},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        row = await conversation_row(db, visitor.conversation)
        assert row.agent_id == other.id
        async with db.sessionmaker() as session:
            ticket = await session.get(Ticket, row.ticket_id)
            assert ticket is not None and ticket.assignee_id == other.id
        # The previous agent can no longer answer it.
        refused = await holder_client.post(
            f"/chat/c/{visitor.conversation}/messages", data={"text": "还在吗"}, headers=headers
        )
        assert refused.status_code == 403


async def test_an_unanswered_chat_the_visitor_ends_keeps_every_message_on_the_ticket(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    await set_capacity(db, "agent", 0)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    visitor = Visitor(client, key)
    assert (await visitor.send("手机屏幕碎了")).status_code == 201
    assert (await visitor.send("保修期内可以免费换吗")).status_code == 201
    ended = await visitor.post(f"/c/{visitor.conversation}/end")
    assert ended.status_code == 204
    row = await conversation_row(db, visitor.conversation)
    assert row.status is ChatStatus.ENDED
    async with db.sessionmaker() as session:
        ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.PENDING
        said = await session.scalar(
            select(FollowUp.discussed).where(
                FollowUp.ticket_id == ticket.id, FollowUp.by_customer.is_(True)
            )
        )
        assert said is not None and "保修期内可以免费换吗" in said
        count = await session.scalar(
            select(func.count(ChatMessage.id)).where(ChatMessage.conversation_id == row.id)
        )
        assert count == 3  # two messages and the end


async def test_a_returning_visitor_is_the_same_customer_unless_they_say_who_they_are(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)

    async def chat(visitor: Visitor, text: str, **who: str) -> ChatConversation:
        visitor.conversation = ""
        assert (await visitor.send(text, **who)).status_code == 201
        row = await conversation_row(db, visitor.conversation)
        assert (await visitor.post(f"/c/{visitor.conversation}/end")).status_code == 204
        return row

    browser = Visitor(client, key)
    first = await chat(browser, "耳机左边没声音")
    again = await chat(browser, "耳机盒子有划痕")
    assert again.id != first.id and again.customer_id == first.customer_id
    # Another browser saying nothing is someone else.
    other = await chat(Visitor(client, key), "发票怎么开")
    assert other.customer_id != first.customer_id
    # A contact typed in the same browser is matched like on the portal, not assumed.
    typed = await chat(browser, "我要退货", name="李雷", phone="13812345678")
    assert typed.customer_id not in {first.customer_id, other.customer_id}
    # A customer merged away: the browser's next chat goes to the record it was merged into.
    async with unit_of_work(db) as session:
        merged = await session.get(Customer, typed.customer_id)
        assert merged is not None
        merged.merged_into_id = first.customer_id
    after = await chat(browser, "退货地址是哪里")
    assert after.customer_id == first.customer_id


async def test_widget_settings_are_checked(db: Any) -> None:
    async with unit_of_work(db) as session:
        for bad in (
            {"color": "red"},
            {"allowed_origins": "javascript:alert(1)"},
            {"days": (0,), "start": "18:00", "end": "09:00"},
            {"languages": ()},
        ):
            with pytest.raises(ValidationFailed):
                await widgets.save(session, ADMIN, widgets.WidgetInput(name="w", **bad))


async def test_an_admin_sets_up_a_widget_and_gets_its_embed_code(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    token = (await htmx_headers(client, "/admin/chat"))["x-csrftoken"]
    form = {
        "_csrf_token": token,
        "name": "官网客服",
        "color": "#12ab34",
        "greeting_zh": "您好，欢迎咨询",
        "lang_zh": "on",
        "lang_en": "on",
        "hours_on": "on",
        "day0": "on",
        "day4": "on",
        "start": "09:00",
        "end": "18:00",
        "timezone": "Asia/Shanghai",
        "is_active": "on",
    }
    refused = await client.post("/admin/chat/", data={**form, "color": "blue"})
    assert refused.status_code == 422
    assert "请使用 #1677ff 这样的颜色值" in refused.text
    assert 'value="官网客服"' in refused.text  # what was typed is kept
    async with db.sessionmaker() as session:
        assert await widgets.all_widgets(session) == []
    created = await client.post("/admin/chat/", data=form)
    assert created.status_code in (200, 303), created.text
    page = await client.get("/admin/chat")
    async with db.sessionmaker() as session:
        [widget] = await widgets.all_widgets(session)
    assert widget.hours == {
        "days": [0, 4],
        "start": "09:00",
        "end": "18:00",
        "timezone": "Asia/Shanghai",
    }
    assert f'data-widget="{widget.key}"' in page.text
    assert "/static/chat/loader.js" in page.text
    frame = await client.get(f"/chat/w/{widget.key}")
    assert "frame-ancestors *" in frame.headers["content-security-policy"]
    assert "x-frame-options" not in frame.headers
    assert "您好，欢迎咨询" in frame.text
    agent_page = await client.get("/board")
    assert agent_page.headers["x-frame-options"] == "DENY"


async def waiting_chat(client: Any, db: Any) -> Any:
    """A visitor's chat that waits (the only agent online has no room); when it started."""
    from models.clock import utcnow

    key = await make_widget(db, department_id=None)
    await set_capacity(db, "agent", 0)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    visitor = Visitor(client, key)
    assert (await visitor.send("有人吗？急！")).status_code == 201
    return utcnow()


async def escalations(db: Any, start: Any, *after_seconds: int) -> list[int]:
    """How many chats each run of the escalation finds, ``after_seconds`` past ``start``."""
    from datetime import timedelta

    found = []
    for seconds in after_seconds:
        async with unit_of_work(db) as session:
            now = start + timedelta(seconds=seconds)
            found.append(await conversations.escalate_waiting(session, now))
    return found


async def escalation_notices(db: Any) -> list[Any]:
    from models.notification import Notification

    async with db.sessionmaker() as session:
        query = select(Notification).where(Notification.kind == "escalation")
        return list((await session.scalars(query)).all())


async def test_a_chat_unanswered_past_30_seconds_is_escalated_once_to_the_leads(
    client: Any, db: Any, clock: Any
) -> None:
    start = await waiting_chat(client, db)
    assert await escalations(db, start, 20, 31, 90) == [0, 1, 0]
    told = await escalation_notices(db)
    assert told and all(n.params.get("target") == 30 for n in told)
    async with db.sessionmaker() as session:
        leads = set(
            (await session.scalars(select(User.id).where(User.role.in_(("lead", "admin"))))).all()
        )
    recipients = {n.user_id for n in told}
    assert recipients and recipients <= leads


async def test_the_chat_target_comes_from_the_sla_policy(client: Any, db: Any, clock: Any) -> None:
    """An admin who sets 2 minutes at /admin/sla moves the chat escalation."""
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get("/admin/sla")
    assert 'name="chat"' in page.text and 'value="30"' in page.text
    form = policy_form(chat="120")
    headers = await htmx_headers(client, "/admin/sla")
    saved = await client.post("/admin/sla/policy", data=form, headers=headers)
    assert saved.status_code == 200, saved.text[:500]
    refused = await client.post("/admin/sla/policy", data={**form, "chat": "0"}, headers=headers)
    assert refused.status_code == 422
    assert "3600" in refused.text

    start = await waiting_chat(client, db)
    assert await escalations(db, start, 90, 121) == [0, 1]
    told = await escalation_notices(db)
    assert told and all(n.params.get("target") == 120 for n in told)


async def test_the_kpi_dashboard_shows_chat_first_response_per_agent(
    client: Any, db: Any, clock: Any
) -> None:
    from datetime import timedelta

    from models.clock import utcnow
    from models.services.reports import chat_figures, summary

    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    start = utcnow()
    waits = []
    for seconds in (10, 20, 50):
        clock(start, frozen=True)
        visitor = Visitor(client, key)
        assert (await visitor.send(f"问题 {seconds}")).status_code == 201
        clock(start + timedelta(seconds=seconds), frozen=True)
        headers = await htmx_headers(client, "/chat")
        answered = await client.post(
            f"/chat/c/{visitor.conversation}/messages", data={"text": "您好"}, headers=headers
        )
        assert answered.status_code == 200
        await client.post(f"/chat/c/{visitor.conversation}/end", headers=headers)
        waits.append(seconds)
    clock(start + timedelta(minutes=5), frozen=True)
    left = Visitor(client, key)
    await available(client, on=False)
    assert (
        await left.post("/leave", {"name": "李四", "phone": "13900139000", "text": "回电"})
    ).status_code == 201

    period = summary.Period("month", start.date().replace(day=1), start.date())
    async with db.sessionmaker() as session:
        figures = await chat_figures.chat_figures(session, period)
    assert (figures.chats, figures.answered, figures.left_messages) == (3, 3, 1)
    assert figures.median_first_response_s == 20.0
    assert figures.within_target_share == pytest.approx(2 / 3)
    [agent] = figures.agents
    assert agent.chats == 3 and agent.median_first_response_s == 20.0

    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/reports/kpi")
    assert page.status_code == 200
    assert 'data-testid="kpi-chats"' in page.text
    assert "20.0 秒" in page.text and "67%" in page.text


async def test_taking_a_chat_rings_no_bell_of_the_agents(client: Any, db: Any) -> None:
    from models.notification import Notification

    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    visitor = Visitor(client, key)
    assert (await visitor.send("你好")).status_code == 201
    async with db.sessionmaker() as session:
        agent = await session.scalar(select(User).where(User.username == "agent"))
        assert agent is not None
        row = await conversation_row(db, visitor.conversation)
        assert row.agent_id == agent.id
        bells = await session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == agent.id, Notification.kind == "assigned"
            )
        )
        assert bells == 0


async def test_the_chats_of_an_agent_who_is_gone_go_to_a_colleague(
    client: Any, db: Any, redis: Any
) -> None:
    from datetime import timedelta

    from models.clock import utcnow
    from tests.integration.triage_support import worker_ctx
    from workers.jobs.chat import chat_sweep

    key = await make_widget(db)
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    visitor = Visitor(client, key)
    assert (await visitor.send("我的问题还没解决")).status_code == 201
    async with second_client() as colleague:
        await sign_in(colleague, "agent.emma", "kefu-agent")
        await available(colleague)
        async with unit_of_work(db) as session:
            agent = await session.scalar(select(User).where(User.username == "agent"))
            assert agent is not None
            agent.chat_seen_at = utcnow() - timedelta(minutes=10)  # their browser closed
        await chat_sweep(worker_ctx(db, redis, None))
        row = await conversation_row(db, visitor.conversation)
        async with db.sessionmaker() as session:
            emma = await session.scalar(select(User).where(User.username == "agent.emma"))
        assert emma is not None and row.agent_id == emma.id
        assert row.status is ChatStatus.ACTIVE
        texts = [line["text"] for line in (await visitor.state())["lines"]]
        assert "requeued" in texts


async def test_a_chat_a_suggested_answer_solved_is_completed_not_left_waiting(
    client: Any, db: Any
) -> None:
    from models.article import Article
    from models.enums import ArticleStatus

    key = await make_widget(db)
    await set_capacity(db, "agent", 0)  # nobody has room: the chat waits in the queue
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    async with unit_of_work(db) as session:
        article = Article(
            title="如何修改收货地址", body="在订单详情页修改。", status=ArticleStatus.PUBLISHED
        )
        session.add(article)
    visitor = Visitor(client, key)
    assert (await visitor.send("怎么改收货地址")).status_code == 201
    solved = await visitor.post("/solved", {"article_id": article.id, "query": "怎么改收货地址"})
    assert solved.status_code == 204
    row = await conversation_row(db, visitor.conversation)
    assert row.status is ChatStatus.ENDED and row.ended_by == "article"
    async with db.sessionmaker() as session:
        ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.COMPLETED
    assert (await visitor.post("/solved", {"article_id": 999999, "query": "x"})).status_code == 404


# --- signed-in customers: history on any browser, never on a typed email ----------------------


def signed(secret: str, **fields: str) -> dict[str, str]:
    """What the loader passes on for a script tag the site signed (``data-user-*``)."""
    value = fields.get("email") or fields.get("phone", "")
    return {
        "x-kefu-identity": widgets.encode_identity(
            {**fields, "hash": widgets.sign_identity(secret, value)}
        )
    }


class SignedVisitor(Visitor):
    def __init__(self, client: Any, key: str, identity: dict[str, str]) -> None:
        super().__init__(client, key)
        self.identity = identity

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, **self.identity}


async def widget_secret(db: Any, key: str) -> str:
    async with db.sessionmaker() as session:
        widget = await widgets.by_key(session, key)
        secret = widgets.identity_secret(widget)
        assert secret is not None and len(secret) == 64
        return secret


def history_texts(state: dict[str, Any]) -> list[str]:
    return [line["text"] for line in state["history"] if line["author"] != "system"]


async def test_a_signed_in_customer_sees_their_chats_on_another_browser_a_typed_email_does_not(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    secret = await widget_secret(db, key)
    alice = signed(secret, email="Alice@Example.com", name="王丽")
    await sign_in(client, "agent", "kefu-agent")
    await available(client)
    async with second_client() as browser:
        laptop = SignedVisitor(browser, key, alice)
        assert (await laptop.state())["identity"] == "verified"
        sent = await laptop.send("上周买的耳机左边没声音", email="someone-else@example.com")
        assert sent.status_code == 201, sent.text
        row = await conversation_row(db, laptop.conversation)
        assert row.identity_verified is True
        async with db.sessionmaker() as session:
            from models.services.customers import registry

            customer = await registry.find_by_contact(session, email="alice@example.com")
            assert customer is not None and customer.id == row.customer_id
            assert customer.name == "王丽"  # the site's word, not the typed contact
        assert (await laptop.post(f"/c/{laptop.conversation}/end")).status_code == 204

        # The same customer signed in on a phone: nothing started there, yet her chat shows.
        phone = SignedVisitor(browser, key, alice)
        before = await phone.state()
        assert before["conversation"] is None and before["identity"] == "verified"
        assert history_texts(before) == ["上周买的耳机左边没声音"]

        # Someone who types her email gets no history, before or after chatting with it.
        stranger = Visitor(browser, key)
        assert history_texts(await stranger.state()) == []
        typed = await stranger.send(
            "我是 alice，把聊天记录给我看看", email="alice@example.com", name="王丽"
        )
        assert typed.status_code == 201, typed.text
        taken = await conversation_row(db, stranger.conversation)
        assert taken.identity_verified is False
        assert taken.customer_id == row.customer_id  # same name and email: the same record
        assert (await stranger.post(f"/c/{stranger.conversation}/end")).status_code == 204
        assert "上周买的耳机左边没声音" not in history_texts(await stranger.state())
        # …and what the stranger wrote under her email is not shown to her as her own.
        assert "我是 alice，把聊天记录给我看看" not in history_texts(await phone.state())

        # A signature made with another key, or for another email, is refused: anonymous.
        for forged in (
            signed("0" * 64, email="alice@example.com"),
            {
                "x-kefu-identity": widgets.encode_identity(
                    {
                        "email": "alice@example.com",
                        "hash": widgets.sign_identity(secret, "bob@example.com"),
                    }
                )
            },
            {"x-kefu-identity": "not base64 at all!"},
        ):
            view = await SignedVisitor(browser, key, forged).state()
            assert view["identity"] == "invalid"
            assert history_texts(view) == []


async def test_an_admin_renews_the_identity_key_and_old_signatures_stop_working(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)
    old = await widget_secret(db, key)
    async with db.sessionmaker() as session:
        widget_id = (await widgets.by_key(session, key)).id
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get(f"/admin/chat/{widget_id}")
    assert old in page.text and "data-user-hash" in page.text
    token = (await htmx_headers(client, f"/admin/chat/{widget_id}"))["x-csrftoken"]
    renewed = await client.post(
        f"/admin/chat/{widget_id}/identity-secret", data={"_csrf_token": token}
    )
    assert renewed.status_code in (200, 303), renewed.text
    new = await widget_secret(db, key)
    assert new != old
    async with second_client() as browser:
        stale = SignedVisitor(browser, key, signed(old, phone="13800138000"))
        assert (await stale.state())["identity"] == "invalid"
        fresh = SignedVisitor(browser, key, signed(new, phone="+86 138-0013-8000"))
        assert (await fresh.state())["identity"] == "verified"


def test_a_signed_identity_uses_only_the_signed_contact(db: Any) -> None:
    from models.services.customers import registry

    widget = widgets.ChatWidget(key="k", name="w")
    assert widgets.check_identity(widget, "") == widgets.ANONYMOUS
    # No key yet: whatever the site sends is not vouched for.
    assert widgets.check_identity(widget, widgets.encode_identity({"email": "a@b.cn"})).state == (
        "invalid"
    )
    secret = widgets.new_identity_secret()
    widget.identity_secret_enc = registry.current_cipher().encrypt(secret)

    def check(**fields: str) -> widgets.IdentityCheck:
        return widgets.check_identity(widget, widgets.encode_identity(fields))

    # The email is what is signed; a phone beside it is not vouched for, so it is dropped.
    both = check(
        email=" Ann@Example.com",
        phone="13800138000",
        name="Ann",
        hash=widgets.sign_identity(secret, "Ann@Example.com"),
    )
    assert both.verified == widgets.Identity(email="ann@example.com", phone=None, name="Ann")
    # A phone alone is signed as written, and normalized after the check.
    phone = check(
        phone="+86 138 0013 8000", hash=widgets.sign_identity(secret, "+86 138 0013 8000")
    )
    assert phone.verified == widgets.Identity(email=None, phone="13800138000", name="")
    # Signing the phone does not vouch for an email sent beside it.
    assert (
        check(
            email="ann@example.com",
            phone="13800138000",
            hash=widgets.sign_identity(secret, "13800138000"),
        ).state
        == "invalid"
    )
    # Malformed: not JSON, not an object, not strings, a contact that is not one, too long.
    for raw in (
        "%%%",
        widgets.encode_identity({"email": "x"})[:-3] + "!!!",
        "WzEsMiwzXQ",  # [1,2,3]
        widgets.encode_identity({"email": "ann@example.com", "hash": 1}),  # type: ignore[dict-item]
        widgets.encode_identity(
            {"email": "not-an-email", "hash": widgets.sign_identity(secret, "not-an-email")}
        ),
        "a" * (widgets.IDENTITY_MAX + 1),
    ):
        assert widgets.check_identity(widget, raw).state == "invalid", raw


async def test_a_signed_in_customer_leaves_a_message_without_typing_a_contact(
    app: Any, client: Any, db: Any
) -> None:
    key = await make_widget(db)  # nobody online: the widget takes messages
    secret = await widget_secret(db, key)
    visitor = SignedVisitor(client, key, signed(secret, phone="13900139000", name="李雷"))
    left = await visitor.post("/leave", {"text": "请明天上午回电"})
    assert left.status_code == 201, left.text
    async with db.sessionmaker() as session:
        from models.customer import Customer
        from models.services.customers import registry

        ticket = await session.scalar(select(Ticket).where(Ticket.number == left.json()["number"]))
        assert ticket is not None
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None and customer.name == "李雷"
        found = await registry.find_by_contact(session, phone="13900139000")
        assert found is not None and found.id == customer.id
    # Without the site's word the same form still needs a contact.
    anonymous = await Visitor(client, key).post("/leave", {"name": "李雷", "text": "请回电"})
    assert anonymous.status_code == 422
