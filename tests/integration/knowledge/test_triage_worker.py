"""The triage job on the real worker: classify, prioritise, route, schedule, suggest, repeat."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from models.article import Article
from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import CustomerLevel, Priority, RequestType, TypeSource
from models.model_version import ModelVersion
from models.routing import RoutingRule
from models.services.demo import seed
from models.services.tickets import commands
from models.settings import get_settings
from models.suggestion import TicketSuggestion
from models.ticket import Ticket
from models.ticket_embedding import TicketEmbedding
from tests.conftest import csrf_token, sign_in
from tests.integration.triage_support import (
    LEAD,
    burst,
    make_customer,
    make_ticket,
    triage_runtime,
    worker_ctx,
)
from workers.jobs.triage import triage_ticket

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    async with triage_runtime() as rt:
        yield rt


COMPLAINT_ZH = "你们的客服态度太恶劣了，电话里直接挂断，我要投诉并要求赔偿！"
AFTER_SALES_ZH = "上周买的电动牙刷用了两天就坏了，充不进电，想申请换货或者退款。"


async def _ticket(db: Any, ticket_id: int) -> Ticket:
    async with db.sessionmaker() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _count(db: Any, model: Any, *where: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_job_run_twice_changes_nothing_the_second_time(
    db: Any, redis: Any, runtime: Any
) -> None:
    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
    customer = await make_customer(db, "马先生")
    ticket_id = await make_ticket(db, redis, customer, AFTER_SALES_ZH)
    pubsub = redis.pubsub()
    await pubsub.subscribe(get_settings().event_channel)

    await burst(runtime)  # the job enqueued by tickets.create, on the real worker
    first = await _ticket(db, ticket_id)
    audits = await _count(db, AuditEvent, AuditEvent.ticket_id == ticket_id)
    result = await triage_ticket(worker_ctx(db, redis, runtime), ticket_id)  # and once more
    second = await _ticket(db, ticket_id)

    assert result["applied"] is False
    assert first.triaged_at is not None and first.request_type is RequestType.AFTER_SALES
    assert first.type_source is TypeSource.MODEL and 0 < (first.type_confidence or 0) <= 1
    async with db.sessionmaker() as s:
        current = await s.scalar(
            select(ModelVersion.version).where(ModelVersion.status == "current")
        )
        routed = await s.scalar(
            select(RoutingRule.department_id).where(
                RoutingRule.request_type == RequestType.AFTER_SALES
            )
        )
    assert first.model_version == current
    assert first.department_id == routed
    assert first.resolution_due is not None
    assert second.version == first.version and second.triaged_at == first.triaged_at
    assert await _count(db, AuditEvent, AuditEvent.ticket_id == ticket_id) == audits
    assert (
        await _count(
            db, AuditEvent, AuditEvent.ticket_id == ticket_id, AuditEvent.field == "request_type"
        )
        == 1
    )
    assert await _count(db, TicketSuggestion, TicketSuggestion.ticket_id == ticket_id) == 3
    # Its embedding (e5's half only: test_the_classifier_reads_chinese_through_e5_and_english…)
    assert await _count(db, TicketEmbedding, TicketEmbedding.ticket_id == ticket_id) == 1
    triaged = []
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is None:
            continue
        payload = json.loads(message["data"])
        if payload["type"] == "ticket.triaged":
            triaged.append(payload)
    await pubsub.aclose()
    assert len(triaged) == 1 and triaged[0]["ticket_id"] == ticket_id


async def test_portal_inquiry_is_classified_by_the_worker_and_shows_its_type_on_the_board(
    client: Any, db: Any, runtime: Any
) -> None:
    token = await csrf_token(client, "/portal")
    page = await client.get("/portal")
    form_key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert form_key
    response = await client.post(
        "/portal",
        data={
            "_csrf_token": token,
            "form_key": form_key.group(1),
            "name": "林小姐",
            "phone": "13800138000",
            "email": "",
            "description": COMPLAINT_ZH,
            "order_number": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
    assert ticket.request_type is None

    await burst(runtime)

    ticket = await _ticket(db, ticket.id)
    assert ticket.request_type is RequestType.COMPLAINT
    await sign_in(client, "lead", "kefu-lead")
    board = await client.get("/board?department=all")  # wherever triage routed it
    card = re.search(rf'data-number="{ticket.number}".*?</li>', board.text, re.S)
    assert card, "the ticket is on the board"
    assert "type-complaint" in card.group(0) and "Classifying" not in card.group(0)


async def test_complaints_from_key_customers_rise_to_urgent(
    db: Any, redis: Any, runtime: Any
) -> None:
    vip = await make_customer(db, "星海科技", CustomerLevel.VIP)
    ticket_id = await make_ticket(db, redis, vip, COMPLAINT_ZH)
    assert (await _ticket(db, ticket_id)).priority is Priority.HIGH  # VIP raises normal

    await burst(runtime)

    ticket = await _ticket(db, ticket_id)
    assert ticket.request_type is RequestType.COMPLAINT
    assert ticket.priority is Priority.URGENT  # … and a complaint raises it once more
    async with db.sessionmaker() as s:
        moved = await s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.ticket_id == ticket_id, AuditEvent.field == "priority")
        )
    assert moved == 1


async def test_repeat_inquiry_of_the_same_customer_is_flagged(
    db: Any, redis: Any, runtime: Any
) -> None:
    alice = await make_customer(db, "Alice Brown")
    bob = await make_customer(db, "Bob Stone")
    first = await make_ticket(
        db,
        redis,
        alice,
        "My router keeps dropping the wifi connection every few minutes since the firmware update.",
    )
    await burst(runtime)
    again = await make_ticket(
        db,
        redis,
        alice,
        "Since the firmware update my router "
        "keeps dropping the wifi connection every few minutes!!",
    )
    other = await make_ticket(
        db,
        redis,
        bob,
        "Since the firmware update my router keeps dropping the wifi connection every few minutes.",
    )
    unrelated = await make_ticket(
        db, redis, alice, "How much does the premium plan cost per year for a family of four?"
    )
    await burst(runtime)

    repeat = await _ticket(db, again)
    assert repeat.is_repeat and repeat.repeat_of_id == first
    assert not (await _ticket(db, other)).is_repeat, "another customer's ticket"
    assert not (await _ticket(db, unrelated)).is_repeat, "a different question"


async def test_a_type_set_by_a_person_is_never_overridden(
    db: Any, redis: Any, runtime: Any
) -> None:
    customer = await make_customer(db, "周女士")
    ticket_id = await make_ticket(db, redis, customer, COMPLAINT_ZH)
    async with unit_of_work(db) as s:
        await commands.change_type(s, LEAD, ticket_id, RequestType.PROBLEM, expected_version=None)

    await burst(runtime)

    ticket = await _ticket(db, ticket_id)
    assert ticket.triaged_at is not None
    assert ticket.request_type is RequestType.PROBLEM and ticket.type_source is TypeSource.LEAD


async def test_drawer_shows_the_stored_suggestions_and_counts_a_click(
    client: Any, db: Any, redis: Any, runtime: Any
) -> None:
    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
    customer = await make_customer(db, "黄先生")
    ticket_id = await make_ticket(db, redis, customer, "退款申请通过了，请问退款多久能到账？")
    await sign_in(client, "agent", "kefu-agent")
    waiting = await client.get(f"/tickets/{ticket_id}/suggestions")
    assert waiting.status_code == 200 and 'hx-trigger="load delay:2s"' in waiting.text

    await burst(runtime)

    panel = await client.get(f"/tickets/{ticket_id}/suggestions")
    links = re.findall(r'href="/kb/(\d+)/open"', panel.text)
    assert len(links) == 3 and "hx-trigger" not in panel.text
    async with db.sessionmaker() as s:
        refund = await s.scalar(select(Article).where(Article.external_id == "zh-002"))
        assert refund is not None
        updated_at = refund.updated_at
    assert str(refund.id) in links and refund.title in panel.text
    opened = await client.get(f"/kb/{refund.id}/open", follow_redirects=False)
    assert opened.status_code in (301, 302, 303)
    assert opened.headers["location"] == f"/kb/{refund.id}"
    async with db.sessionmaker() as s:
        article = await s.get(Article, refund.id)
        assert article is not None
        assert article.click_count == 1 and article.suggested_count >= 1
        assert article.updated_at == updated_at, "a click is not an edit"
    drawer = await client.get(f"/tickets/{ticket_id}", headers={"HX-Request": "true"})
    assert f'hx-get="/tickets/{ticket_id}/suggestions"' in drawer.text


async def _suggested(db: Any, ticket_id: int) -> list[str]:
    async with db.sessionmaker() as s:
        rows = await s.execute(
            select(Article.external_id)
            .join(TicketSuggestion, TicketSuggestion.article_id == Article.id)
            .where(TicketSuggestion.ticket_id == ticket_id)
            .order_by(TicketSuggestion.rank)
        )
        return [r[0] for r in rows]


class _Asked:
    """The shared retrieval embedder, recording the queries it is asked to embed; a call
    for ``hold`` waits until ``release`` is set (an embedder busy with another text)."""

    def __init__(self, inner: Any, hold: str | None = None) -> None:
        self.inner, self.asked = inner, threading.Event()
        self.hold, self.holding, self.release = hold, threading.Event(), threading.Event()
        self.queries: list[str] = []
        self.name, self.dim, self.multilingual = inner.name, inner.dim, inner.multilingual

    def dense_floor(self, query: str) -> float:
        return float(self.inner.dense_floor(query))

    def encode(self, texts: Any, batch_size: int = 64, **options: Any) -> Any:
        if not options.get("passage"):
            self.queries.extend(texts)
            self.asked.set()
            if self.hold in texts:
                self.holding.set()
                self.release.wait(60)
        return self.inner.encode(texts, batch_size, **options)


def _asked_runtime(hold: str | None = None) -> tuple[Any, _Asked]:
    from tests.integration.triage_support import shared_embedder, shared_retrieval_embedder
    from workers.context import TriageRuntime

    settings = get_settings()
    asked = _Asked(shared_retrieval_embedder(settings.retrieval_model), hold)
    return TriageRuntime(settings, embedder=shared_embedder(), retrieval_embedder=asked), asked


async def _queued(redis: Any) -> set[str]:
    return {
        m.decode() if isinstance(m, bytes) else m
        for m in await redis.zrange(get_settings().queue_name, 0, -1)
    }


FRIDGE = "冰箱坏了能派人来看看吗"  # by meaning: 如何预约上门维修？ (zh-006); by words: elsewhere
# By meaning: Can I exchange an item for a different size or colour? (en-003); by words: en-027.
TOO_SMALL = "the thing I bought is too small, swap it for a bigger one"


async def _seeded(db: Any, runtime: Any, asked: _Asked) -> None:
    """The seed knowledge base, embedded, and the classifier loaded (training the bootstrap
    model if no other test has: its rows' vectors are not the queries these tests count)."""
    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
    await runtime.embed_articles(db)
    await runtime.classifier(db)
    asked.queries.clear()


async def test_triage_ranks_suggestions_by_meaning_with_the_vector_made_while_it_classified(
    db: Any, redis: Any
) -> None:
    """With retrieval's own embedder (the default), the triage job has it embed the text
    from its start, beside the classification; with that vector ready it stores the ranking
    by meaning at once, and no second ranking follows. (A Chinese text's classification
    reads that same vector: it is embedded once.)"""
    runtime, asked = _asked_runtime()
    try:
        await _seeded(db, runtime, asked)
        for text, article in ((FRIDGE, "zh-006"), (TOO_SMALL, "en-003")):
            ticket_id = await make_ticket(db, redis, await make_customer(db, "冯女士"), text)

            result = await triage_ticket(worker_ctx(db, redis, runtime), ticket_id)

            assert result["applied"] and (await _ticket(db, ticket_id)).triaged_at is not None
            assert (await _suggested(db, ticket_id))[0] == article
            assert asked.queries.count(text) == 1, asked.queries
            assert f"suggest-ticket:{ticket_id}" not in await _queued(redis)
    finally:
        await runtime.close()


async def test_triage_classifies_first_and_ranks_by_meaning_after_when_the_embedder_is_busy(
    db: Any, redis: Any
) -> None:
    """When the retrieval embedder is still busy with other texts, the triage job classifies
    an English inquiry (read through MiniLM) and routes it with a lexical ranking and queues
    ``suggest-ticket``; the text is embedded once the embedder is free, and that job ranks
    by meaning with the vector, without embedding the text again. An article shown by both
    rankings is counted as shown once."""
    import asyncio

    runtime, asked = _asked_runtime(hold="一段占着嵌入线程的别的文字")
    try:
        await _seeded(db, runtime, asked)
        ticket_id = await make_ticket(db, redis, await make_customer(db, "冯女士"), TOO_SMALL)
        assert runtime.retrieval.prefetch(asked.hold)
        assert await asyncio.to_thread(asked.holding.wait, 30), "the embedder is busy"

        result = await triage_ticket(worker_ctx(db, redis, runtime), ticket_id)
        lexical = await _suggested(db, ticket_id)
        assert result["applied"] and (await _ticket(db, ticket_id)).triaged_at is not None
        assert lexical and lexical[0] != "en-003", "words alone point elsewhere"
        assert f"suggest-ticket:{ticket_id}" in await _queued(redis)
        assert TOO_SMALL not in asked.queries

        asked.release.set()
        await burst(runtime)  # the queued triage job (a no-op now) and the suggest-ticket job
        refined = await _suggested(db, ticket_id)
        assert refined[0] == "en-003", refined
        assert asked.queries.count(TOO_SMALL) == 1, asked.queries
        async with db.sessionmaker() as s:
            counts = dict(
                (await s.execute(select(Article.external_id, Article.suggested_count))).all()
            )
        for article in set(lexical) | set(refined):
            assert counts[article] == 1, (article, lexical, refined)
    finally:
        asked.release.set()
        await runtime.close()


async def test_a_chinese_inquiry_waits_for_its_e5_vector_which_ranks_its_suggestions_at_once(
    db: Any, redis: Any
) -> None:
    """A Chinese inquiry is classified through e5 (the classifier reads Chinese with the
    multilingual embedder), so even when that embedder is busy the triage waits for its
    vector, and the same vector ranks the suggestions by meaning at once: no second job,
    the text embedded once."""
    import asyncio

    runtime, asked = _asked_runtime(hold="一段占着嵌入线程的别的文字")
    try:
        await _seeded(db, runtime, asked)
        ticket_id = await make_ticket(db, redis, await make_customer(db, "冯女士"), FRIDGE)
        assert runtime.retrieval.prefetch(asked.hold)
        assert await asyncio.to_thread(asked.holding.wait, 30), "the embedder is busy"

        triage = asyncio.create_task(triage_ticket(worker_ctx(db, redis, runtime), ticket_id))
        await asyncio.sleep(0.5)
        assert not triage.done(), "classifying it needs the e5 vector"
        asked.release.set()
        result = await asyncio.wait_for(triage, 60)

        assert result["applied"] and (await _ticket(db, ticket_id)).triaged_at is not None
        assert (await _suggested(db, ticket_id))[0] == "zh-006"
        assert f"suggest-ticket:{ticket_id}" not in await _queued(redis)
        assert asked.queries.count(FRIDGE) == 1, asked.queries
    finally:
        asked.release.set()
        await runtime.close()


async def test_the_classifier_reads_chinese_through_e5_and_english_through_minilm(
    db: Any, redis: Any
) -> None:
    """With retrieval's own multilingual embedder (the default), a Chinese-only inquiry is
    classified with e5's vector of it and never sent to MiniLM (whose half of the stored
    vector stays zeros); an English one through MiniLM, never sent to e5 for that. The
    verdicts are the model's on the worker's embeddings of each text."""
    from tests.integration.triage_support import shared_embedder, shared_retrieval_embedder
    from tests.triage.script_support import script_encoder
    from triage.embedder import script_name
    from triage.predict import predict
    from triage.vectors import from_bytes
    from workers.context import TriageRuntime

    settings = get_settings()
    classifier_embedder = _Asked(shared_embedder())
    retrieval = _Asked(shared_retrieval_embedder(settings.retrieval_model))
    runtime = TriageRuntime(settings, embedder=classifier_embedder, retrieval_embedder=retrieval)
    english = "The blender I received last week stopped working, I want a replacement."
    try:
        customer = await make_customer(db, "冯女士")
        chinese_id = await make_ticket(db, redis, customer, COMPLAINT_ZH)
        english_id = await make_ticket(db, redis, customer, english)
        await runtime.classifier(db)
        classifier_embedder.queries.clear()  # the bootstrap model's own rows, if it trained
        retrieval.queries.clear()

        for ticket_id in (chinese_id, english_id):
            await triage_ticket(worker_ctx(db, redis, runtime), ticket_id)

        assert classifier_embedder.queries == [english]
        assert retrieval.queries.count(COMPLAINT_ZH) == 1
        name = script_name(classifier_embedder.name, 384, retrieval.name)
        assert runtime.model.model.embedder_name == name
        apart = script_encoder(shared_embedder(), retrieval.inner)  # the same models, uncounted
        try:
            vectors = np.vstack([await apart.encode_one(t) for t in (COMPLAINT_ZH, english)])
        finally:
            await apart.close()
        verdicts = predict(runtime.model.model, [COMPLAINT_ZH, english], vectors)
        for ticket_id, verdict in zip((chinese_id, english_id), verdicts, strict=True):
            ticket = await _ticket(db, ticket_id)
            assert ticket.request_type is not None
            assert ticket.request_type.value == verdict.category
            assert ticket.type_confidence == round(float(verdict.confidence), 4)
        assert (await _ticket(db, chinese_id)).request_type is RequestType.COMPLAINT
        async with db.sessionmaker() as s:
            stored = {
                row.ticket_id: row
                for row in await s.scalars(
                    select(TicketEmbedding).where(
                        TicketEmbedding.ticket_id.in_((chinese_id, english_id))
                    )
                )
            }
        assert {row.embedding_model for row in stored.values()} == {name}
        chinese_vector = from_bytes(stored[chinese_id].embedding)
        english_vector = from_bytes(stored[english_id].embedding)
        assert chinese_vector is not None and english_vector is not None
        assert not chinese_vector[:384].any() and chinese_vector[384:].any()
        assert english_vector[:384].any() and not english_vector[384:].any()
    finally:
        await runtime.close()


async def test_a_ranking_equal_to_the_stored_one_writes_nothing(db: Any, redis: Any) -> None:
    """The by-meaning ranking often names the articles the first one named, in its order:
    then nothing is rewritten (each write waits for SQLite's one writer); another order
    replaces the rows, and an article already shown is not counted again."""
    from models.services.knowledge.kb import Hit
    from models.services.tickets import triage

    async with unit_of_work(db) as s:
        await seed.seed_articles(s)
        ids = list((await s.scalars(select(Article.id).order_by(Article.id).limit(3))).all())
    customer = await make_customer(db, "冯女士")
    ticket_id = await make_ticket(db, redis, customer, "冰箱坏了能派人来看看吗")

    async def store(order: list[int], score: float) -> list[tuple[int, float]]:
        async with unit_of_work(db) as s:
            await triage.refine_suggestions(s, ticket_id, [Hit(i, score) for i in order])
        async with db.sessionmaker() as s:
            rows = await s.execute(
                select(TicketSuggestion.article_id, TicketSuggestion.score)
                .where(TicketSuggestion.ticket_id == ticket_id)
                .order_by(TicketSuggestion.rank)
            )
            return [(r[0], r[1]) for r in rows]

    first = await store(ids, 1.0)
    assert first == [(i, 1.0) for i in ids]
    assert await store(ids, 2.0) == first, "the same ranking keeps the stored rows"
    swapped = [ids[1], ids[0], ids[2]]
    assert await store(swapped, 3.0) == [(i, 3.0) for i in swapped], "another order rewrites"
    async with db.sessionmaker() as s:
        counts = (await s.scalars(select(Article.suggested_count).where(Article.id.in_(ids)))).all()
    assert sorted(counts) == [1, 1, 1]
