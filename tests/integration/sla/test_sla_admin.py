"""The SLA admin pages: policy, ladder and calendar forms through the real app."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.services.sla import policy
from models.sla_policy import BusinessCalendar, SlaPolicy
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import make_ticket, policy_form, ticket

pytestmark = pytest.mark.usefixtures("reference")


def hx(client: Any) -> dict[str, str]:
    return {"HX-Request": "true", "x-csrftoken": client.cookies.get("kefu_csrf", "")}


async def stored_policy(db: Any) -> SlaPolicy:
    async with db.sessionmaker() as session:
        row = await session.scalar(select(SlaPolicy).where(SlaPolicy.is_default.is_(True)))
        assert row is not None
        return row


async def test_only_admins_see_the_sla_admin(client: Any) -> None:
    for username, password in (("lead", "kefu-lead"), ("agent", "kefu-agent")):
        await sign_in(client, username, password)
        assert (await client.get("/admin/sla")).status_code == 403
        await client.post("/logout", data={"_csrf_token": client.cookies.get("kefu_csrf")})
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get("/admin/sla")
    assert page.status_code == 200
    assert "服务时限策略" in page.text and "工作日历" in page.text
    assert 'name="fr_urgent"' in page.text and 'value="120"' in page.text
    assert 'value="60, 120, 240"' in page.text
    assert "/admin/sla" in (await client.get("/admin")).text


async def test_saving_the_policy_changes_new_deadlines(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    # Normal first response: 8 business hours instead of 24 wall-clock hours; ladder 30, 30.
    saved = await client.post(
        "/admin/sla/policy",
        headers=hx(client),
        data=policy_form(fr_normal="480", fr_normal_b="1", ladder="30，30"),
    )
    assert saved.status_code == 200 and "已保存" in saved.text
    row = await stored_policy(db)
    assert row.config["first_response"]["normal"] == {"minutes": 480, "business": True}
    assert row.escalation_ladder == [30, 30]
    async with db.sessionmaker() as session:
        rules = await policy.load_rules(session)
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.entity_type == "sla_policy")
        )
    assert rules.escalation_ladder == (30, 30)
    assert audited is not None and audited.after["escalation_ladder"] == [30, 30]
    tid = await make_ticket(db, reference, assignee=None)
    row_t = await ticket(db, tid)
    expected = rules.calendar.add(row_t.created_at, timedelta(minutes=480))
    assert row_t.first_response_due == min(expected, row_t.resolution_due)


async def test_invalid_policy_is_refused_with_field_messages_and_nothing_saved(
    client: Any, db: Any
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    before = (await stored_policy(db)).config
    bad = await client.post(
        "/admin/sla/policy",
        headers=hx(client),
        data=policy_form(fr_urgent="abc", res_low="", level_vip="0", ladder="60, soon"),
    )
    assert bad.status_code == 422
    for text in (
        "请输入整数分钟数",
        "必填",
        "请输入1到1000之间的百分比",
        "请输入最多10个等待分钟数",
    ):
        assert text in bad.text, text
    assert (await stored_policy(db)).config == before
    no_csrf = await client.post("/admin/sla/policy", data=policy_form())
    assert no_csrf.status_code == 403


async def test_saving_the_calendar(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    form = {
        "timezone": "Asia/Shanghai",
        "intervals": "9:00-12:00, 13:30-18:00",
        "wd0": "1",
        "wd1": "1",
        "wd2": "1",
        "wd3": "1",
        "wd4": "1",
        "holidays": "2026-10-01..2026-10-07\n2026-01-01",
        "workdays": "2026-10-10",
    }
    saved = await client.post("/admin/sla/calendar", headers=hx(client), data=form)
    assert saved.status_code == 200 and "已保存" in saved.text
    assert "2026-10-07" in saved.text
    async with db.sessionmaker() as session:
        row = await session.scalar(
            select(BusinessCalendar).where(BusinessCalendar.is_default.is_(True))
        )
        assert row is not None
        assert row.work_intervals == [["09:00", "12:00"], ["13:30", "18:00"]]
        assert len(row.holidays) == 8 and row.workdays == ["2026-10-10"]
        calendar = (await policy.load_rules(session)).calendar
    assert not calendar.is_working_day(date(2026, 10, 5))
    assert calendar.is_working_day(date(2026, 10, 10))  # a Saturday, made up


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "未知的时区"),
        ({"intervals": "18:00-09:00"}, "工作时间段须按顺序排列"),
        ({"intervals": "nine to five"}, "请按 09:00-12:00, 13:30-18:00 的格式"),
        ({"holidays": "2026-13-01"}, "请按 2026-10-01 的格式输入日期"),
        (
            {"holidays": "2026-10-10", "workdays": "2026-10-10"},
            "同一日期不能既是节假日又是调休工作日",
        ),
        ({"wd0": "", "wd1": "", "wd2": "", "wd3": "", "wd4": ""}, "请至少选择一个工作日"),
    ],
)
async def test_invalid_calendar_is_refused(
    client: Any, db: Any, change: dict[str, str], message: str
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    form = {
        "timezone": "Asia/Shanghai",
        "intervals": "09:00-18:00",
        "wd0": "1",
        "wd1": "1",
        "wd2": "1",
        "wd3": "1",
        "wd4": "1",
        "holidays": "",
        "workdays": "",
        **change,
    }
    response = await client.post("/admin/sla/calendar", headers=hx(client), data=form)
    assert response.status_code == 422
    assert message in response.text
    async with db.sessionmaker() as session:
        row = await session.scalar(select(BusinessCalendar))
    assert row is not None and row.holidays == []
