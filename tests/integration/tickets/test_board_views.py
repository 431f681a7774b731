"""A board that fits the day: each person's default board, the remembered one, saved views
(personal and team) and bulk actions that go through the write path ticket by ticket."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.board_view import BoardView
from models.db import unit_of_work
from models.enums import Channel, Priority, TicketStatus
from models.services.tickets import commands, views
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import (
    actor,
    htmx,
    make_ticket,
    status_of,
    version_of,
)

pytestmark = pytest.mark.usefixtures("reference")

CARD_ID = re.compile(r'id="card-(\d+)"')


async def board_ids(client: Any, path: str = "/board") -> set[int]:
    response = await client.get(path)
    assert response.status_code == 200
    return {int(i) for i in CARD_ID.findall(response.text)}


def data_query(page: str) -> str:
    found = re.search(r'id="board"[^>]*data-query="([^"]*)"', page)
    assert found
    return found.group(1).replace("&amp;", "&")


@pytest.fixture
async def spread(db: Any, reference: dict[str, int]) -> dict[str, int]:
    """One pending ticket in each of three departments, one not routed yet."""
    return {
        "SUPPORT": await make_ticket(db, reference, text="打印机无法连接网络"),
        "TECH": await make_ticket(db, reference, text="服务器宕机", department="TECH"),
        "AFTER": await make_ticket(db, reference, text="退货退款", department="AFTER"),
        "none": await make_ticket(db, reference, text="还没分派", department=None),
    }


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("agent", "kefu-agent", {"SUPPORT"}),
        ("lead.tech", "kefu-lead", {"TECH"}),
        ("admin", "kefu-admin", {"SUPPORT", "TECH", "AFTER", "none"}),
    ],
)
async def test_the_default_board_is_the_persons_department_and_all_for_an_admin(
    client: Any, spread: dict[str, int], username: str, password: str, expected: set[str]
) -> None:
    await sign_in(client, username, password)
    assert await board_ids(client) == {spread[k] for k in expected}
    # Every department stays one choice away, and the menu shows which is chosen.
    assert await board_ids(client, "/board?department=all") == set(spread.values())
    page = (await client.get("/board?department=all")).text
    assert '<option value="all" selected>' in page


async def test_the_last_board_is_remembered_and_restored(
    client: Any, db: Any, spread: dict[str, int], reference: dict[str, int]
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    after = reference["AFTER"]
    await client.get(f"/board?department={after}&type=&priority=", headers={"HX-Request": "true"})
    page = (await client.get("/board")).text
    assert data_query(page) == f"department={after}"
    assert {int(i) for i in CARD_ID.findall(page)} == {spread["AFTER"]}
    # Choosing every department is remembered too (not mistaken for "nothing chosen").
    await client.get("/board?department=all")
    assert await board_ids(client) == set(spread.values())
    # It is per person: a colleague of the same department still gets the default.
    async with db.sessionmaker() as session:
        emma = await actor(db, "agent.emma")
        assert await views.default_query(session, emma) == f"department={reference['SUPPORT']}"


async def test_fragments_do_not_overwrite_the_remembered_board(
    client: Any, spread: dict[str, int], reference: dict[str, int]
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    await client.get(f"/board?department={reference['TECH']}")
    assert (await client.get("/board/columns/pending?mine=1")).status_code == 200
    assert await board_ids(client) == {spread["TECH"]}


async def csrf(client: Any) -> str:
    return str(client.cookies.get("kefu_csrf"))


async def save(client: Any, name: str, query: str, team: bool = False) -> Any:
    data = {"name": name, "query": query, "_csrf_token": await csrf(client)}
    if team:
        data["team"] = "1"
    return await client.post("/board/views", data=data, follow_redirects=False)


async def test_saved_views_personal_and_team(
    client: Any, app: Any, db: Any, spread: dict[str, int], reference: dict[str, int]
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    response = await save(client, "售后高优先级", f"department={reference['AFTER']}&priority=high")
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/board?department=")
    response = await save(client, "我的逾期VIP", "mine=1&sla=breached&level=vip", team=True)
    assert response.status_code in (302, 303)
    page = (await client.get("/board")).text
    assert 'data-testid="view-售后高优先级"' in page and 'data-testid="view-我的逾期VIP"' in page

    # A SUPPORT agent sees the team view, not the lead's personal one, and may not delete it.
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as agent:
        await sign_in(agent, "agent", "kefu-agent")
        page = (await agent.get("/board")).text
        assert 'data-testid="view-我的逾期VIP"' in page
        assert 'data-testid="view-售后高优先级"' not in page
        assert "/board/views/" not in page  # no delete button on someone else's view
        async with db.sessionmaker() as session:
            team_id = await session.scalar(select(BoardView.id).where(BoardView.team.is_(True)))
        token = await csrf(agent)
        refused = await agent.post(f"/board/views/{team_id}/delete", data={"_csrf_token": token})
        assert refused.status_code == 403
        assert "只有保存视图的人可以删除它" in refused.text
        # An agent may not share a view with the team; nothing is saved.
        refused = await save(agent, "全组", "mine=1", team=True)
        assert refused.status_code == 403 and "只有组长和管理员可以保存团队视图" in refused.text
        assert (await save(agent, "我的", "mine=1")).status_code in (302, 303)
        page = (await agent.get("/board")).text
        assert 'data-testid="view-我的"' in page
        own = re.search(r'action="/board/views/(\d+)/delete"', page)
        assert own
        gone = await agent.post(
            own.group(0).split('"')[1], data={"_csrf_token": token}, follow_redirects=False
        )
        assert gone.status_code in (302, 303)
        assert 'data-testid="view-我的"' not in (await agent.get("/board")).text

    # Another department's agent does not see the SUPPORT team view.
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as tech:
        await sign_in(tech, "agent.tech", "kefu-agent")
        assert 'data-testid="view-我的逾期VIP"' not in (await tech.get("/board")).text


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("", "mine=1", "请为视图命名"),
        ("   ", "mine=1", "请为视图命名"),
        ("长" * 61, "mine=1", "视图名称最多 60 个字符"),
    ],
)
async def test_a_bad_view_is_refused_with_a_clear_message(
    client: Any, db: Any, name: str, query: str, message: str
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    response = await save(client, name, query)
    assert response.status_code == 422 and message in response.text
    async with db.sessionmaker() as session:
        assert (await session.scalars(select(BoardView))).all() == []


async def test_a_view_keeps_only_filter_parameters(db: Any) -> None:
    assert views.clean_query("q=a&evil=1&department=3&mine=&x=y") == "department=3&q=a"


# --- bulk actions ---------------------------------------------------------------------------


async def bulk(client: Any, **data: str) -> Any:
    token = await csrf(client)
    return await client.post("/board/bulk", data=data, headers=htmx(token))


async def test_bulk_assign_assigns_each_ticket_through_the_write_path(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ids = [await make_ticket(db, reference, text=f"批量工单{i}") for i in range(3)]
    emma = await actor(db, "agent.emma")
    await sign_in(client, "lead", "kefu-lead")
    response = await bulk(
        client, ticket_ids=",".join(map(str, ids)), action="assign", assignee_id=str(emma.user_id)
    )
    assert response.status_code == 200
    assert 'data-done="3" data-refused="0"' in response.text
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))).all()
        assert {r.assignee_id for r in rows} == {emma.user_id}
        audits = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.ticket_id.in_(ids), AuditEvent.action == "assign"
                )
            )
        ).all()
        assert len(audits) == 3  # one entry per ticket


async def test_a_mixed_bulk_move_reports_each_ticket_and_leaves_the_refused_alone(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    pending = await make_ticket(db, reference, text="待处理的")
    closed = await make_ticket(db, reference, text="已关闭的", status=TicketStatus.CLOSED)
    other = await make_ticket(db, reference, text="技术部的", department="TECH")
    closed_version = await version_of(db, closed)
    other_version = await version_of(db, other)
    await sign_in(client, "agent", "kefu-agent")
    response = await bulk(
        client, ticket_ids=f"{pending},{closed},{other}", action="move", status="in_progress"
    )
    assert response.status_code == 200
    assert 'data-done="1" data-refused="2"' in response.text
    outcome = re.search(rf'data-testid="bulk-outcome-{closed}".*?</li>', response.text, re.S)
    assert outcome and "只有组长可以重新打开工单" in outcome.group(0)
    assert "TASK" in outcome.group(0)  # named by its number
    outcome = re.search(rf'data-testid="bulk-outcome-{other}".*?</li>', response.text, re.S)
    assert outcome and "该工单属于其他部门" in outcome.group(0)
    assert await status_of(db, pending) is TicketStatus.IN_PROGRESS
    assert await status_of(db, closed) is TicketStatus.CLOSED
    assert await version_of(db, closed) == closed_version
    assert await status_of(db, other) is TicketStatus.PENDING
    assert await version_of(db, other) == other_version


async def test_bulk_priority_in_english(client: Any, db: Any, reference: dict[str, int]) -> None:
    first = await make_ticket(db, reference)
    closed = await make_ticket(db, reference, status=TicketStatus.CLOSED)
    await sign_in(client, "lead", "kefu-lead")
    token = await csrf(client)
    response = await client.post(
        "/board/bulk",
        data={"ticket_ids": f"{first},{closed}", "action": "priority", "priority": "urgent"},
        headers={**htmx(token), "Accept-Language": "en"},
    )
    assert response.status_code == 200
    async with db.sessionmaker() as session:
        assert Priority((await session.get(Ticket, first)).priority) is Priority.URGENT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ticket_ids": "", "action": "assign"}, "请至少选择一个工单"),
        ({"ticket_ids": "1,abc", "action": "assign"}, ""),
        ({"ticket_ids": "1", "action": "merge"}, ""),
        ({"ticket_ids": "1", "action": "move", "status": "nowhere"}, ""),
        ({"ticket_ids": "1", "action": "priority", "priority": ""}, ""),
        ({"ticket_ids": "1", "action": "assign", "assignee_id": "999999"}, "未知"),
        ({"ticket_ids": ",".join(str(i) for i in range(1, 203)), "action": "assign"}, "一次最多"),
    ],
)
async def test_bad_bulk_input_is_a_clear_4xx_and_changes_nothing(
    client: Any, db: Any, reference: dict[str, int], data: dict[str, str], message: str
) -> None:
    tid = await make_ticket(db, reference)
    before = await version_of(db, tid)
    await sign_in(client, "lead", "kefu-lead")
    data = {
        k: v.replace("1", str(tid), 1) if k == "ticket_ids" and v == "1" else v
        for k, v in data.items()
    }
    response = await bulk(client, **data)
    assert response.status_code in (400, 422), response.text[:300]
    assert message in response.text
    assert await version_of(db, tid) == before


async def test_an_unknown_ticket_in_a_bulk_action_is_reported_not_fatal(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference)
    await sign_in(client, "lead", "kefu-lead")
    response = await bulk(client, ticket_ids=f"{tid},987654", action="priority", priority="high")
    assert response.status_code == 200
    assert 'data-done="1" data-refused="1"' in response.text
    assert 'data-testid="bulk-outcome-987654"' in response.text


async def same_customer_ticket(db: Any, of: int, text: str) -> int:
    """Another ticket of the customer of ticket ``of`` (a duplicate of the same request)."""
    admin = await actor(db, "admin")
    async with unit_of_work(db) as session:
        first = await session.get(Ticket, of)
        assert first is not None
        row, _ = await commands.create(
            session,
            admin,
            commands.TicketInput(
                customer_id=first.customer_id,
                description=text,
                channel=Channel.PORTAL,
                department_id=first.department_id,
            ),
        )
        return row.id


async def test_bulk_merge_merges_each_duplicate_and_reports_the_refused(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    primary = await make_ticket(db, reference, text="退款还没到账")
    first = await same_customer_ticket(db, primary, "退款还没到账（重复提交）")
    second = await same_customer_ticket(db, primary, "退款一直没到账")
    stranger = await make_ticket(db, reference, text="别的客户的退款", customer_name="李雷")
    async with db.sessionmaker() as session:
        number = (await session.get(Ticket, primary)).number  # type: ignore[union-attr]
    stranger_version = await version_of(db, stranger)
    await sign_in(client, "lead", "kefu-lead")
    response = await bulk(
        client,
        ticket_ids=f"{primary},{first},{second},{stranger}",
        action="merge",
        primary_number=number.lower(),
    )
    assert response.status_code == 200
    # The primary itself is what the others merge into: not reported as refused.
    assert 'data-done="2" data-refused="1"' in response.text
    async with db.sessionmaker() as session:
        for dup in (first, second):
            row = await session.get(Ticket, dup)
            assert row is not None and row.merged_into_id == primary
            assert TicketStatus(row.status) is TicketStatus.CLOSED
        kept = await session.get(Ticket, stranger)
        assert kept is not None and kept.merged_into_id is None
    assert await version_of(db, stranger) == stranger_version


async def test_bulk_merge_into_an_unknown_number_is_refused_whole(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    one = await make_ticket(db, reference)
    version = await version_of(db, one)
    await sign_in(client, "lead", "kefu-lead")
    response = await bulk(client, ticket_ids=f"{one}", action="merge", primary_number="TASK000")
    assert response.status_code == 422
    assert "没有此编号的工单" in response.text
    assert await version_of(db, one) == version
