"""Personal notifications: assigned to me, @mentioned, added as a collaborator — on the bell
and on each person's own channels as they chose per kind; a failed reply's reason in the
reader's language."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from models.db import unit_of_work
from models.enums import FollowUpMethod
from models.i18n import render
from models.mail_message import MailStatus
from models.notification import Notification
from models.notification_delivery import DeliveryStatus, NotificationDelivery
from models.services.common.actor import Actor
from models.services.common.errors import NotFound, ValidationFailed
from models.services.mail import outbound
from models.services.notify import notifications
from models.services.tickets import board, commands
from models.settings import get_settings
from tests.conftest import run_worker_burst
from tests.integration.notify import test_notify_channels as channel_tests
from tests.integration.notify.test_notify_channels import Receiver, add_channel
from tests.integration.sla.test_sla_helpers import actor, make_ticket, ticket, user_id

pytestmark = pytest.mark.usefixtures("reference")

# The loopback HTTP receiver and its allow-listing, shared with the channel tests.
receiver = channel_tests.receiver
loopback_allowed = channel_tests.loopback_allowed


async def bell(db: Any, username: str, kind: str | None = None) -> list[Notification]:
    uid = await user_id(db, username)
    async with db.sessionmaker() as session:
        stmt = select(Notification).where(Notification.user_id == uid)
        if kind is not None:
            stmt = stmt.where(Notification.kind == kind)
        return list((await session.scalars(stmt.order_by(Notification.id))).all())


async def deliveries(db: Any, kind: str) -> list[NotificationDelivery]:
    async with db.sessionmaker() as session:
        stmt = select(NotificationDelivery).where(NotificationDelivery.kind == kind)
        return list((await session.scalars(stmt.order_by(NotificationDelivery.id))).all())


async def note(db: Any, redis: Any, who: Actor, ticket_id: int, text: str) -> None:
    """An internal note (a follow-up not visible to the customer) in its own transaction."""
    async with unit_of_work(db, redis, get_settings().event_channel) as session:
        await commands.add_follow_up(
            session,
            who,
            ticket_id,
            commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed=text),
        )


async def choose(
    db: Any, username: str, bell_kinds: list[str], channels: dict[int, list[str]]
) -> None:
    async with unit_of_work(db) as session:
        await notifications.save_kind_settings(
            session, await actor(db, username), bell=bell_kinds, channels=channels
        )


ALL_BUT = notifications.PERSONAL_KINDS


async def test_assignment_by_someone_else_notifies_the_assignee_not_a_self_assignment(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    number = (await ticket(db, tid)).number
    async with unit_of_work(db) as session:
        await commands.assign(
            session, await actor(db, "lead"), tid, await user_id(db, "agent"), expected_version=None
        )
    [entry] = await bell(db, "agent", notifications.KIND_ASSIGNED)
    assert entry.ticket_id == tid and entry.params["number"] == number
    assert entry.params["actor"] == "陈主管 Chen (lead)"
    text = render(entry.message, entry.params, "zh_CN")
    assert f"陈主管 Chen (lead) 将工单 {number} 分派给您" in text
    assert await bell(db, "lead", notifications.KIND_ASSIGNED) == []

    # Emma takes a ticket herself: nobody is told.
    other = await make_ticket(db, reference, assignee=None)
    async with unit_of_work(db) as session:
        await commands.assign(
            session,
            await actor(db, "agent.emma"),
            other,
            await user_id(db, "agent.emma"),
            expected_version=None,
        )
    assert await bell(db, "agent.emma") == []


async def test_a_new_collaborator_is_told_the_one_who_added_them_is_not(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    async with unit_of_work(db) as session:
        await commands.add_collaborator(
            session,
            await actor(db, "agent"),
            tid,
            await user_id(db, "agent.tech"),
            expected_version=None,
        )
    [entry] = await bell(db, "agent.tech", notifications.KIND_COLLABORATOR_ADDED)
    assert entry.ticket_id == tid
    assert "王小明 Wang (agent) added you as a collaborator" in render(
        entry.message, entry.params, "en"
    )
    # Adding oneself tells nobody.
    async with unit_of_work(db) as session:
        await commands.add_collaborator(
            session, await actor(db, "lead"), tid, await user_id(db, "lead"), expected_version=None
        )
    assert await bell(db, "lead") == []


async def test_a_mention_rings_the_bell_and_reaches_the_webhook_through_the_worker(
    db: Any, redis: Any, reference: dict[str, int], receiver: Receiver
) -> None:
    await add_channel(db, await actor(db, "agent.tech"), "webhook", receiver.url("/hooks/zhao"))
    tid = await make_ticket(db, reference, assignee="agent")
    number = (await ticket(db, tid)).number
    agent = await actor(db, "agent")
    text = "请@赵磊 Zhao 看一下网络配置，@agent 自己也记一下，bob@x.cn 不是提及"
    await note(db, redis, agent, tid, text)

    [entry] = await bell(db, "agent.tech", notifications.KIND_MENTIONED)
    assert entry.ticket_id == tid and entry.params["actor"] == "王小明 Wang (agent)"
    assert "请@赵磊 Zhao 看一下网络配置" in entry.params["excerpt"]
    # The writer mentioned themself: not told.
    assert await bell(db, "agent", notifications.KIND_MENTIONED) == []

    await run_worker_burst()
    [got] = receiver.at("/hooks/zhao")
    body = got.json
    assert body["kind"] == notifications.KIND_MENTIONED and body["ticket"] == number
    assert f"王小明 Wang (agent) 在工单 {number} 中提到了您" in body["text"]
    [delivery] = await deliveries(db, notifications.KIND_MENTIONED)
    assert delivery.status is DeliveryStatus.SENT and delivery.notification_id == entry.id

    # The drawer shows the mention highlighted.
    async with db.sessionmaker() as session:
        detail = await board.ticket_detail(session, agent, tid)
    [view] = [e.follow_up for e in detail.timeline if e.follow_up]
    assert [p.text for p in view.discussed_parts if p.user_id] == ["@赵磊 Zhao", "@agent"]


async def test_bell_off_for_a_kind_leaves_no_bell_entry_but_the_channel_still_hears_it(
    db: Any, redis: Any, reference: dict[str, int], receiver: Receiver
) -> None:
    tech = await actor(db, "agent.tech")
    pref = await add_channel(db, tech, "webhook", receiver.url("/hooks/zhao"))
    muted = [k for k in ALL_BUT if k != notifications.KIND_MENTIONED]
    await choose(db, "agent.tech", muted, {pref: [notifications.KIND_MENTIONED]})
    async with db.sessionmaker() as session:
        settings = await notifications.kind_settings(session, tech)
    row = next(r for r in settings.rows if r.kind == notifications.KIND_MENTIONED)
    assert not row.bell and row.channels == {pref: True}
    other = next(r for r in settings.rows if r.kind == notifications.KIND_ASSIGNED)
    assert other.bell and other.channels == {pref: False}

    tid = await make_ticket(db, reference, assignee="agent")
    await note(db, redis, await actor(db, "agent"), tid, "@agent.tech 请协助")
    assert await bell(db, "agent.tech") == []
    await run_worker_burst()
    [got] = receiver.at("/hooks/zhao")
    assert got.json["kind"] == notifications.KIND_MENTIONED
    [delivery] = await deliveries(db, notifications.KIND_MENTIONED)
    assert delivery.notification_id is None and delivery.status is DeliveryStatus.SENT

    # A second mention on the same ticket is a second delivery, not a clash.
    await note(db, redis, await actor(db, "agent"), tid, "@agent.tech 再看一下")
    assert len(await deliveries(db, notifications.KIND_MENTIONED)) == 2


async def test_a_channel_only_hears_the_kinds_chosen_for_it(
    db: Any, redis: Any, reference: dict[str, int], receiver: Receiver
) -> None:
    tech = await actor(db, "agent.tech")
    pref = await add_channel(db, tech, "webhook", receiver.url("/hooks/zhao"))
    await choose(db, "agent.tech", list(ALL_BUT), {pref: [notifications.KIND_ASSIGNED]})
    tid = await make_ticket(db, reference, assignee="agent")
    await note(db, redis, await actor(db, "agent"), tid, "@agent.tech 请协助")
    assert len(await bell(db, "agent.tech", notifications.KIND_MENTIONED)) == 1
    assert await deliveries(db, notifications.KIND_MENTIONED) == []

    # Nothing ticked for the channel: it hears no kind at all (only its test messages).
    await choose(db, "agent.tech", list(ALL_BUT), {pref: []})
    async with unit_of_work(db, redis, get_settings().event_channel) as session:
        await commands.assign(
            session, await actor(db, "lead"), tid, tech.user_id, expected_version=None
        )
    assert len(await bell(db, "agent.tech", notifications.KIND_ASSIGNED)) == 1
    assert await deliveries(db, notifications.KIND_ASSIGNED) == []

    # Every kind ticked: back to "all kinds".
    await choose(db, "agent.tech", list(ALL_BUT), {pref: list(ALL_BUT)})
    async with db.sessionmaker() as session:
        [view] = (await notifications.channels_view(session, tech)).mine
    assert view.kinds == []


async def test_bad_settings_are_refused_and_change_nothing(
    db: Any, reference: dict[str, int]
) -> None:
    tech = await actor(db, "agent.tech")
    with pytest.raises(ValidationFailed):
        await choose(db, "agent.tech", ["no-such-kind"], {})
    lead_pref = await add_channel(
        db, await actor(db, "lead"), "webhook", "https://hooks.example.com/lead"
    )
    with pytest.raises(NotFound):
        await choose(db, "agent.tech", [], {lead_pref: []})
    async with db.sessionmaker() as session:
        settings = await notifications.kind_settings(session, tech)
    assert all(r.bell for r in settings.rows)


async def test_settings_page_saves_the_grid(
    db: Any, client: Any, login: Any, receiver: Receiver
) -> None:
    pref = await add_channel(db, await actor(db, "agent"), "webhook", receiver.url("/hooks/w"))
    await login(client, "agent", "kefu-agent")
    page = await client.get("/notifications/channels", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "我接收哪些通知" in page.text
    assert 'data-testid="bell-mentioned"' in page.text
    token = client.cookies.get("kefu_csrf")
    response = await client.post(
        "/notifications/kinds",
        data={
            "_csrf_token": token,
            "bell": [notifications.KIND_ASSIGNED],
            "channels": [str(pref)],
            f"channel-{pref}": [notifications.KIND_MENTIONED],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    async with db.sessionmaker() as session:
        settings = await notifications.kind_settings(session, await actor(db, "agent"))
    on = {r.kind: (r.bell, r.channels[pref]) for r in settings.rows}
    assert on[notifications.KIND_ASSIGNED] == (True, False)
    assert on[notifications.KIND_MENTIONED] == (False, True)
    assert on[notifications.KIND_OVERDUE] == (False, False)

    bad = await client.post(
        "/notifications/kinds",
        data={"_csrf_token": token, "bell": ["nonsense"]},
        headers={"Accept-Language": "zh-CN"},
    )
    assert bad.status_code == 422 and "未知的通知类型" in bad.text


async def test_a_failed_reply_says_why_in_the_readers_language(
    db: Any, redis: Any, reference: dict[str, int]
) -> None:
    from tests.integration.mail.test_reply_delivery import _customer_ticket, _reply
    from tests.integration.mail_support import make_smtp_mailbox
    from tests.mailservers import free_port, running_smtp

    lead = await actor(db, "lead")
    _, tid = await _customer_ticket(db, redis)
    number = (await ticket(db, tid)).number
    port = free_port()
    with running_smtp(refuse="550 5.1.1 User unknown", port=port):
        await make_smtp_mailbox(db, port)
        mail_id = await _reply(db, lead, tid, "请查收。")
        async with unit_of_work(db) as session:
            assert (await outbound.deliver(session, mail_id)).status is MailStatus.FAILED
    [entry] = await bell(db, "lead", notifications.KIND_REPLY_FAILED)
    assert "550" in entry.params["reason"]  # the raw reason is kept
    zh = render(entry.message, entry.params, "zh_CN")
    assert zh == f"您在工单 {number} 上的邮件回复未送达：邮件服务器拒绝了收件人地址。"
    en = render(entry.message, entry.params, "en")
    assert "refused the recipient's address" in en and "550" not in en


def test_known_failure_reasons_are_recognised() -> None:
    kind = outbound.failure_kind
    assert kind(outbound.NOT_CONFIGURED) == "not_configured"
    assert kind("ConnectionRefusedError: [Errno 111] Connection refused") == "connection_refused"
    assert kind("SMTP 535: b'5.7.8 Authentication credentials invalid'") == "authentication"
    assert kind("SMTPAuthenticationError: (535, b'bad')") == "authentication"
    assert kind("recipient refused: ['a@b.cn']") == "recipient_refused"
    assert kind("TimeoutError: timed out") == "timeout"
    assert kind("SMTP 554: b'5.7.1 Relay access denied'") is None
    assert set(outbound.FAILURE_MESSAGES) == {
        "not_configured",
        "connection_refused",
        "authentication",
        "recipient_refused",
        "timeout",
    }


async def test_a_ticket_registered_for_someone_else_notifies_that_assignee(
    db: Any, reference: dict[str, int]
) -> None:
    """Registering an inquiry already handed to a colleague rings their bell (the registrar's
    own tickets do not)."""
    tid = await make_ticket(db, reference, assignee="agent")  # registered by admin
    number = (await ticket(db, tid)).number
    told = await bell(db, "agent", notifications.KIND_ASSIGNED)
    assert [n.ticket_id for n in told] == [tid]
    assert told[0].params["number"] == number
    assert await bell(db, "admin", notifications.KIND_ASSIGNED) == []
