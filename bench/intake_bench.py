"""Intake at the service layer: portal answer suggestions while typing, and registering
inquiries (customer find-or-create through the keyed hash, ticket, side effects).

Builds its own scratch database (SQLite, or ``KEFU_BENCH_DATABASE_URL``) with the seed
knowledge base and ``KEFU_BENCH_CUSTOMERS`` customers (default 2,000) so lookups search a
realistic registry.

    python -m bench intake
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from typing import Any

from bench.common import percentiles, scratch_database_url

QUERIES = [
    ("我想申请退货退款，怎么操作？", "zh_CN"),
    ("退款多久能到账", "zh_CN"),
    ("发票怎么开", "zh_CN"),
    ("快递一直没有更新物流信息", "zh_CN"),
    ("How do I return an item?", "en"),
    ("my refund has not arrived yet", "en"),
    ("change the delivery address of my order", "en"),
]
SUGGEST_SAMPLES = 200
REGISTER_SAMPLES = 200


async def _run(url: str, customers_count: int) -> dict[str, Any]:
    import models
    from models.db import Database, unit_of_work
    from models.enums import Channel
    from models.services.common.actor import Actor
    from models.services.customers import registry
    from models.services.demo import seed
    from models.services.knowledge import kb
    from models.services.tickets import intake

    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.drop_all)
        await conn.run_sync(models.Base.metadata.create_all)
    system = Actor.system("bench")
    async with unit_of_work(db) as s:
        await seed.seed_reference(s)
        articles = await seed.seed_articles(s)
        for n in range(customers_count):
            await registry.register(
                s,
                system,
                registry.CustomerInput(name=f"客户{n}", phone=f"139{n:08d}"),
            )

    suggest_ms: list[float] = []
    cache = kb.LexicalIndexCache()  # as the web app holds it
    async with db.sessionmaker() as s:
        for i in range(SUGGEST_SAMPLES):
            query, locale = QUERIES[i % len(QUERIES)]
            started = time.perf_counter()
            await kb.suggest_for_portal(s, query, locale, 3, lexical_cache=cache)
            suggest_ms.append((time.perf_counter() - started) * 1000)

    register_ms: list[float] = []
    for i in range(REGISTER_SAMPLES):
        # Half the inquiries come from known customers (found by phone), half are new.
        phone = f"139{i:08d}" if i % 2 else f"137{i:08d}"
        started = time.perf_counter()
        async with unit_of_work(db) as s:
            await intake.register_once(
                s,
                system,
                intake.InquiryInput(
                    description=f"第 {i} 个咨询：订单物流信息不更新",
                    channel="portal",
                    name="门户访客",
                    phone=phone,
                    allowed_channels=(Channel.PORTAL,),
                    require_contact=True,
                    with_tracking_link=True,
                    idempotency_key=intake.idempotency_key("bench", secrets.token_hex(8)),
                ),
            )
        register_ms.append((time.perf_counter() - started) * 1000)
    await db.dispose()
    return {
        "database": db.dialect,
        "articles": articles,
        "customers": customers_count,
        "suggest_for_portal": percentiles(suggest_ms),
        "register_inquiry": percentiles(register_ms),
    }


async def run() -> dict[str, Any]:
    from models.settings import reset_settings

    url = scratch_database_url("intake")
    saved = {k: os.environ.get(k) for k in ("KEFU_DATABASE_URL", "KEFU_ENCRYPTION_KEY")}
    os.environ["KEFU_DATABASE_URL"] = url
    os.environ.setdefault(
        "KEFU_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    reset_settings()
    try:
        return await _run(url, int(os.environ.get("KEFU_BENCH_CUSTOMERS", "2000")))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(asyncio.run(run()), indent=2))
