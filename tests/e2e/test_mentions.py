"""An agent mentions a colleague in an internal note, picking the name from the @ list with
the keyboard; the note shows the mention highlighted, and the colleague, signing in, finds
the bell ringing and the entry in their list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from models.db import Database
from tests.e2e.conftest import screenshot_path, sign_in
from tests.integration.sla.test_sla_helpers import make_ticket, ticket

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_a_mention_reaches_the_colleagues_bell(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    tid = await make_ticket(db, reference, assignee="agent", text="打印机无法连接网络。")
    number = (await ticket(db, tid)).number

    agent = await new_page()
    await sign_in(agent, "agent", "kefu-agent")
    await agent.goto(f"/tickets/{tid}")
    form = agent.locator("[data-testid=form-composer]")
    await form.get_by_test_id("kind-note").check()  # an internal note in the composer
    field = form.locator("#composer-body")
    await field.click()
    await field.press_sequentially("请@赵")
    options = agent.locator("[data-testid=mention-list] [role=option]")
    await expect(options.first).to_have_text("赵磊 Zhao")
    await field.press("Enter")  # picks the highlighted name, does not submit
    await expect(agent.locator("[data-testid=mention-list]")).to_have_count(0)
    await field.press_sequentially("帮忙看一下网络配置")
    await expect(field).to_have_value("请@赵磊 Zhao 帮忙看一下网络配置")
    await form.get_by_test_id("composer-send").click()
    mention = agent.locator("[data-testid=timeline] [data-testid=mention]")
    await expect(mention).to_have_text("@赵磊 Zhao")
    await agent.screenshot(path=screenshot_path("mention-note"))

    colleague = await new_page()
    await sign_in(colleague, "agent.tech", "kefu-agent")
    await expect(colleague.locator("[data-testid=bell-count]")).to_have_text("1")
    await colleague.goto("/notifications")
    entry = colleague.locator(".notification.kind-mentioned")
    await expect(entry).to_contain_text(f"王小明 Wang (agent) 在工单 {number} 中提到了您")
    await expect(entry).to_contain_text("请@赵磊 Zhao 帮忙看一下网络配置")
    await colleague.screenshot(path=screenshot_path("mention-bell"))
