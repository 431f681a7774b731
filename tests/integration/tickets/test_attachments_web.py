"""Attachments on the web: portal, tracking page, intake and drawer uploads; safe downloads."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from models.services.tickets import attachments
from models.ticket import Ticket
from tests.conftest import csrf_token, sign_in
from tests.integration.attachments_support import (
    HTML,
    SVG,
    make_ticket,
    noise,
    png,
    row_count,
    rows_for,
    small_limits,  # noqa: F401  (fixture)
)
from tests.integration.tickets.test_board_helpers import htmx
from tests.integration.tickets.test_portal_flow import inquiry, portal_form, token_of

pytestmark = pytest.mark.usefixtures("reference")
EN = {"Accept-Language": "en"}


async def tickets_count(db: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)


async def portal_submit(client: Any, files: list[tuple[str, bytes, str]], **headers: str) -> Any:
    form = await portal_form(client)
    return await client.post(
        "/portal",
        data={**form, **inquiry()},
        files=[("files", (name, data, kind)) for name, data, kind in files],
        headers=headers,
        follow_redirects=False,
    )


def img_sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"[^>]*data-testid="attachment-thumb"', page)


async def test_portal_submit_with_files_shows_them_on_the_tracking_page(
    client: Any, db: Any
) -> None:
    response = await portal_submit(
        client,
        [
            ("截图.png", png(30, 20), "image/png"),
            ("订单 说明.txt", "订单号 42".encode(), "text/plain"),
        ],
    )
    assert response.status_code == 303, response.text[:300]
    token = token_of(response)
    page = (await client.get(f"/portal/t/{token}")).text
    [row_img, row_txt] = await rows_for(db, (await rows_for_token(db, token)))
    assert img_sources(page) == [f"/portal/t/{token}/attachments/{row_img.id}"]
    assert 'width="160"' in page and "订单 说明.txt" in page
    assert (row_img.source, row_img.uploaded_by_customer, row_img.uploaded_by_user_id) == (
        "portal",
        True,
        None,
    )

    image = await client.get(f"/portal/t/{token}/attachments/{row_img.id}")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"] == (
        "inline; filename=\"__.png\"; filename*=UTF-8''" + quote("截图.png")
    )
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["content-security-policy"] == "sandbox"
    assert image.headers["cache-control"] == "no-store"
    assert image.headers["referrer-policy"] == "no-referrer"

    text = await client.get(f"/portal/t/{token}/attachments/{row_txt.id}")
    assert text.content == "订单号 42".encode()
    assert text.headers["content-type"] == "application/octet-stream"
    assert text.headers["content-disposition"].startswith("attachment; ")
    assert "filename*=UTF-8''" + quote("订单 说明.txt") in text.headers["content-disposition"]
    assert text.headers["x-content-type-options"] == "nosniff"


async def rows_for_token(db: Any, token: str) -> int:
    from models.services.tickets import commands

    async with db.sessionmaker() as session:
        return (await commands.by_tracking_token(session, token)).id


async def test_spoofed_markup_is_refused_with_415_and_nothing_is_stored(
    client: Any, db: Any
) -> None:
    before = await tickets_count(db)
    zh = await portal_submit(
        client, [("ok.png", png(), "image/png"), ("cat.png", HTML, "image/png")]
    )
    assert zh.status_code == 415
    assert "cat.png：不允许上传此类文件。" in zh.text
    en = await portal_submit(client, [("logo.png", SVG, "image/png")], **EN)
    assert en.status_code == 415
    assert "logo.png: this type of file is not allowed." in en.text
    assert 'name="description"' in en.text  # the form comes back with what was typed
    assert await tickets_count(db) == before and await row_count(db) == 0


@pytest.mark.usefixtures("small_limits")
async def test_oversize_is_a_localized_413_on_the_form_and_at_the_body_limit(
    client: Any, db: Any
) -> None:
    before = await tickets_count(db)
    big = ("大文件.txt", noise(200 * 1024 + 1), "text/plain")
    zh = await portal_submit(client, [big])
    assert zh.status_code == 413
    assert "大文件.txt 太大（每个文件上限 200 KB）。" in zh.text
    en = await portal_submit(client, [big], **EN)
    assert en.status_code == 413
    assert "大文件.txt is too large (the limit is 200 KB per file)." in en.text
    # A body larger than any acceptable batch is refused before it is read.
    huge = ("huge.txt", noise(3 * 1024 * 1024), "text/plain")
    refused = await portal_submit(client, [huge])
    assert refused.status_code == 413 and "上传的文件过大。" in refused.text
    refused_en = await portal_submit(client, [huge], **EN)
    assert refused_en.status_code == 413 and "The upload is too large." in refused_en.text
    assert await tickets_count(db) == before and await row_count(db) == 0


async def test_tracking_page_upload_and_wrong_tokens(client: Any, db: Any) -> None:
    ticket_id, token = await make_ticket(db)
    _, other_token = await make_ticket(db)
    csrf = await csrf_token(client, f"/portal/t/{token}")
    response = await client.post(
        f"/portal/t/{token}/attachments",
        data={"_csrf_token": csrf},
        files=[("files", ("photo.txt", png(16, 16, "red"), "text/plain"))],
        follow_redirects=False,
    )
    assert response.status_code == 303
    [row] = await rows_for(db, ticket_id)
    assert (row.filename, row.content_type, row.source) == ("photo.png", "image/png", "tracking")
    page = (await client.get(f"/portal/t/{token}")).text
    assert img_sources(page) == [f"/portal/t/{token}/attachments/{row.id}"]

    wrong = await client.get(f"/portal/t/{other_token}/attachments/{row.id}")
    assert wrong.status_code == 404 and "未找到文件。" in wrong.text
    bogus = await client.get(f"/portal/t/{'A' * 43}/attachments/{row.id}", headers=EN)
    assert bogus.status_code == 404 and "No inquiry matches this link." in bogus.text
    # Without the CSRF token a multipart post is refused and stores nothing.
    forged = await client.post(
        f"/portal/t/{token}/attachments",
        files=[("files", ("x.png", png(3, 3), "image/png"))],
    )
    assert forged.status_code == 403 and len(await rows_for(db, ticket_id)) == 1
    # htmx: the thread comes back with the new file.
    swapped = await client.post(
        f"/portal/t/{token}/attachments",
        files=[("files", ("notes.txt", b"more details", "text/plain"))],
        headers={"HX-Request": "true", "x-csrftoken": csrf},
    )
    assert swapped.status_code == 200 and 'id="thread"' in swapped.text
    assert "notes.txt" in swapped.text


async def test_staff_download_route_needs_a_signed_in_staff_member(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id, token = await make_ticket(db, department_id=reference["SUPPORT"])
    csrf = await csrf_token(client, f"/portal/t/{token}")
    await client.post(
        f"/portal/t/{token}/attachments",
        data={"_csrf_token": csrf},
        files=[("files", ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"))],
    )
    [row] = await rows_for(db, ticket_id)
    signed_out = await client.get(f"/attachments/{row.id}", follow_redirects=False)
    assert signed_out.status_code in (302, 303) and "/login" in signed_out.headers["location"]
    await sign_in(client, "agent.tech", "kefu-agent")  # another department: may read
    pdf = await client.get(f"/attachments/{row.id}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline; ")
    assert "content-security-policy" not in pdf.headers  # a sandboxed PDF is not displayed
    missing = await client.get(f"/attachments/{row.id + 999}", headers=EN)
    assert missing.status_code == 404 and "File not found." in missing.text


async def test_drawer_upload_as_agent_and_refusal_for_another_department(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ticket_id, _ = await make_ticket(db, department_id=reference["SUPPORT"])
    await sign_in(client, "agent.tech", "kefu-agent")
    csrf = client.cookies.get("kefu_csrf")
    files = [
        ("files", ("日志.txt", b"error 500 at 10:02", "text/plain")),
        ("files", ("screen.png", png(20, 10), "image/png")),
    ]
    refused = await client.post(
        f"/tickets/{ticket_id}/attachments", files=files, headers=htmx(csrf)
    )
    assert refused.status_code == 403 and await rows_for(db, ticket_id) == []

    client.cookies.clear()
    await sign_in(client, "agent", "kefu-agent")
    csrf = client.cookies.get("kefu_csrf")
    response = await client.post(
        f"/tickets/{ticket_id}/attachments", files=files, headers=htmx(csrf)
    )
    assert response.status_code == 200, response.text[:300]
    rows = await rows_for(db, ticket_id)
    assert [(r.filename, r.source, r.uploaded_by_customer) for r in rows] == [
        ("日志.txt", "drawer", False),
        ("screen.png", "drawer", False),
    ]
    assert f'src="/attachments/{rows[1].id}"' in response.text
    assert "日志.txt" in response.text and "添加了附件" in response.text  # the timeline
    timeline = response.text.split('data-testid="timeline"', 1)[1]
    assert f'src="/attachments/{rows[1].id}"' in timeline  # the thumbnail where it was attached
    assert f'href="/attachments/{rows[0].id}" download' in timeline
    bad = await client.post(
        f"/tickets/{ticket_id}/attachments",
        headers=htmx(csrf, **EN),
        files=[("files", ("x.png", SVG, "image/png"))],
    )
    assert bad.status_code == 415 and "x.png: this type of file is not allowed." in bad.text
    empty = await client.post(
        f"/tickets/{ticket_id}/attachments",
        headers=htmx(csrf, **EN),
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert empty.status_code == 422 and "Please choose a file first." in empty.text
    assert len(await rows_for(db, ticket_id)) == 2


async def test_intake_form_registers_the_inquiry_with_its_files(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    page = (await client.get("/intake")).text
    form_key = re.search(r'name="form_key" value="([^"]+)"', page)
    assert form_key and 'enctype="multipart/form-data"' in page
    data = {
        "_csrf_token": client.cookies.get("kefu_csrf"),
        "form_key": form_key.group(1),
        "name": "来电客户",
        "phone": "13700009999",
        "description": "打印机卡纸，照片见附件",
        "channel": "phone",
        "urgency": "normal",
        "customer_type": "individual",
    }
    files = [("files", ("卡纸.jpg", png(10, 10), "image/jpeg"))]
    first = await client.post("/intake", data=data, files=files)
    assert first.status_code == 200, first.text[:300]
    again = await client.post("/intake", data=data, files=files)  # same form key
    assert again.status_code == 200
    async with db.sessionmaker() as s:
        ticket_id = await s.scalar(select(Ticket.id).where(Ticket.description.like("打印机卡纸%")))
    [row] = await rows_for(db, ticket_id)
    assert (row.filename, row.content_type, row.source) == ("卡纸.png", "image/png", "intake")
    refused = await client.post(
        "/intake",
        data={**data, "form_key": "k" * 32},
        files=[("files", ("a.png", HTML, "image/png"))],
    )
    assert refused.status_code == 415 and "a.png：不允许上传此类文件。" in refused.text
    assert len(await rows_for(db, ticket_id)) == 1 and await row_count(db) == 1


def test_the_body_limit_follows_the_attachment_settings() -> None:
    from dataclasses import replace

    from models.settings import get_settings
    from web.views.attachments import body_limit

    settings = replace(
        get_settings(), attachment_max_bytes=10 << 20, attachment_ticket_max_bytes=50 << 20
    )
    assert body_limit(settings) == (50 << 20) + (1 << 20)
    assert attachments.human_size(10 << 20) == "10 MB"
