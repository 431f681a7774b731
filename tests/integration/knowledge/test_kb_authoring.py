"""Leads write and publish articles (safe Markdown); admins edit the routing mapping."""

from __future__ import annotations

from typing import Any

import pytest
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from models.article import Article
from models.audit import AuditEvent
from models.department import Department
from models.enums import ArticleStatus, RequestType
from models.routing import RoutingRule
from models.settings import get_settings
from tests.conftest import sign_in
from tests.integration.triage_support import htmx_headers

pytestmark = pytest.mark.usefixtures("reference")

BODY = """退款审核通过后 **原路退回**：

1. 支付宝：1–3 个工作日
2. 银行卡：3–7 个工作日

<script>alert('x')</script> [危险链接](javascript:alert(1)) | 表头 |
"""


async def _articles(db: Any) -> list[Article]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(Article).order_by(Article.id))).all())


async def test_a_lead_writes_and_publishes_an_article_rendered_safely(
    client: Any, db: Any, redis: Any
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    headers = await htmx_headers(client, "/kb/new")

    created = await client.post(
        "/kb/new",
        data={"title": "退款多久到账？", "body": BODY, "locale": "zh_CN"},
        headers=headers,
    )

    assert created.status_code == 200
    [article] = await _articles(db)
    assert created.headers.get("hx-redirect") == f"/kb/{article.id}"
    assert article.status is ArticleStatus.DRAFT and article.embedding is None
    page = await client.get(f"/kb/{article.id}")
    assert page.status_code == 200
    assert "<strong>原路退回</strong>" in page.text and "<ol>" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert 'href="javascript:' not in page.text

    published = await client.post(
        f"/kb/{article.id}/status", data={"status": "published"}, headers=headers
    )
    assert published.status_code == 200
    [article] = await _articles(db)
    assert article.status is ArticleStatus.PUBLISHED and article.published_at is not None
    queued = [k async for k in redis.scan_iter(match="arq:job:embed:*")]
    assert len(queued) == 1, "publishing asks the worker to embed the article"
    job_id = queued[0].decode().removeprefix("arq:job:")
    assert (
        await Job(job_id, redis, _queue_name=get_settings().queue_name).status() is JobStatus.queued
    )

    edited = await client.post(
        f"/kb/{article.id}/edit",
        data={"title": "退款多久能到账？", "body": BODY, "locale": "zh_CN"},
        headers=headers,
    )
    assert edited.status_code == 200
    async with db.sessionmaker() as s:
        changes = await s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity_type == "article", AuditEvent.entity_id == article.id)
        )
    assert changes == 3  # created, published, title changed


async def test_article_forms_refuse_bad_input_and_agents(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    headers = await htmx_headers(client, "/kb/new")
    empty = await client.post(
        "/kb/new", data={"title": " ", "body": "", "locale": "xx"}, headers=headers
    )
    assert empty.status_code == 422
    assert "必填" in empty.text or "Required" in empty.text
    assert await _articles(db) == []

    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/kb/new")).status_code == 403
    agent_headers = await htmx_headers(client, "/kb/")
    refused = await client.post(
        "/kb/new", data={"title": "t", "body": "b", "locale": "en"}, headers=agent_headers
    )
    assert refused.status_code == 403
    assert await _articles(db) == []
    assert (await client.get("/kb/")).status_code == 200


async def test_agents_see_only_published_articles(client: Any, db: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    headers = await htmx_headers(client, "/kb/new")
    await client.post(
        "/kb/new", data={"title": "Draft notes", "body": "wip", "locale": "en"}, headers=headers
    )
    await client.post(
        "/kb/new",
        data={"title": "Shipping times", "body": "3-5 days", "locale": "en", "publish": "1"},
        headers=headers,
    )
    draft, live = await _articles(db)
    await sign_in(client, "agent", "kefu-agent")
    listing = await client.get("/kb/")
    assert "Shipping times" in listing.text and "Draft notes" not in listing.text
    assert (await client.get(f"/kb/{draft.id}")).status_code == 404
    assert (await client.get(f"/kb/{live.id}")).status_code == 200


async def test_admins_edit_the_routing_of_each_request_type(client: Any, db: Any) -> None:
    async with db.sessionmaker() as s:
        departments = dict((await s.execute(select(Department.code, Department.id))).all())
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get("/admin")
    assert page.status_code == 200 and 'id="routing"' in page.text
    headers = await htmx_headers(client, "/admin")
    form = {
        "consultation": str(departments["SUPPORT"]),
        "problem": str(departments["TECH"]),
        "complaint": str(departments["SUPPORT"]),
        "after_sales": "",
    }

    saved = await client.post("/admin/routing", data=form, headers=headers)

    assert saved.status_code == 200 and 'id="routing"' in saved.text
    async with db.sessionmaker() as s:
        rules = dict(
            (await s.execute(select(RoutingRule.request_type, RoutingRule.department_id))).all()
        )
        audits = await s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity_type == "routing_rule")
        )
    assert rules == {
        RequestType.CONSULTATION: departments["SUPPORT"],
        RequestType.PROBLEM: departments["TECH"],
        RequestType.COMPLAINT: departments["SUPPORT"],
    }
    assert audits == 2  # complaint moved, after-sales unrouted; the rest unchanged
    bad = await client.post("/admin/routing", data={**form, "problem": "999999"}, headers=headers)
    assert bad.status_code == 422
    await sign_in(client, "lead", "kefu-lead")
    lead_headers = await htmx_headers(client, "/models")
    assert (await client.post("/admin/routing", data=form, headers=lead_headers)).status_code == 403
