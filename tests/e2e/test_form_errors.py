"""A form that comes back with an error puts the cursor in the first field in error, in view
below the sticky header, in a real browser: the staff intake form (an htmx swap of a 422) at a
desk and on a phone, and the customer portal's form (a page rendered with the error)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


async def _in_view_below_header(page: Any, selector: str) -> None:
    field = await page.locator(selector).bounding_box()
    header = await page.locator(".topbar").bounding_box()
    viewport = page.viewport_size
    assert field is not None and viewport is not None
    top = header["y"] + header["height"] if header else 0.0
    assert field["y"] >= top, (field, header)
    assert field["y"] < viewport["height"], (field, viewport)


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
async def test_intake_without_a_description_focuses_the_description(
    page: Any, size: tuple[int, int]
) -> None:
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    await sign_in(page, "agent", "kefu-agent")
    await page.goto("/intake")
    await page.fill("input[name=name]", "周晓明")
    await page.fill("input[name=phone]", "13911112222")
    async with page.expect_response(lambda r: r.request.method == "POST") as sent:
        await page.click("#intake-form button[type=submit]")
    assert (await sent.value).status == 422
    description = page.locator("#intake-form textarea[name=description]")
    await expect(description).to_have_attribute("aria-invalid", "true")
    await expect(description).to_be_focused()
    await _in_view_below_header(page, "#intake-form textarea[name=description]")
    await page.keyboard.type("耳机左边没声音了")  # the next keys land in the field
    await expect(description).to_have_value("耳机左边没声音了")


async def test_portal_with_a_bad_phone_focuses_the_phone(page: Any) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/portal")
    await page.fill("input[name=name]", "王先生")
    await page.fill("input[name=phone]", "12")
    await page.fill("#description", "快递显示已签收，但我没有收到包裹")
    await page.click("#portal-form button[type=submit]")
    phone = page.locator("#portal-form input[name=phone]")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await expect(phone).to_be_focused()
    await _in_view_below_header(page, "#portal-form input[name=phone]")
