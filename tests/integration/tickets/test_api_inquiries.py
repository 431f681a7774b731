"""``/api/v1``: API key auth, creating inquiries, idempotency, status, the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models.api_key import ApiKey
from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel
from models.services.admin import api_keys
from models.services.common.actor import Actor
from models.ticket import Ticket
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")

CLI = Actor.system("cli")


async def new_key(db: Any, name: str = "WeChat") -> tuple[int, str]:
    async with unit_of_work(db) as s:
        view, raw = await api_keys.create(s, CLI, name)
    return view.id, raw


def payload(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Zhang Wei",
        "phone": "+86 139 1234 5678",
        "description": "The app crashes when I open my order list.",
        "order_number": "A-1001",
        "channel": "social_media",
    }
    body.update(overrides)
    return body


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_missing_unknown_and_revoked_keys_get_401_json(client: Any, db: Any) -> None:
    missing = await client.post("/api/v1/inquiries", json=payload())
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/json")
    assert "需要 API 密钥" in missing.json()["error"]
    unknown = await client.post(
        "/api/v1/inquiries",
        json=payload(),
        headers={"Authorization": "Bearer kefu_not-a-real-key", "Accept-Language": "en"},
    )
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "This API key is not valid.", "status": 401}
    key_id, raw = await new_key(db)
    async with unit_of_work(db) as s:
        await api_keys.revoke(s, CLI, key_id)
    revoked = await client.post("/api/v1/inquiries", json=payload(), headers={"X-API-Key": raw})
    assert revoked.status_code == 401
    assert (
        await client.get("/api/v1/inquiries/TASK1", headers={"X-API-Key": raw})
    ).status_code == 401
    assert await count(db, Ticket) == 0


async def test_valid_key_creates_an_inquiry_and_reads_its_status(client: Any, db: Any) -> None:
    _, raw = await new_key(db)
    response = await client.post(
        "/api/v1/inquiries", json=payload(), headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"].startswith("TASK") and body["status"] == "pending"
    assert body["tracking_url"].endswith(f"/portal/t/{body['tracking_token']}")
    assert body["replayed"] is False
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        assert ticket.channel is Channel.SOCIAL_MEDIA and ticket.api_key_id is not None
        key = (await s.scalars(select(ApiKey))).one()
        assert key.last_used_at is not None
        assert raw not in (key.key_hash, key.prefix) and raw.startswith(key.prefix)
    status = await client.get(
        body["status_url"].split("testserver.local")[1],
        headers={"X-API-Key": raw, "Accept-Language": "en"},
    )
    assert status.status_code == 200
    assert status.json()["status"] == "pending" and status.json()["status_label"] == "Pending"
    # The tracking link works for the customer, too.
    page = await client.get(f"/portal/t/{body['tracking_token']}")
    assert page.status_code == 200 and body["number"] in page.text


async def test_idempotency_key_returns_the_same_inquiry(client: Any, db: Any) -> None:
    _, raw = await new_key(db)
    headers = {"X-API-Key": raw, "Idempotency-Key": "msg-7781"}
    first = await client.post("/api/v1/inquiries", json=payload(), headers=headers)
    second = await client.post("/api/v1/inquiries", json=payload(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["replayed"] is True
    assert first.json()["number"] == second.json()["number"]
    assert first.json()["tracking_token"] == second.json()["tracking_token"]
    assert await count(db, Ticket) == 1
    other = await client.post(
        "/api/v1/inquiries", json=payload(description="Something else"), headers=headers
    )
    assert other.status_code == 409
    assert await count(db, Ticket) == 1


async def test_the_same_idempotency_key_from_two_clients_is_two_inquiries(
    client: Any, db: Any
) -> None:
    _, first_key = await new_key(db, "WeChat")
    _, second_key = await new_key(db, "Weibo")
    for raw in (first_key, second_key):
        response = await client.post(
            "/api/v1/inquiries", json=payload(), headers={"X-API-Key": raw, "Idempotency-Key": "1"}
        )
        assert response.status_code == 201
    assert await count(db, Ticket) == 2
    assert await count(db, Customer) == 1


async def test_a_key_reads_only_its_own_inquiries(client: Any, db: Any) -> None:
    _, mine = await new_key(db, "WeChat")
    _, theirs = await new_key(db, "Weibo")
    created = await client.post("/api/v1/inquiries", json=payload(), headers={"X-API-Key": mine})
    number = created.json()["number"]
    assert (
        await client.get(f"/api/v1/inquiries/{number}", headers={"X-API-Key": mine})
    ).status_code == 200
    foreign = await client.get(f"/api/v1/inquiries/{number}", headers={"X-API-Key": theirs})
    assert foreign.status_code == 404
    assert "没有该编号的咨询" in foreign.json()["error"]


@pytest.mark.parametrize(
    ("overrides", "field", "status"),
    [
        ({"phone": "12"}, "phone", 422),
        ({"phone": None, "email": "nobody"}, "email", 422),
        ({"phone": None}, "phone", 422),
        ({"description": ""}, "description", 422),
        ({"description": "x" * 5001}, "description", 422),
        ({"channel": "portal"}, "channel", 400),
        ({"name": 42}, "name", 400),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    client: Any, db: Any, overrides: dict[str, Any], field: str, status: int
) -> None:
    _, raw = await new_key(db)
    response = await client.post(
        "/api/v1/inquiries",
        json=payload(**overrides),
        headers={"X-API-Key": raw, "Accept-Language": "en"},
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["error"]
    if status == 422:
        assert field in body["fields"]
    assert await count(db, Ticket) == 0 and await count(db, Customer) == 0


async def test_openapi_schema_documents_the_api_only(client: Any) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert set(schema["paths"]) == {
        "/api/v1/inquiries",
        "/api/v1/inquiries/{number}",
        "/api/v1/inquiries/{number}/messages",
    }
    message = schema["paths"]["/api/v1/inquiries/{number}/messages"]["post"]
    assert {"201", "401", "404", "422"} <= set(message["responses"])
    post = schema["paths"]["/api/v1/inquiries"]["post"]
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
    assert {"Authorization", "X-API-Key", "Idempotency-Key"} <= headers
    assert {"201", "401", "422"} <= set(post["responses"])
    inquiry = schema["components"]["schemas"]["InquiryIn"]
    assert {"name", "description"} <= set(inquiry["required"])
    assert "social_media" in str(inquiry["properties"]["channel"])


async def test_admin_creates_and_revokes_keys_in_the_admin_ui(client: Any, db: Any) -> None:
    await sign_in(client, "admin", "kefu-admin")
    token = client.cookies.get("kefu_csrf")
    created = await client.post(
        "/admin/api-keys",
        data={"name": "Douyin", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert created.status_code == 200
    raw = created.text.split('value="kefu_', 1)[1].split('"', 1)[0]
    raw = "kefu_" + raw
    ok = await client.post("/api/v1/inquiries", json=payload(), headers={"X-API-Key": raw})
    assert ok.status_code == 201
    page = await client.get("/admin")
    assert "Douyin" in page.text and raw not in page.text, "a key is shown only once"
    async with db.sessionmaker() as s:
        key_id = (await s.scalars(select(ApiKey.id))).one()
    revoked = await client.post(
        f"/admin/api-keys/{key_id}/revoke",
        data={"_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert revoked.status_code == 200 and "已吊销" in revoked.text
    refused = await client.post("/api/v1/inquiries", json=payload(), headers={"X-API-Key": raw})
    assert refused.status_code == 401
    bad = await client.post("/admin/api-keys", data={"name": " ", "_csrf_token": token})
    assert bad.status_code == 422


async def test_only_admins_manage_keys(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    response = await client.post(
        "/admin/api-keys", data={"name": "x", "_csrf_token": client.cookies.get("kefu_csrf")}
    )
    assert response.status_code == 403
    assert await count(db, ApiKey) == 0


def test_cli_creates_lists_and_revokes_keys(db: Any) -> None:
    from click.testing import CliRunner

    from web.cli import main

    runner = CliRunner()
    created = runner.invoke(main, ["apikey", "create", "Feishu bot"])
    assert created.exit_code == 0, created.output
    raw = created.output.strip().splitlines()[-1]
    assert raw.startswith("kefu_") and len(raw) > 40
    listed = runner.invoke(main, ["apikey", "list"])
    assert "Feishu bot" in listed.output and raw not in listed.output
    revoked = runner.invoke(main, ["apikey", "revoke", raw[:12]])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    missing = runner.invoke(main, ["apikey", "revoke", "kefu_nothing"])
    assert missing.exit_code != 0 and "not found" in missing.output
