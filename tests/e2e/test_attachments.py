"""A customer attaches a screenshot on the portal form and sees it on the tracking page."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_portal_upload_shows_a_thumbnail_on_the_tracking_page(page: Any) -> None:
    await page.goto("/portal")
    await page.fill("input[name=name]", "林小姐")
    await page.fill("input[name=phone]", "13800138000")
    await page.fill("textarea[name=description]", "收到的商品有破损，照片见附件。")
    await page.set_input_files(
        "input[name=files]",
        files=[{"name": "破损照片.png", "mimeType": "image/png", "buffer": _png()}],
    )
    # attachments.js lists what was chosen before anything is sent.
    chosen = page.locator("[data-file-list] li")
    assert (await chosen.inner_text()).startswith("破损照片.png")
    await page.click("#portal-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/portal/t/[A-Za-z0-9_-]+\?new=1$"))

    thumb = page.locator("[data-testid=attachment-thumb]")
    await thumb.wait_for()
    assert await thumb.get_attribute("alt") == "破损照片.png"
    # The image really loaded (served inline despite the sandboxing CSP and nosniff).
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=attachment-thumb]').naturalWidth > 0"
    )
    assert await thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 48]
    await page.screenshot(path=screenshot_path("attachments-tracking"), full_page=True)
