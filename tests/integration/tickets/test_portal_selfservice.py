"""Portal self-service: a suggested article read in full (rendered Markdown, tables intact,
raw HTML escaped) and marked as the solution; an inquiry found again by its number and the
phone or email it was filed with (the same answer for a wrong contact and an unknown number,
rate limited per IP and per number, audited)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.article import Article
from models.audit import AuditEvent
from models.db import unit_of_work
from models.services.knowledge import kb
from models.services.tickets import portal
from models.settings import reset_settings
from models.suggestion import Deflection
from models.ticket import Ticket
from tests.conftest import csrf_token
from tests.integration.sla.test_sla_helpers import actor
from tests.integration.tickets.test_portal_flow import portal_form, submit, token_of

pytestmark = pytest.mark.usefixtures("reference")

BODY = """退货运费由谁承担，见下表：

| 情况 | 运费 |
| --- | --- |
| 质量问题 | 我们承担 |
| 七天无理由 | 您承担 |

<script>alert("x")</script>
<b>raw html</b>
"""


async def make_article(db: Any, *, publish: bool = True) -> int:
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        article = await kb.create_article(
            s, lead, kb.ArticleInput(title="退货运费说明", body=BODY), publish=publish
        )
        return article.id


async def test_a_published_article_reads_in_full_with_its_table_and_no_raw_html(
    client: Any, db: Any
) -> None:
    article_id = await make_article(db)
    page = await client.get(f"/portal/a/{article_id}")
    assert page.status_code == 200
    text = page.text
    assert "<table>" in text and "<th>情况</th>" in text and "<td>我们承担</td>" in text
    assert "<script>alert" not in text and "&lt;script&gt;alert" in text
    assert "<b>raw html</b>" not in text
    assert "这解决了我的问题" in text
    fragment = await client.get(f"/portal/a/{article_id}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "<td>您承担</td>" in fragment.text and "返回解答列表" in fragment.text
    english = await client.get(f"/portal/a/{article_id}", headers={"Accept-Language": "en"})
    assert "This solved my problem" in english.text
    async with db.sessionmaker() as s:
        row = await s.get(Article, article_id)
        assert row is not None and row.click_count == 3


async def test_drafts_and_unknown_articles_are_the_same_404(client: Any, db: Any) -> None:
    draft = await make_article(db, publish=False)
    for path in (f"/portal/a/{draft}", "/portal/a/999999"):
        response = await client.get(path)
        assert response.status_code == 404 and "该解答已不可用" in response.text


async def test_solved_from_the_article_counts_a_deflection(client: Any, db: Any) -> None:
    article_id = await make_article(db)
    token = await csrf_token(client, f"/portal/a/{article_id}")
    response = await client.post(
        "/portal/solved",
        data={"article_id": str(article_id), "description": "退货运费谁出", "_csrf_token": token},
    )
    assert response.status_code == 200 and "很高兴" in response.text
    async with db.sessionmaker() as s:
        [deflection] = (await s.scalars(select(Deflection))).all()
        assert deflection.article_id == article_id
        assert (await s.get(Article, article_id)).solved_count == 1  # type: ignore[union-attr]


# --- find my inquiry ------------------------------------------------------------------------


async def filed(client: Any, db: Any, **fields: str) -> tuple[Ticket, str]:
    response = await submit(client, await portal_form(client), **fields)
    assert response.status_code == 303
    async with db.sessionmaker() as s:
        ticket = await s.scalar(select(Ticket).order_by(Ticket.id.desc()).limit(1))
    assert ticket is not None
    return ticket, token_of(response)


async def find(client: Any, number: str, contact: str, **headers: str) -> Any:
    token = await csrf_token(client, "/portal/find")
    return await client.post(
        "/portal/find",
        data={"number": number, "contact": contact, "_csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


async def test_number_and_phone_find_the_inquiry_under_a_fresh_link(client: Any, db: Any) -> None:
    ticket, old_token = await filed(client, db, phone="138 0013 8000")
    home = await client.get("/portal")
    assert 'href="/portal/find"' in home.text and "查询工单" in home.text
    receipt = await client.get(f"/portal/t/{old_token}?new=1")
    assert 'href="/portal/find"' in receipt.text

    found = await find(client, ticket.number.lower(), "+86 138-0013-8000")
    assert found.status_code == 303
    location = found.headers["location"]
    assert location.startswith("/portal/t/") and old_token not in location
    page = await client.get(location)
    assert page.status_code == 200 and ticket.number in page.text
    assert (await client.get(f"/portal/t/{old_token}")).status_code == 404
    async with db.sessionmaker() as s:
        [event] = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "portal_lookup"))
        ).all()
    assert event.entity_id == ticket.id and event.after["found"] is True


async def test_an_email_finds_it_too(client: Any, db: Any) -> None:
    ticket, _ = await filed(client, db, phone="", email="lin@example.com")
    found = await find(client, ticket.number, " LIN@example.com ")
    assert found.status_code == 303


async def test_a_wrong_phone_and_an_unknown_number_get_the_same_answer(
    client: Any, db: Any
) -> None:
    ticket, token = await filed(client, db, phone="138 0013 8000")
    wrong_phone = await find(client, ticket.number, "13900000000")
    unknown = await find(client, "TASK-20260610-9999", "13900000000")
    assert wrong_phone.status_code == unknown.status_code == 404
    assert "没有与该编号和手机号/邮箱匹配的工单" in wrong_phone.text
    same = wrong_phone.text.replace(ticket.number, "N")
    assert same == unknown.text.replace("TASK-20260610-9999", "N")
    english = await find(client, "TASK-1", "x", **{"Accept-Language": "en"})
    assert "No inquiry matches this number and phone or email." in english.text
    # Nothing changed: the customer's link still works; the wrong guess is audited.
    assert (await client.get(f"/portal/t/{token}")).status_code == 200
    async with db.sessionmaker() as s:
        [event] = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "portal_lookup"))
        ).all()
    assert event.after["found"] is False
    empty = await find(client, "", "")
    assert empty.status_code == 422 and "必填" in empty.text


async def test_lookups_are_rate_limited_per_number(client: Any, db: Any) -> None:
    ticket, _ = await filed(client, db, phone="138 0013 8000")
    for _ in range(portal.FIND_PER_NUMBER):
        assert (await find(client, ticket.number, "13900000000")).status_code == 404
    refused = await find(client, ticket.number, "138 0013 8000")
    assert refused.status_code == 429 and "请求过于频繁" in refused.text


@pytest.fixture
def limit_of_three(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_PORTAL_RATE_LIMIT", "3")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


@pytest.mark.usefixtures("limit_of_three")
async def test_lookups_are_rate_limited_per_ip(client: Any, db: Any) -> None:
    for n in range(3):
        assert (await find(client, f"TASK-20260610-{n:04d}", "13900000000")).status_code == 404
    refused = await find(client, "TASK-20260610-0100", "13900000000", **{"Accept-Language": "en"})
    assert refused.status_code == 429 and "Too many requests" in refused.text
