"""The board and the portal work under the Content-Security-Policy, with no violation.

Every page registers a ``securitypolicyviolation`` listener before its own scripts run (an
init script, which the policy does not govern) and the console is watched for CSP reports;
the pages are then used the way people use them: the board with its drawer and bell, the
portal's live suggestions, submission and tracking page.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


async def _watched(page: Any) -> list[str]:
    console: list[str] = []
    page.on(
        "console",
        lambda msg: (
            console.append(msg.text)
            if "Content Security Policy" in msg.text or "Refused to" in msg.text
            else None
        ),
    )
    await page.add_init_script(LISTEN)
    return console


async def _violations(page: Any) -> list[str]:
    return list(await page.evaluate("window.__csp || []"))


async def test_board_works_under_the_policy(db: Database, page: Any) -> None:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s, Actor.system("e2e"), registry.CustomerInput(name="王芳", phone="13900001111")
        )
        ticket, _ = await commands.create(
            s,
            Actor.system("e2e"),
            commands.TicketInput(
                customer_id=customer.id, description="打印机卡纸", channel=Channel.PHONE
            ),
        )
    console = await _watched(page)
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/board")
    response = await page.request.get("/board")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    card = page.locator(f"[data-testid=column-pending] #card-{ticket.id}")
    await expect(card).to_be_visible()
    # htmx runs: the bell loads itself and the drawer opens from the card.
    await expect(page.locator("#bell")).to_be_visible()
    await page.click(f"[data-testid=open-{ticket.id}]")
    await expect(page.locator("[data-testid=drawer]")).to_contain_text("打印机卡纸")
    await page.goto("/reports")
    assert await _violations(page) == []
    await page.goto("/board")
    await expect(card).to_be_visible()
    assert await _violations(page) == []
    assert console == []


async def test_portal_works_under_the_policy(page: Any) -> None:
    console = await _watched(page)
    await page.goto("/portal")
    await page.fill("input[name=name]", "李娜")
    await page.fill("input[name=phone]", "13912345678")
    await page.locator("#description").press_sequentially("我想申请退货退款", delay=20)
    await expect(page.locator("#suggestions")).to_be_visible()
    assert await _violations(page) == []
    async with page.expect_navigation(url="**/portal/t/**"):
        await page.click("#portal-form button[type=submit]")
    link = page.locator(".tracking-link input")
    await link.click()  # selects the link (a data attribute, no inline handler)
    selected = await page.evaluate(
        "window.getSelection().toString() || document.activeElement.selectionEnd"
    )
    assert selected
    assert await _violations(page) == []
    assert console == []


async def test_the_watch_sees_an_inline_handler_being_refused(page: Any) -> None:
    """The two tests above can fail: an inline event handler is refused and reported."""
    console = await _watched(page)
    await page.goto("/portal")
    await page.evaluate(
        """() => {
          const b = document.createElement("button");
          b.setAttribute("onclick", "window.__ran = 1");
          document.body.appendChild(b);
          b.click();
        }"""
    )
    await page.wait_for_function("() => window.__csp.length > 0")
    assert await page.evaluate("typeof window.__ran") == "undefined"
    assert any("script-src" in v for v in await _violations(page))
    assert console
