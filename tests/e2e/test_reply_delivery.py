"""In a real browser: an email reply the server refuses shows 发送失败 with the server's
reason and a 重试 button on the drawer's timeline; the retry queues the same message again."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from models.db import Database
from tests.conftest import run_worker_burst
from tests.e2e.conftest import screenshot_path, sign_in
from tests.integration.mail.test_reply_delivery import REFUSAL, _customer_ticket
from tests.integration.mail_support import make_smtp_mailbox
from tests.mailservers import free_port, running_smtp

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def test_a_refused_reply_shows_failed_with_its_reason_and_a_retry(
    db: Database, redis: Any, page: Any
) -> None:
    _, ticket_id = await _customer_ticket(db, redis)
    port = free_port()
    await make_smtp_mailbox(db, port)
    await sign_in(page, "lead", "kefu-lead")

    with running_smtp(refuse=REFUSAL, port=port):
        await page.goto(f"/tickets/{ticket_id}")
        form = page.get_by_test_id("form-composer")
        await form.locator("#composer-body").fill("您好，新的发票已经开具。")
        await form.get_by_test_id("composer-send").click()
        await expect(page.get_by_test_id("reply-delivery")).to_contain_text("排队中")
        await run_worker_burst()  # the worker's attempt: refused with a permanent error

    await page.reload()
    delivery = page.get_by_test_id("reply-delivery")
    await expect(delivery).to_contain_text("发送失败")
    await expect(delivery.get_by_test_id("reply-delivery-reason")).to_contain_text(
        "Relay access denied"
    )
    retry = delivery.get_by_test_id("retry-reply").locator("button")
    await expect(retry).to_have_text("重试")
    await delivery.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshot_path("reply-delivery-failed")))

    with running_smtp(port=port) as smtp:
        await retry.click()
        await expect(page.get_by_test_id("reply-delivery")).to_contain_text("排队中")
        await expect(page.get_by_test_id("retry-reply")).to_have_count(0)
        await run_worker_burst()
        assert len(smtp.envelopes) == 1
    await page.reload()
    await expect(page.get_by_test_id("reply-delivery")).to_contain_text("已发送")
