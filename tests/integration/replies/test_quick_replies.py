"""Quick replies (快捷回复) and macros (宏), over the web and the services, on both databases:
variables filled per ticket, an unknown variable refused on save, who manages what, usage
counted, and a macro applied whole or not at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.db import unit_of_work
from models.enums import Priority, RequestType, TicketStatus
from models.followup import FollowUp
from models.macro import Macro
from models.quick_reply import QuickReply, ReplyLanguage, ReplyScope
from models.services.common.errors import Forbidden, NotFound, ValidationFailed
from models.services.replies import macros, quick, starter
from models.ticket import Ticket
from models.user import User
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import actor, make_ticket, move
from tests.integration.triage_support import htmx_headers

pytestmark = pytest.mark.usefixtures("reference")

ALL_VARIABLES = (
    "您好 {{customer_name}}，工单 {{ticket_number}} 由 {{ agent_name }} 处理，"
    "{{due_date}} 前答复。{{客户姓名}}/{{工单编号}}"
)


async def _count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _ticket(db: Any, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        return row


async def _follow_ups(db: Any, ticket_id: int) -> list[FollowUp]:
    async with db.sessionmaker() as s:
        found = await s.scalars(
            select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.id)
        )
        return list(found)


async def test_a_team_reply_renders_its_variables_for_a_ticket_and_counts_the_use(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await sign_in(client, "lead", "kefu-lead")
    headers = await htmx_headers(client, "/replies/new?scope=team")
    created = await client.post(
        "/replies/new",
        data={
            "title": "处理说明",
            "body": ALL_VARIABLES,
            "language": "zh_CN",
            "scope": "team",
            "shortcut": "/shuoming",
        },
        headers=headers,
    )
    assert created.status_code == 200, created.text
    assert created.headers.get("hx-redirect") == "/replies?tab=team"
    async with db.sessionmaker() as s:
        [reply] = list(await s.scalars(select(QuickReply)))
        agent = await s.scalar(select(User).where(User.username == "agent"))
    assert reply.scope is ReplyScope.TEAM and reply.shortcut == "shuoming" and agent

    client.cookies.clear()
    await sign_in(client, "agent", "kefu-agent")
    found = await client.get("/replies/search", params={"q": "shuoming"})
    assert [r["id"] for r in found.json()] == [reply.id]
    rendered = await client.get("/replies/render", params={"ticket_id": tid, "reply_id": reply.id})
    assert rendered.status_code == 200
    text = rendered.json()["text"]
    ticket = await _ticket(db, tid)
    assert ticket.resolution_due is not None
    due = ticket.resolution_due.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert text == (
        f"您好 李娜，工单 {ticket.number} 由 {agent.display_name} 处理，"
        f"{due:%Y-%m-%d %H:%M} 前答复。李娜/{ticket.number}"
    )
    async with db.sessionmaker() as s:
        assert (await s.get(QuickReply, reply.id)).usage_count == 1  # type: ignore[union-attr]

    listing = await client.get("/replies?tab=team")
    assert "处理说明" in listing.text and "/shuoming" in listing.text


async def test_an_unknown_variable_is_refused_on_save_naming_it(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/replies/new")
    refused = await client.post(
        "/replies/new",
        data={"title": "订单", "body": "您的订单 {{order_no}} 已发货", "scope": "personal"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "未知变量" in refused.text and "{{order_no}}" in refused.text
    assert "正文" in refused.text or "内容" in refused.text  # the field is named
    client.cookies.set("kefu_lang", "en")
    refused = await client.post(
        "/replies/new",
        data={"title": "Order", "body": "Order {{ order_no }} shipped", "scope": "personal"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "Unknown variable {{ order_no }}" in refused.text
    assert await _count(db, QuickReply) == 0


async def test_agents_manage_only_personal_replies_and_macros(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/replies/new")
    team = await client.post(
        "/replies/new",
        data={"title": "团队", "body": "内容", "scope": "team"},
        headers=headers,
    )
    assert team.status_code == 403
    macro = await client.post(
        "/replies/macros/new",
        data={"name": "团队宏", "scope": "team", "priority": "urgent"},
        headers=headers,
    )
    assert macro.status_code == 403
    assert await _count(db, QuickReply) == 0 and await _count(db, Macro) == 0

    mine = await client.post(
        "/replies/new",
        data={"title": "我的", "body": "我的回复 {{客户姓名}}", "scope": "personal"},
        headers=headers,
    )
    assert mine.status_code == 200
    async with db.sessionmaker() as s:
        [reply] = list(await s.scalars(select(QuickReply)))
    assert reply.scope is ReplyScope.PERSONAL and reply.owner_id is not None

    # Another agent neither sees nor changes it; a lead does not manage it either.
    emma = await actor(db, "agent.emma")
    lead = await actor(db, "lead")
    async with db.sessionmaker() as s:
        assert await quick.search(s, emma, "我的", "zh_CN") == []
        with pytest.raises(NotFound):
            await quick.update_reply(s, lead, reply.id, quick.ReplyInput("改", "改"))
    # The owner edits and deletes it.
    edited = await client.post(
        f"/replies/{reply.id}/edit",
        data={"title": "我的2", "body": "新内容", "language": "en"},
        headers=headers,
    )
    assert edited.status_code == 200
    async with db.sessionmaker() as s:
        row = await s.get(QuickReply, reply.id)
        assert row is not None and row.title == "我的2" and row.language is ReplyLanguage.EN
    deleted = await client.post(f"/replies/{reply.id}/delete", headers=headers)
    assert deleted.status_code == 200 and await _count(db, QuickReply) == 0


async def test_search_puts_the_persons_language_first(db: Any) -> None:
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        for title, language in (
            ("英文 apology", "en"),
            ("中文 apology", "zh_CN"),
            ("通用 apology", "any"),
        ):
            await quick.create(s, lead, quick.ReplyInput(title, "text", language, "team"))
    async with db.sessionmaker() as s:
        zh = [r.title for r in await quick.search(s, lead, "apology", "zh_CN")]
        en = [r.title for r in await quick.search(s, lead, "APOLOGY", "en")]
    assert zh == ["中文 apology", "通用 apology", "英文 apology"]
    assert en == ["英文 apology", "通用 apology", "中文 apology"]


async def test_a_macro_applies_all_its_changes_and_counts_the_use(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS)
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        macro = await macros.create(
            s,
            lead,
            macros.MacroInput(
                name="已解决待确认+",
                scope="team",
                status="awaiting_confirmation",
                priority="urgent",
                request_type="complaint",
                reply="{{客户姓名}}您好，{{工单编号}} 已处理。",
                note="内部：已电话确认。",
            ),
        )
    before = await _ticket(db, tid)
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, f"/tickets/{tid}")
    menu = await client.get(
        "/replies/macros/menu", params={"ticket_id": tid, "version": before.version}
    )
    assert "已解决待确认+" in menu.text
    assert 'title="→ 待确认 · 优先级: 紧急 · 需求类型: 投诉跟进 · 回复客户 · 内部备注"' in menu.text
    applied = await client.post(
        f"/replies/macros/{macro.id}/apply",
        data={"ticket_id": str(tid), "version": str(before.version)},
        headers=headers,
    )
    assert applied.status_code == 200, applied.text
    assert 'data-testid="drawer-status"' in applied.text

    after = await _ticket(db, tid)
    assert after.status is TicketStatus.AWAITING_CONFIRMATION
    assert after.priority is Priority.URGENT and after.request_type is RequestType.COMPLAINT
    notes = [(f.discussed, f.visible_to_customer) for f in await _follow_ups(db, tid)]
    assert notes == [("内部：已电话确认。", False), (f"李娜您好，{after.number} 已处理。", True)]
    async with db.sessionmaker() as s:
        assert (await s.get(Macro, macro.id)).usage_count == 1  # type: ignore[union-attr]

    # A stale version is refused like any other edit.
    stale = await client.post(
        f"/replies/macros/{macro.id}/apply",
        data={"ticket_id": str(tid), "version": str(before.version)},
        headers=headers,
    )
    assert stale.status_code == 409


async def test_a_macro_with_an_invalid_move_is_refused_whole(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    """Pending cannot go to awaiting confirmation: the priority and the note before that
    step are not kept, the refusal names the step, and no use is counted."""
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        await starter.seed_starter(s)
        macro = await macros.create(
            s,
            lead,
            macros.MacroInput(
                name="坏宏",
                scope="team",
                status="awaiting_confirmation",
                priority="urgent",
                note="不应留下",
                reply="也不应留下",
            ),
        )
    before = await _ticket(db, tid)
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, f"/tickets/{tid}")
    refused = await client.post(
        f"/replies/macros/{macro.id}/apply",
        data={"ticket_id": str(tid), "version": str(before.version)},
        headers=headers,
    )
    assert refused.status_code == 409
    assert "坏宏" in refused.text and "状态" in refused.text
    assert "待处理的工单只能" in refused.text  # the state machine's own reason, in Chinese
    after = await _ticket(db, tid)
    assert (after.status, after.priority, after.version) == (
        before.status,
        before.priority,
        before.version,
    )
    assert await _follow_ups(db, tid) == []
    async with db.sessionmaker() as s:
        assert (await s.get(Macro, macro.id)).usage_count == 0  # type: ignore[union-attr]

    # The same refusal from the service, for the worker or the CLI: the step is named.
    agent = await actor(db, "agent")
    with pytest.raises(macros.StepRefused) as exc:
        async with unit_of_work(db) as s:
            await macros.apply_macro(s, agent, tid, macro.id, expected_version=None)
    assert exc.value.step == "status"
    assert (await _ticket(db, tid)).priority == before.priority


async def test_a_macro_is_checked_when_saved(db: Any) -> None:
    lead = await actor(db, "lead")
    agent = await actor(db, "agent")
    async with db.sessionmaker() as s:
        for data, field in (
            (macros.MacroInput(name="x", note="{{unknown}}"), "note"),
            (macros.MacroInput(name="x", status="done"), "status"),
            (macros.MacroInput(name="x", status="completed"), "reply"),
            (macros.MacroInput(name="x", assignee="99999"), "assignee_id"),
            (macros.MacroInput(name="", priority="urgent"), "name"),
        ):
            with pytest.raises(ValidationFailed) as exc:
                await macros.create(s, lead, data)
            assert field in exc.value.fields, (data, exc.value.fields)
        with pytest.raises(ValidationFailed):
            await macros.create(s, lead, macros.MacroInput(name="空"))
        with pytest.raises(Forbidden):
            await macros.create(s, agent, macros.MacroInput(name="t", scope="team", note="n"))
        await s.rollback()
    assert await _count(db, Macro) == 0


async def test_the_starter_set_and_a_reply_from_an_article(client: Any, db: Any) -> None:
    async with unit_of_work(db) as s:
        assert await starter.seed_starter(s) == len(starter.REPLIES) + len(starter.MACROS)
        assert await starter.seed_starter(s) == 0
    names = set()
    async with db.sessionmaker() as s:
        names = set((await s.scalars(select(Macro.name))).all())
    assert names == {"已解决待确认", "升级投诉"}
    await sign_in(client, "lead", "kefu-lead")
    headers = await htmx_headers(client, "/kb/new")
    await client.post(
        "/kb/new",
        data={"title": "退款多久到账？", "body": "原路退回，1–3 个工作日。", "locale": "zh_CN"},
        headers=headers,
    )
    from models.article import Article

    async with db.sessionmaker() as s:
        article_id = await s.scalar(select(Article.id))
    page = await client.get(f"/kb/{article_id}")
    assert f"/replies/new?article_id={article_id}" in page.text
    form = await client.get("/replies/new", params={"article_id": article_id})
    assert "退款多久到账？" in form.text and "原路退回，1–3 个工作日。" in form.text


async def test_bad_input_is_a_clear_4xx(client: Any, db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/replies")
    assert (
        await client.get("/replies/render", params={"ticket_id": tid, "reply_id": 999})
    ).status_code == 404
    assert (
        await client.get("/replies/render", params={"ticket_id": "x", "reply_id": 1})
    ).status_code == 400
    assert (
        await client.post(
            "/replies/macros/999/apply",
            data={"ticket_id": str(tid), "version": "1"},
            headers=headers,
        )
    ).status_code == 404
    assert (
        await client.post(
            "/replies/macros/1/apply", data={"ticket_id": "abc", "version": "1"}, headers=headers
        )
    ).status_code == 422
    long = await client.post(
        "/replies/new", data={"title": "t" * 121, "body": "b", "scope": "personal"}, headers=headers
    )
    assert long.status_code == 422
    assert (await client.get("/replies?tab=nonsense")).status_code == 200
    huge = "9" * 30
    for url in (
        f"/replies/render?ticket_id={huge}&reply_id=1",
        f"/replies/render?ticket_id={tid}&reply_id={huge}",
        f"/replies/new?article_id={huge}",
        f"/replies/macros/menu?ticket_id={huge}&version=1",
        f"/replies/{huge}/edit",
    ):
        status = (await client.get(url)).status_code
        assert 400 <= status < 500, (url, status)
