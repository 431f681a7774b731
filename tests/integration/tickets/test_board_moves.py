"""Moving cards through the real app: validated, audited, all-or-nothing, role-checked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.enums import CustomerLevel, TicketStatus, Urgency
from models.followup import FollowUp
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import (
    htmx,
    make_ticket,
    status_of,
    version_of,
)

pytestmark = pytest.mark.usefixtures("reference")

CARD_ID = re.compile(r'id="card-(\d+)"')


async def audit_count(db: Any, ticket_id: int, action: str | None = None) -> int:
    async with db.sessionmaker() as session:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.ticket_id == ticket_id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return int(await session.scalar(stmt) or 0)


async def post_move(
    client: Any,
    ticket_id: int,
    status: str,
    version: int | str,
    resolution: str = "",
    query: str = "",
) -> Any:
    token = client.cookies.get("kefu_csrf")
    return await client.post(
        "/board/move" + (f"?{query}" if query else ""),
        data={
            "ticket_id": str(ticket_id),
            "version": str(version),
            "status": status,
            "resolution": resolution,
        },
        headers=htmx(token),
    )


async def test_board_renders_every_column_with_counts_and_stable_ids(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    first = await make_ticket(db, reference, text="网络断开了", level=CustomerLevel.VIP)
    second = await make_ticket(db, reference, status=TicketStatus.IN_PROGRESS)
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/board")).text
    for status in TicketStatus:
        assert f'id="column-{status.value}"' in page
    assert re.search(r'data-testid="count-pending"[^>]*>1<', page)
    assert re.search(r'data-testid="count-in_progress"[^>]*>1<', page)
    assert re.search(r'data-testid="count-closed"[^>]*>0<', page)
    assert f'id="card-{first}"' in page and f'id="card-{second}"' in page
    assert 'data-version="' in page
    assert "VIP" in page  # the key customer is marked
    assert "咨询解答" in page  # the type badge, in Chinese by default


async def test_a_move_persists_audits_and_returns_the_card_and_both_counts(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    others = [await make_ticket(db, reference) for _ in range(3)]
    version = await version_of(db, ticket_id)
    await sign_in(client, "agent", "kefu-agent")
    response = await post_move(client, ticket_id, "in_progress", version)
    assert response.status_code == 200, response.text
    body = response.text
    # Small: the card in its new state and the two counts, out of band; no column re-read.
    assert body.count('hx-swap-oob="true"') == 3
    assert CARD_ID.findall(body) == [str(ticket_id)]
    assert all(f'id="card-{other}"' not in body for other in others)
    assert 'id="column-' not in body
    card = re.search(rf'<li [^>]*id="card-{ticket_id}"[^>]*>', body)
    assert card and 'data-status="in_progress"' in card.group(0)
    assert f'data-version="{await version_of(db, ticket_id)}"' in card.group(0)
    assert re.search(r'id="count-pending"[^>]*hx-swap-oob="true">3<', body)
    assert re.search(r'id="count-in_progress"[^>]*hx-swap-oob="true">1<', body)
    assert await status_of(db, ticket_id) is TicketStatus.IN_PROGRESS
    assert await version_of(db, ticket_id) > version
    assert await audit_count(db, ticket_id, "move") == 1
    assert await audit_count(db, ticket_id, "assign") == 1  # taking it assigns it


async def test_a_refused_move_changes_nothing_and_says_why_in_chinese(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    version = await version_of(db, ticket_id)
    before = await audit_count(db, ticket_id)
    await sign_in(client, "agent", "kefu-agent")
    response = await post_move(client, ticket_id, "closed", version)
    assert response.status_code == 409
    assert response.headers["hx-retarget"] == "#flash"
    assert "待处理的工单只能转入处理中" in response.text
    assert await status_of(db, ticket_id) is TicketStatus.PENDING
    assert await version_of(db, ticket_id) == version
    assert await audit_count(db, ticket_id) == before


async def test_the_refusal_is_in_english_when_english_is_chosen(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    client.cookies.set("kefu_lang", "en")
    response = await post_move(client, ticket_id, "completed", await version_of(db, ticket_id))
    assert response.status_code == 409
    assert "A pending ticket can only be taken into In progress." in response.text


def refusals_on(page: str) -> dict[tuple[str, str], str]:
    """The board page's table of refused drops: (from, to) → the reason shown while dragging."""
    table = page.split('id="drop-refusals"', 1)[1].split("</ul>", 1)[0]
    return {
        (source, target): reason
        for source, target, reason in re.findall(
            r'<li data-from="(\w+)" data-to="(\w+)">([^<]*)</li>', table
        )
    }


async def test_the_board_carries_the_state_machines_refusals_for_this_person(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    """Every move between two columns that the person may not make, with the server's reason
    in their language; the moves they may make are absent (and are the cards' data-moves)."""
    await sign_in(client, "agent", "kefu-agent")
    agent = refusals_on((await client.get("/board")).text)
    assert agent[("pending", "closed")] == "待处理的工单只能转入处理中。"
    assert agent[("completed", "in_progress")] == "只有组长可以重新打开工单。"
    assert ("pending", "in_progress") not in agent
    assert ("awaiting_confirmation", "completed") not in agent
    assert all(source != target for source, target in agent)
    assert len(agent) == 20 - 5  # five moves an agent may make

    client.cookies.set("kefu_lang", "en")
    english = refusals_on((await client.get("/board")).text)
    assert english[("closed", "in_progress")] == "Only a lead may reopen a ticket."

    await sign_in(client, "lead", "kefu-lead")
    lead = refusals_on((await client.get("/board")).text)
    assert ("completed", "in_progress") not in lead and ("closed", "in_progress") not in lead
    assert len(lead) == 20 - 7


async def test_completing_requires_the_resolution_and_records_it(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, status=TicketStatus.AWAITING_CONFIRMATION)
    version = await version_of(db, ticket_id)
    await sign_in(client, "agent", "kefu-agent")
    missing = await post_move(client, ticket_id, "completed", version, resolution="   ")
    assert missing.status_code == 422
    assert "必填" in missing.text
    assert await status_of(db, ticket_id) is TicketStatus.AWAITING_CONFIRMATION
    assert await version_of(db, ticket_id) == version

    done = await post_move(
        client, ticket_id, "completed", version, resolution="已更换配件，客户确认恢复。"
    )
    assert done.status_code == 200, done.text
    assert await status_of(db, ticket_id) is TicketStatus.COMPLETED
    async with db.sessionmaker() as session:
        record = await session.scalar(
            select(FollowUp).where(FollowUp.ticket_id == ticket_id, FollowUp.is_resolution)
        )
    assert record is not None
    assert record.discussed == "已更换配件，客户确认恢复。"
    assert record.visible_to_customer and record.done


async def test_an_agent_of_another_department_is_refused(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, department="SUPPORT")
    version = await version_of(db, ticket_id)
    await sign_in(client, "agent.tech", "kefu-agent")
    response = await post_move(client, ticket_id, "in_progress", version)
    assert response.status_code == 403
    assert "该工单属于其他部门" in response.text
    assert await status_of(db, ticket_id) is TicketStatus.PENDING
    assert await version_of(db, ticket_id) == version
    # Their board (every department, chosen) shows the card without a move menu or drag handle.
    page = (await client.get("/board?department=all")).text
    card = page.split(f'id="card-{ticket_id}"', 1)[1].split("</li>", 1)[0]
    assert "data-move-to" not in card
    assert "data-can-move" not in page.split(f'id="card-{ticket_id}"', 1)[0].rsplit("<li", 1)[1]


async def test_only_a_lead_reopens(client: Any, db: Any, reference: dict[str, int]) -> None:
    ticket_id = await make_ticket(db, reference, status=TicketStatus.COMPLETED)
    version = await version_of(db, ticket_id)
    await sign_in(client, "agent", "kefu-agent")
    refused = await post_move(client, ticket_id, "in_progress", version)
    assert refused.status_code == 403
    assert "只有组长可以重新打开工单" in refused.text
    assert await status_of(db, ticket_id) is TicketStatus.COMPLETED

    await sign_in(client, "lead", "kefu-lead")
    reopened = await post_move(client, ticket_id, "in_progress", version)
    assert reopened.status_code == 200, reopened.text
    assert await status_of(db, ticket_id) is TicketStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("field", "value"),
    [("ticket_id", "abc"), ("version", ""), ("version", "x1"), ("status", "archived")],
)
async def test_malformed_moves_get_a_localized_422(
    client: Any, db: Any, reference: dict[str, int], field: str, value: str
) -> None:
    ticket_id = await make_ticket(db, reference)
    form = {
        "ticket_id": str(ticket_id),
        "version": str(await version_of(db, ticket_id)),
        "status": "in_progress",
        field: value,
    }
    await sign_in(client, "agent", "kefu-agent")
    token = client.cookies.get("kefu_csrf")
    response = await client.post("/board/move", data=form, headers=htmx(token))
    assert response.status_code == 422
    assert "请修改标出的字段" in response.text
    assert await status_of(db, ticket_id) is TicketStatus.PENDING


async def test_moving_an_unknown_ticket_is_404(client: Any, reference: dict[str, int]) -> None:
    await sign_in(client, "agent", "kefu-agent")
    response = await post_move(client, 999999, "in_progress", 1)
    assert response.status_code == 404
    assert "未找到该工单" in response.text


async def test_a_move_without_csrf_is_refused(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        "/board/move",
        data={"ticket_id": str(ticket_id), "version": "1", "status": "in_progress"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 403
    assert await status_of(db, ticket_id) is TicketStatus.PENDING


async def test_a_plain_form_post_redirects_back_to_the_filtered_board(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        "/board/move?priority=medium",
        data={
            "ticket_id": str(ticket_id),
            "version": str(await version_of(db, ticket_id)),
            "status": "in_progress",
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
        follow_redirects=False,
    )
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/board?priority=medium"
    assert await status_of(db, ticket_id) is TicketStatus.IN_PROGRESS


async def test_columns_page_by_priority_then_deadline_and_load_more(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    low = [await make_ticket(db, reference, urgency=Urgency.LOW) for _ in range(24)]
    urgent = await make_ticket(db, reference, urgency=Urgency.URGENT)
    vip_urgent = await make_ticket(
        db, reference, urgency=Urgency.URGENT, level=CustomerLevel.STRATEGIC
    )
    medium = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    column = (await client.get("/board/columns/pending")).text
    ids = [int(i) for i in CARD_ID.findall(column)]
    assert len(ids) == 25
    assert ids[:3] == [vip_urgent, urgent, medium]
    assert re.search(r'data-testid="count-pending"[^>]*>27<', column)
    sentinel = re.search(r'hx-get="(/board/columns/pending/more\?offset=25)"', column)
    assert sentinel and 'hx-trigger="revealed"' in column
    more = (await client.get(sentinel.group(1))).text
    rest = [int(i) for i in CARD_ID.findall(more)]
    assert len(rest) == 2
    assert set(ids + rest) == {*low, urgent, vip_urgent, medium}
    assert "/more?" not in more  # the last page has no sentinel


async def test_fragments_respect_the_filters(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    consult = await make_ticket(db, reference, text="咨询发票开具流程")
    await sign_in(client, "agent", "kefu-agent")
    card = await client.get(f"/board/cards/{consult}")
    assert f'id="card-{consult}"' in card.text
    hidden = await client.get(f"/board/cards/{consult}?q=退货")
    assert hidden.status_code == 200 and hidden.text == ""
    assert (await client.get("/board/columns/nonsense")).status_code == 404


async def test_a_search_pages_its_columns_too(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    """Text search reads every column in one pass; paging and counts stay the same."""
    found = [await make_ticket(db, reference, text=f"批量导入失败 第{i}次") for i in range(27)]
    await make_ticket(db, reference, text="与搜索无关")
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/board?q=批量导入")).text
    first = [int(i) for i in CARD_ID.findall(page)]
    assert len(first) == 25
    assert re.search(r'data-testid="count-pending"[^>]*>27<', page)
    sentinel = re.search(r'hx-get="(/board/columns/pending/more\?offset=25[^"]*)"', page)
    assert sentinel and "q=" in sentinel.group(1)
    more = (await client.get(sentinel.group(1).replace("&amp;", "&"))).text
    rest = [int(i) for i in CARD_ID.findall(more)]
    assert sorted(first + rest) == sorted(found)


async def test_a_dropped_card_stays_in_view_even_below_the_first_page(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    for _ in range(26):
        await make_ticket(db, reference, urgency=Urgency.URGENT, status=TicketStatus.IN_PROGRESS)
    low = await make_ticket(db, reference, urgency=Urgency.LOW)
    await sign_in(client, "agent", "kefu-agent")
    response = await post_move(client, low, "in_progress", await version_of(db, low))
    # The mover's board keeps the card where it was dropped: the answer is that card alone.
    assert CARD_ID.findall(response.text) == [str(low)]
    # Its next page, asked for as the board's script asks after a drop (``pinned``: the card
    # shown above it), leaves the card out.
    more = (await client.get(f"/board/columns/in_progress/more?offset=25&pinned={low}")).text
    assert f'id="card-{low}"' not in more  # never twice
    assert len(CARD_ID.findall(more)) == 1  # 27 in the column: 25, the pinned one, 1 more


async def test_a_moved_card_that_leaves_the_filtered_board_is_removed_from_it(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    for status in ("in_progress", "awaiting_confirmation"):
        moved = await post_move(client, ticket_id, status, await version_of(db, ticket_id))
        assert moved.status_code == 200, moved.text
    # On a board filtered to "on track", completing it (its SLA now "met") takes it off.
    done = await post_move(
        client,
        ticket_id,
        "completed",
        await version_of(db, ticket_id),
        resolution="已远程指导客户完成设置",
        query="sla=ok",
    )
    assert done.status_code == 200, done.text
    assert f'<li id="card-{ticket_id}" hx-swap-oob="delete"></li>' in done.text
    assert re.search(r'id="count-completed"[^>]*hx-swap-oob="true">0<', done.text)
    assert await status_of(db, ticket_id) is TicketStatus.COMPLETED
