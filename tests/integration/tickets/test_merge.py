"""Merging a duplicate ticket into its primary: everything moves, the duplicate is closed and
its number, tracking link, API number and mail thread lead to the primary; reports count the
case once; refusals write nothing. Also: a second message on the same closed ticket joins
the repeat the first one opened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models.attachment import Attachment
from models.db import unit_of_work
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.services.common.errors import Conflict, Forbidden, ValidationFailed
from models.services.mail import inbound
from models.services.reports import summary
from models.services.tickets import board, commands, merge
from models.settings import get_settings
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.mail_support import mail
from tests.integration.sla.test_sla_helpers import actor, make_ticket, move, ticket
from tests.integration.tickets.test_board_helpers import htmx
from tests.integration.tickets.test_customer_messages import (
    REFUND,
    TO_STATE,
    new_key,
    portal_ticket,
    post_info,
    write,
)

pytestmark = pytest.mark.usefixtures("reference")
S = TicketStatus


async def sibling(db: Any, tid: int, text: str = "打印机还是连不上网络。") -> int:
    """A second ticket of the same customer (department SUPPORT, like make_ticket's)."""
    admin = await actor(db, "admin")
    async with unit_of_work(db) as s:
        first = await commands.get(s, tid)
        row, _ = await commands.create(
            s,
            admin,
            commands.TicketInput(
                customer_id=first.customer_id,
                description=text,
                channel=Channel.PORTAL,
                department_id=first.department_id,
            ),
        )
        return row.id


async def do_merge(db: Any, dup: int, primary: int, username: str = "lead", **kw: Any) -> Any:
    who = await actor(db, username)
    async with unit_of_work(db) as s:
        return await commands.merge(s, who, dup, primary, **kw)


async def n_rows(db: Any, model: Any, *where: Any) -> int:
    async with db.sessionmaker() as s:
        stmt = select(func.count()).select_from(model)
        for clause in where:
            stmt = stmt.where(clause)
        return int(await s.scalar(stmt) or 0)


async def test_a_merge_moves_everything_and_closes_the_duplicate(
    db: Any, reference: dict[str, int]
) -> None:
    primary = await make_ticket(db, reference)
    dup = await sibling(db, primary)
    agent, lead, tech = [await actor(db, n) for n in ("agent", "lead", "agent.tech")]
    async with unit_of_work(db) as s:
        await commands.add_follow_up(
            s, agent, dup, commands.FollowUpInput(FollowUpMethod.PHONE, "已电话联系客户。")
        )
        await commands.add_collaborator(s, lead, dup, tech.user_id or 0, expected_version=None)
        s.add(
            Attachment(
                ticket_id=dup,
                filename="a.png",
                size=1,
                content_type="image/png",
                sha256="0" * 64,
                source="drawer",
            )
        )
    before = await ticket(db, primary)
    await do_merge(db, dup, primary)
    gone, kept = await ticket(db, dup), await ticket(db, primary)
    assert gone.status is S.CLOSED and gone.merged_into_id == primary
    assert gone.closed_at is not None
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == dup) == 0
    assert await n_rows(db, Attachment, Attachment.ticket_id == dup) == 0
    assert await n_rows(db, Attachment, Attachment.ticket_id == primary) == 1
    # The follow-up moved, plus the note naming the duplicate and keeping its description.
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == primary) == 2
    # The primary's SLA is its own.
    assert kept.resolution_due == before.resolution_due and kept.status is before.status
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, lead, primary)
        dup_detail = await board.ticket_detail(s, lead, dup)
    assert [c.id for c in detail.collaborators] == [tech.user_id]
    assert gone.number in [e.linked_number for e in detail.timeline]
    assert kept.number in [e.linked_number for e in dup_detail.timeline]
    marked = [
        e.follow_up.discussed for e in detail.timeline if e.follow_up and e.follow_up.merged_from
    ]
    assert marked == ["已电话联系客户。"]  # the moved follow-up keeps where it was written
    assert any(
        e.follow_up
        and gone.number in e.follow_up.discussed
        and "打印机还是连不上网络" in e.follow_up.discussed
        for e in detail.timeline
    )
    # Opening the old number opens the primary, with the notice.
    async with unit_of_work(db) as s:
        opened = await board.open_ticket(s, lead, dup)
    assert opened.id == primary and opened.merged_from_number == gone.number
    # The board shows the case once: the duplicate is in no column.
    async with db.sessionmaker() as s:
        assert await board.card(s, lead, dup) is None
        assert await board.card(s, lead, primary) is not None


async def test_refused_merges_write_nothing(db: Any, reference: dict[str, int]) -> None:
    primary = await make_ticket(db, reference)
    dup = await sibling(db, primary)
    closed = await sibling(db, primary)
    await move(db, "lead", closed, *TO_STATE[S.CLOSED])
    stranger = await make_ticket(db, reference)  # another customer
    other_dept = await make_ticket(db, reference, department="TECH", assignee=None)
    version = (await ticket(db, dup)).version
    with pytest.raises(ValidationFailed) as into_self:
        await do_merge(db, dup, dup)
    assert into_self.value.message == commands.MERGE_SELF
    with pytest.raises(ValidationFailed) as into_closed:
        await do_merge(db, dup, closed)
    assert into_closed.value.message == commands.MERGE_INTO_CLOSED
    with pytest.raises(Conflict) as other:
        await do_merge(db, dup, stranger)
    assert other.value.message == commands.MERGE_OTHER_CUSTOMER
    with pytest.raises(Forbidden):
        await do_merge(db, dup, other_dept, username="agent")
    assert (await ticket(db, dup)).version == version
    assert (await ticket(db, dup)).merged_into_id is None
    # Merged once, it can be merged neither again nor into.
    await do_merge(db, dup, primary)
    third = await sibling(db, primary)
    with pytest.raises(Conflict) as again:
        await do_merge(db, dup, third)
    assert again.value.message == commands.MERGE_ALREADY
    with pytest.raises(ValidationFailed):
        await do_merge(db, third, dup)
    # Different customers: only when confirmed.
    await do_merge(db, stranger, primary, other_customer_confirmed=True)
    assert (await ticket(db, stranger)).merged_into_id == primary
    # By number: an unknown number is a field error.
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        with pytest.raises(ValidationFailed) as unknown:
            await merge.preview(s, lead, third, "TASK-NOPE")
    assert unknown.value.message == merge.UNKNOWN


async def test_the_portal_link_and_api_number_of_a_merged_ticket_lead_to_the_primary(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    key_id, raw = await new_key(db)
    dup, token = await portal_ticket(db, reference, S.IN_PROGRESS, api_key_id=key_id)
    primary = await sibling(db, dup)
    await do_merge(db, dup, primary)
    old, new = (await ticket(db, dup)).number, (await ticket(db, primary)).number
    page = await client.get(f"/portal/t/{token}")
    assert page.status_code == 200 and new in page.text
    assert (await post_info(client, token, REFUND)).status_code == 200
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == primary, FollowUp.by_customer) == 1
    headers = {"X-API-Key": raw}
    status = await client.get(f"/api/v1/inquiries/{old}", headers=headers)
    assert status.status_code == 200 and status.json()["number"] == new
    sent = await client.post(
        f"/api/v1/inquiries/{old}/messages", json={"text": "补充一下订单号。"}, headers=headers
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["number"] == new
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == primary, FollowUp.by_customer) == 2
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == dup) == 0
    assert (await ticket(db, dup)).status is S.CLOSED
    assert await n_rows(db, Ticket) == 2  # no repeat opened for the closed duplicate


async def test_an_email_reply_to_the_old_number_lands_in_the_primary(
    db: Any, reference: dict[str, int], redis: Any
) -> None:
    channel = get_settings().event_channel
    assert await inbound.import_message(db, redis, channel, None, None, mail()) is not None
    async with db.sessionmaker() as s:
        dup = await s.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    assert dup is not None
    primary = await sibling(db, dup)
    await do_merge(db, dup, primary, username="admin")
    number = (await ticket(db, dup)).number
    reply = mail(subject=f"Re: [#{number}] 订单 12345 还没有发货", body=REFUND)
    await inbound.import_message(db, redis, channel, None, None, reply)
    assert await n_rows(db, FollowUp, FollowUp.ticket_id == primary, FollowUp.by_customer) == 1
    assert (await ticket(db, primary)).customer_replied_at is not None
    assert await n_rows(db, Ticket) == 2


async def test_reports_count_a_merged_case_once(db: Any, reference: dict[str, int]) -> None:
    primary = await make_ticket(db, reference)
    dup = await sibling(db, primary)
    created = (await ticket(db, primary)).created_at
    day = created.date()
    period = summary.Period("custom", day - timedelta(days=1), day + timedelta(days=1))
    async with db.sessionmaker() as s:
        assert (await summary.period_figures(s, period)).count == 2
    await do_merge(db, dup, primary)
    async with db.sessionmaker() as s:
        assert (await summary.period_figures(s, period)).count == 1


async def test_a_second_message_on_a_closed_ticket_joins_the_open_repeat(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference)
    await move(db, "lead", tid, *TO_STATE[S.CLOSED])
    first = await write(db, tid)
    assert first.opened_repeat
    second = await write(db, tid, "还有一件事：发票也没收到。")
    assert not second.opened_repeat and second.ticket.id == first.ticket.id
    assert await n_rows(db, Ticket, Ticket.repeat_of_id == tid) == 1
    assert (
        await n_rows(db, FollowUp, FollowUp.ticket_id == first.ticket.id, FollowUp.by_customer) == 1
    )
    # Once the repeat is closed too, the next message opens a new one.
    await move(db, "lead", first.ticket.id, *TO_STATE[S.CLOSED])
    third = await write(db, tid, "又出问题了。")
    assert third.opened_repeat and third.ticket.id != first.ticket.id


async def test_the_drawer_previews_then_merges_and_refuses_in_chinese(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    primary = await make_ticket(db, reference)
    dup = await sibling(db, primary)
    number, old = (await ticket(db, primary)).number, (await ticket(db, dup)).number
    await sign_in(client, "lead", "kefu-lead")
    drawer = await client.get(f"/tickets/{dup}")
    assert 'data-testid="form-merge"' in drawer.text and "合并到…" in drawer.text
    headers = htmx(client.cookies.get("kefu_csrf"))
    version = str((await ticket(db, dup)).version)
    refused = await client.post(
        f"/tickets/{dup}/merge/preview", data={"number": old, "version": version}, headers=headers
    )
    assert refused.status_code == 422 and "工单不能合并到自身。" in refused.text
    shown = await client.post(
        f"/tickets/{dup}/merge/preview",
        data={"number": number.lower(), "version": version},
        headers=headers,
    )
    assert shown.status_code == 200 and f"将 {old} 合并到 {number}" in shown.text
    assert (await ticket(db, dup)).merged_into_id is None  # a preview writes nothing
    done = await client.post(
        f"/tickets/{dup}/merge", data={"number": number, "version": version}, headers=headers
    )
    assert done.status_code == 200 and number in done.text
    assert (await ticket(db, dup)).merged_into_id == primary
    page = await client.get(f"/tickets/{dup}")
    assert 'data-testid="merged-notice"' in page.text and f"{old} 已合并到 {number}" in page.text


async def test_a_repeat_of_an_open_ticket_offers_a_one_click_merge(
    db: Any, reference: dict[str, int]
) -> None:
    earlier = await make_ticket(db, reference)
    repeat = await sibling(db, earlier)
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        row = await commands.get(s, repeat)
        await commands.route_new(s, lead, row, repeat_of_id=earlier)
    number = (await ticket(db, earlier)).number
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, lead, repeat)
    assert detail.repeat_of_number == number and detail.merge_offer_number == number
    # A closed earlier ticket cannot take a merge: no offer.
    await move(db, "lead", earlier, *TO_STATE[S.CLOSED])
    async with db.sessionmaker() as s:
        detail = await board.ticket_detail(s, lead, repeat)
    assert detail.repeat_of_number == number and detail.merge_offer_number is None
