"""The ticket drawer: details, history, timeline, follow-ups, edits, and inert hostile text."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.enums import CustomerLevel, FollowUpMethod, Priority, RequestType, TicketStatus
from models.followup import FollowUp
from models.label import Label
from models.services.tickets import commands
from tests.conftest import sign_in
from tests.integration.tickets.test_board_helpers import actor, htmx, make_ticket, version_of

pytestmark = pytest.mark.usefixtures("reference")

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


async def post(client: Any, path: str, **data: Any) -> Any:
    return await client.post(path, data=data, headers=htmx(client.cookies.get("kefu_csrf")))


async def audit_rows(db: Any, ticket_id: int, action: str) -> list[AuditEvent]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.ticket_id == ticket_id, AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_hostile_text_renders_inert_on_the_board_and_in_the_drawer(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(
        db, reference, text=f"{SCRIPT}\n{IMG} 打印机坏了", customer_name=f"{IMG}{SCRIPT}"
    )
    await make_ticket(db, reference, text=SCRIPT, customer_name="安全客户")
    await sign_in(client, "agent", "kefu-agent")
    pages = [
        (await client.get("/board")).text,
        (await client.get(f"/board/cards/{ticket_id}")).text,
        (await client.get("/board/columns/pending")).text,
        (await client.get(f"/tickets/{ticket_id}")).text,
        (await client.get(f"/tickets/{ticket_id}", headers={"HX-Request": "true"})).text,
        (await client.get(f"/board?q={SCRIPT}")).text,
    ]
    for page in pages:
        assert SCRIPT not in page
        assert IMG not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[3]


async def test_the_drawer_shows_details_customer_history_and_timeline(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    earlier = await make_ticket(
        db,
        reference,
        text="上个月的发票问题",
        customer_name="赵敏",
        level=CustomerLevel.VIP,
        status=TicketStatus.CLOSED,
    )
    async with db.sessionmaker() as session:
        customer_id = (await commands.get(session, earlier)).customer_id
        earlier_number = (await commands.get(session, earlier)).number
    admin = await actor(db, "admin")
    from models.db import unit_of_work

    async with unit_of_work(db) as session:
        ticket, _ = await commands.create(
            session,
            admin,
            commands.TicketInput(
                customer_id=customer_id,
                description="又遇到同样的发票问题",
                channel=commands.Channel.EMAIL,
                department_id=reference["SUPPORT"],
            ),
        )
        ticket_id = ticket.id
    await sign_in(client, "agent", "kefu-agent")
    moved = await post(
        client,
        "/board/move",
        ticket_id=ticket_id,
        status="in_progress",
        version=await version_of(db, ticket_id),
    )
    assert moved.status_code == 200

    drawer = await client.get(f"/tickets/{ticket_id}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200
    text = drawer.text
    assert "<html" not in text  # a fragment for the drawer
    assert "又遇到同样的发票问题" in text
    assert "赵敏" in text and "VIP" in text
    assert earlier_number in text  # customer history
    assert 'id="suggestions"' in text  # room for the knowledge-base suggestions
    assert "处理时间线" in text and "状态变更" in text and "待处理" in text and "处理中" in text
    assert "工单登记" in text
    page = await client.get(f"/tickets/{ticket_id}")
    assert "<html" in page.text and 'id="drawer"' in page.text


async def test_a_follow_up_with_every_field_is_recorded_and_shown(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, status=TicketStatus.IN_PROGRESS)
    emma = await actor(db, "agent.emma")
    await sign_in(client, "agent", "kefu-agent")
    response = await post(
        client,
        f"/tickets/{ticket_id}/follow-ups",
        method="phone",
        discussed="电话确认了路由器型号",
        customer_feedback="客户同意上门",
        next_step="安排工程师上门",
        next_owner_id=emma.user_id,
        next_due_at="2030-05-01T14:30",
        done="1",
        visible_to_customer="1",
    )
    assert response.status_code == 200, response.text
    assert "电话确认了路由器型号" in response.text and "安排工程师上门" in response.text
    assert "2030-05-01 14:30" in response.text  # shown in the team's timezone
    async with db.sessionmaker() as session:
        record = await session.scalar(
            select(FollowUp).where(FollowUp.ticket_id == ticket_id, ~FollowUp.is_resolution)
        )
    assert record is not None
    assert record.method is FollowUpMethod.PHONE
    assert record.customer_feedback == "客户同意上门"
    assert record.next_owner_id == emma.user_id
    assert record.next_due_at is not None and record.next_due_at.hour == 6  # 14:30 +08:00
    assert record.done and record.visible_to_customer
    assert len(await audit_rows(db, ticket_id, "follow_up")) == 1


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("discussed", "   ", 422),
        ("method", "fax", 422),
        ("next_due_at", "next tuesday", 422),
        ("next_owner_id", "999999", 422),
        ("next_owner_id", "bob", 422),
        ("discussed", "字" * 5001, 422),
    ],
)
async def test_a_bad_follow_up_is_refused_with_nothing_written(
    client: Any, db: Any, reference: dict[str, int], field: str, value: str, status: int
) -> None:
    ticket_id = await make_ticket(db, reference)
    form = {"method": "email", "discussed": "已回复邮件", field: value}
    await sign_in(client, "agent", "kefu-agent")
    response = await post(client, f"/tickets/{ticket_id}/follow-ups", **form)
    assert response.status_code == status
    assert "请修改标出的字段" in response.text or "未知的员工" in response.text
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.ticket_id == ticket_id)
        )
    assert count == 0


async def test_edits_are_audited_and_a_leads_type_change_is_a_correction(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference, request_type=RequestType.CONSULTATION)
    emma = await actor(db, "agent.emma")
    await sign_in(client, "agent", "kefu-agent")
    assigned = await post(
        client,
        f"/tickets/{ticket_id}/assign",
        assignee_id=emma.user_id,
        version=await version_of(db, ticket_id),
    )
    assert assigned.status_code == 200, assigned.text
    assert 'hx-swap-oob="true"' in assigned.text and f'id="card-{ticket_id}"' in assigned.text
    as_agent = await post(
        client,
        f"/tickets/{ticket_id}/type",
        request_type="problem",
        version=await version_of(db, ticket_id),
    )
    assert as_agent.status_code == 200
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Label)) == 0

    await sign_in(client, "lead", "kefu-lead")
    as_lead = await post(
        client,
        f"/tickets/{ticket_id}/type",
        request_type="complaint",
        version=await version_of(db, ticket_id),
    )
    assert as_lead.status_code == 200
    prioritised = await post(
        client,
        f"/tickets/{ticket_id}/priority",
        priority="high",
        version=await version_of(db, ticket_id),
    )
    assert prioritised.status_code == 200
    async with db.sessionmaker() as session:
        label = await session.scalar(select(Label).where(Label.ticket_id == ticket_id))
        ticket = await commands.get(session, ticket_id)
    assert label is not None
    assert label.category is RequestType.COMPLAINT
    assert label.previous_category is RequestType.PROBLEM
    assert ticket.assignee_id == emma.user_id and ticket.priority is Priority.HIGH
    assign = await audit_rows(db, ticket_id, "assign")
    assert [(a.before, a.after) for a in assign] == [(None, emma.user_id)]
    changes = {(a.field, a.before, a.after) for a in await audit_rows(db, ticket_id, "change")}
    assert ("request_type", "consultation", "problem") in changes
    assert ("request_type", "problem", "complaint") in changes
    assert ("priority", "medium", "high") in changes
    deadlines = await audit_rows(db, ticket_id, "deadline")
    assert deadlines and all(a.field.endswith("_due") for a in deadlines if a.field)


async def test_collaborators_are_added_and_removed_with_an_audit(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    tech = await actor(db, "agent.tech")
    await sign_in(client, "agent", "kefu-agent")
    added = await post(
        client,
        f"/tickets/{ticket_id}/collaborators",
        user_id=tech.user_id,
        version=await version_of(db, ticket_id),
    )
    assert added.status_code == 200 and "赵磊" in added.text
    # The collaborator from another department may now work the ticket.
    async with db.sessionmaker() as session:
        ticket = await commands.get(session, ticket_id)
        assert [c.id for c in ticket.collaborators] == [tech.user_id]
    removed = await post(
        client,
        f"/tickets/{ticket_id}/collaborators/remove",
        user_id=tech.user_id,
        version=await version_of(db, ticket_id),
    )
    assert removed.status_code == 200
    async with db.sessionmaker() as session:
        assert (await commands.get(session, ticket_id)).collaborators == []
    assert len(await audit_rows(db, ticket_id, "collaborator_add")) == 1
    assert len(await audit_rows(db, ticket_id, "collaborator_remove")) == 1
    stale = await post(
        client, f"/tickets/{ticket_id}/collaborators", user_id=tech.user_id, version=1
    )
    assert stale.status_code == 409


async def test_another_departments_agent_reads_but_cannot_edit(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    version = await version_of(db, ticket_id)
    await sign_in(client, "agent.care", "kefu-agent")
    drawer = await client.get(f"/tickets/{ticket_id}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200
    assert 'data-testid="form-assign"' not in drawer.text
    assert "您可以查看，但不能修改" in drawer.text
    for path, data in [
        ("priority", {"priority": "urgent"}),
        ("assign", {"assignee_id": ""}),
        ("type", {"request_type": "problem"}),
        ("follow-ups", {"method": "phone", "discussed": "越权"}),
    ]:
        response = await post(client, f"/tickets/{ticket_id}/{path}", version=version, **data)
        assert response.status_code == 403, path
    assert await version_of(db, ticket_id) == version


async def test_unknown_tickets_and_bad_edits(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/tickets/999999")).status_code == 404
    bad_priority = await post(
        client,
        f"/tickets/{ticket_id}/priority",
        priority="asap",
        version=await version_of(db, ticket_id),
    )
    assert bad_priority.status_code == 422
    no_version = await post(client, f"/tickets/{ticket_id}/priority", priority="high")
    assert no_version.status_code == 422
    unknown_assignee = await post(
        client,
        f"/tickets/{ticket_id}/assign",
        assignee_id=424242,
        version=await version_of(db, ticket_id),
    )
    assert unknown_assignee.status_code == 422


async def test_a_plain_form_post_returns_to_the_ticket_page(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id = await make_ticket(db, reference)
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        f"/tickets/{ticket_id}/priority",
        data={
            "priority": "low",
            "version": await version_of(db, ticket_id),
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
        follow_redirects=False,
    )
    assert response.status_code in (302, 303)
    assert response.headers["location"] == f"/tickets/{ticket_id}"
