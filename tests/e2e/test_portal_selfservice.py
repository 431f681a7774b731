"""Portal self-service in a real browser: a suggested article read in full and marked as the
solution; on a 390 px phone the answers sit right under the question, above the submit button;
an inquiry found again by its number and phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.article import Article
from models.db import Database, unit_of_work
from models.enums import Role
from models.services.common.actor import Actor
from models.services.knowledge import kb
from models.suggestion import Deflection
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

QUESTION = "我想申请退货退款，请问运费怎么算？订单已经签收了"
BODY = """签收后 7 天内可以申请退货退款。运费如下：

| 情况 | 运费 |
| --- | --- |
| 质量问题 | 我们承担 |
| 七天无理由 | 您承担 |

<script>document.title = "pwned"</script>
"""


async def _publish(db: Database) -> int:
    async with unit_of_work(db) as s:
        user = await s.scalar(select(User).where(User.username == "lead"))
        assert user is not None
        lead = Actor(user_id=user.id, label="lead", role=Role.LEAD, department_id=None)
        article = await kb.create_article(
            s, lead, kb.ArticleInput(title="如何申请退货退款", body=BODY), publish=True
        )
        return article.id


async def test_a_visitor_reads_a_suggested_article_and_says_it_solved_it(
    db: Database, page: Any
) -> None:
    article_id = await _publish(db)
    await page.goto("/portal")
    await page.locator("#description").press_sequentially(QUESTION, delay=15)
    suggestions = page.locator("#suggestions")
    await suggestions.locator("[data-testid=open-article]").first.click()
    article = suggestions.locator("[data-testid=portal-article]")
    await expect(article.locator("h3")).to_have_text("如何申请退货退款")
    await expect(article.locator("table td").nth(1)).to_have_text("我们承担")
    await expect(article).to_contain_text('<script>document.title = "pwned"</script>')
    assert await page.title() != "pwned"
    await page.screenshot(path=screenshot_path("portal-article"), full_page=True)
    await article.locator("[data-testid=article-solved]").click()
    await expect(suggestions).to_contain_text("很高兴帮到您")
    async with db.sessionmaker() as s:
        [deflection] = (await s.scalars(select(Deflection))).all()
        row = await s.get(Article, article_id)
    assert deflection.article_id == article_id and deflection.query == QUESTION
    assert row is not None and row.click_count == 1 and row.solved_count == 1
    async with db.sessionmaker() as s:
        assert (await s.scalar(select(Ticket.id).limit(1))) is None


async def test_on_a_phone_the_answers_show_under_the_question_above_submit(
    db: Database, page: Any
) -> None:
    article_id = await _publish(db)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/portal")
    await page.locator("#description").press_sequentially(QUESTION, delay=15)
    box = page.locator("#suggestions")
    await expect(box.locator(".suggestion").first).to_be_visible()
    textarea = await page.locator("#description").bounding_box()
    shown = await box.bounding_box()
    submit = await page.locator("#portal-form button[type=submit]").bounding_box()
    assert textarea and shown and submit
    textarea_bottom = textarea["y"] + textarea["height"]
    assert shown["y"] >= textarea_bottom  # below the question …
    assert shown["y"] - textarea_bottom < 160  # … right under it (its heading between) …
    assert shown["y"] + shown["height"] <= submit["y"]  # … and above the submit button
    assert shown["x"] >= 0 and shown["x"] + shown["width"] <= 390
    await page.screenshot(path=screenshot_path("portal-phone-suggestions"), full_page=True)
    # The full article fits the phone too: no sideways scrolling of the page.
    await page.goto(f"/portal/a/{article_id}")
    await expect(page.locator("[data-testid=portal-article] table")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    # On a wide screen the answers stay beside the form.
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto("/portal")
    form = await page.locator("#portal-form").bounding_box()
    aside = await page.locator("#suggestions").bounding_box()
    assert form and aside and aside["x"] > form["x"] + form["width"]


async def test_a_customer_finds_the_inquiry_again_by_number_and_phone(
    db: Database, page: Any
) -> None:
    await page.goto("/portal")
    await page.fill("input[name=name]", "李娜")
    await page.fill("input[name=phone]", "13912345678")
    await page.fill("#description", "快递显示已签收但我没有收到包裹。")
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("#portal-form button[type=submit]")
    old_link = page.url.split("?")[0]
    async with db.sessionmaker() as s:
        number = await s.scalar(select(Ticket.number).limit(1))
    assert number

    await page.context.clear_cookies()
    await page.goto("/portal")
    await page.click("[data-testid=find-link]")
    await expect(page.locator("h1")).to_have_text("查询工单")
    await page.fill("input[name=number]", number)
    await page.fill("input[name=contact]", "13900000000")
    await page.click("form.find-form button[type=submit]")
    await expect(page.locator("[data-testid=find-not-found]")).to_have_text(
        "没有与该编号和手机号/邮箱匹配的工单。"
    )
    await page.fill("input[name=contact]", "139 1234 5678")
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("form.find-form button[type=submit]")
    await expect(page.locator(".track-head h2")).to_have_text(number)
    await page.screenshot(path=screenshot_path("portal-find"), full_page=True)
    assert page.url != old_link
    response = await page.goto(old_link)
    assert response is not None and response.status == 404
