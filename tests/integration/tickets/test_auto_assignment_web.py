"""Auto-assignment on the web: the settings page (leads), its validation, the duty switch in
the top bar, and the reason on the ticket's timeline."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.assignment_settings import AssignmentSettings
from models.db import unit_of_work
from models.services.tickets import assignment
from models.user import User
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import make_ticket, user_id

pytestmark = pytest.mark.usefixtures("reference")


def hx(client: Any) -> dict[str, str]:
    return {"HX-Request": "true", "x-csrftoken": client.cookies.get("kefu_csrf", "")}


def form(**changes: Any) -> dict[str, Any]:
    return {"enabled": "on", "strategy": "round_robin", "cap": "5", **changes}


async def stored(db: Any) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AssignmentSettings)) or 0)


async def test_a_lead_configures_their_department(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/admin/assignment")
    assert page.status_code == 200
    assert "自动分派" in page.text and 'data-testid="on-duty-list"' in page.text
    emma = await user_id(db, "agent.emma")
    saved = await client.post(
        f"/admin/assignment/{reference['SUPPORT']}",
        headers=hx(client),
        data=form(strategy="least_open", cap="12", senior_ids=[str(emma)]),
    )
    assert saved.status_code == 200, saved.text[:300]
    assert "自动分派设置已保存" in saved.text
    async with db.sessionmaker() as session:
        row = await session.scalar(select(AssignmentSettings))
    assert row is not None
    assert (row.enabled, row.strategy, row.cap, row.senior_ids) == (True, "least_open", 12, [emma])
    # Another department's settings are read-only for this lead.
    other = await client.post(
        f"/admin/assignment/{reference['TECH']}", headers=hx(client), data=form()
    )
    assert other.status_code == 403
    assert await stored(db) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cap": "0"}, "请输入1到200之间的整数"),
        ({"cap": "201"}, "请输入1到200之间的整数"),
        ({"cap": "很多"}, "请输入1到200之间的整数"),
        ({"strategy": "lottery"}, "请从选项中选择"),
        ({"senior_ids": ["999999"]}, "资深坐席必须是本部门的在职成员"),
        ({"senior_ids": ["abc"]}, "资深坐席必须是本部门的在职成员"),
    ],
)
async def test_bad_settings_are_refused_with_a_localized_422(
    client: Any, db: Any, reference: dict[str, int], changes: dict[str, Any], message: str
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    response = await client.post(
        f"/admin/assignment/{reference['SUPPORT']}", headers=hx(client), data=form(**changes)
    )
    assert response.status_code == 422
    assert message in response.text
    assert await stored(db) == 0


async def test_a_senior_from_another_department_is_refused(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    tech = await user_id(db, "agent.tech")
    response = await client.post(
        f"/admin/assignment/{reference['SUPPORT']}",
        headers=hx(client),
        data=form(senior_ids=[str(tech)]),
    )
    assert response.status_code == 422
    assert "资深坐席必须是本部门的在职成员" in response.text
    assert await stored(db) == 0
    missing = await client.post("/admin/assignment/999999", headers=hx(client), data=form())
    assert missing.status_code == 404


async def test_agents_may_not_open_the_settings(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    response = await client.get("/admin/assignment")
    assert response.status_code == 403


async def test_the_duty_switch(client: Any, db: Any) -> None:
    await sign_in(client, "agent.tech", "kefu-agent")
    async with unit_of_work(db) as session:
        user = await session.scalar(select(User).where(User.username == "agent.tech"))
        assert user is not None
        user.on_duty = False
    shown = await client.get("/duty")
    assert shown.status_code == 200 and "下班" in shown.text and 'value="1"' in shown.text
    on = await client.post("/duty", headers=hx(client), data={"on": "1"})
    assert on.status_code == 200 and 'value="0"' in on.text
    async with db.sessionmaker() as session:
        assert await session.scalar(select(User.on_duty).where(User.username == "agent.tech"))
    off = await client.post("/duty", headers=hx(client), data={"on": "0"})
    assert off.status_code == 200 and 'value="1"' in off.text
    board = await client.get("/board")
    assert 'hx-get="/duty"' in board.text


async def test_the_reason_is_on_the_timeline(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    admin_id = await user_id(db, "admin")
    async with unit_of_work(db) as session:
        from models.services.admin import users

        admin = users.actor_for(await users.get_user(session, admin_id))
        await assignment.save_settings(
            session,
            admin,
            reference["SUPPORT"],
            assignment.SettingsInput(True, "least_open", "5", False, []),
        )
    async with unit_of_work(db) as session:
        for name in ("lead", "agent"):
            user = await session.scalar(select(User).where(User.username == name))
            assert user is not None
            user.on_duty = name == "agent"
    tid = await make_ticket(db, reference, assignee=None)
    async with unit_of_work(db) as session:
        await assignment.auto_assign(session, tid)
    await sign_in(client, "lead", "kefu-lead")
    drawer = await client.get(f"/tickets/{tid}", headers=hx(client))
    assert drawer.status_code == 200
    assert "自动分派给 王小明 Wang (agent)" in drawer.text
    assert "待办最少：0 个未结" in drawer.text
