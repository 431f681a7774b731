"""The classifier's life cycle: promotion, rejection with report, recovery, rollback, the
review queue and the model page, retraining after N corrections."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from models.db import unit_of_work
from models.enums import RequestType, TypeSource
from models.label import Label
from models.model_version import ModelVersion
from models.services.common.actor import Actor
from models.services.knowledge import lifecycle
from models.settings import get_settings, reset_settings
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.triage_support import (
    burst,
    htmx_headers,
    make_customer,
    make_ticket,
    triage_runtime,
)
from triage.registry import save_model
from triage.text import latin_share
from triage.vectors import from_bytes

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    async with triage_runtime() as rt:
        yield rt


def contradicting_labels(per_type: int = 15) -> list[tuple[str, str]]:
    """Bootstrap messages "corrected" to the next type in turn: labels that contradict the
    bootstrap corpus (and the guideline) wholesale — ``per_type`` of each type from each of its
    files, so the contradiction reaches both languages and every kind of row."""
    from triage import CATEGORIES
    from triage.data import BOOTSTRAP_DIR, load_examples

    shifted = {c: CATEGORIES[(i + 1) % len(CATEGORIES)] for i, c in enumerate(CATEGORIES)}
    rows = []
    for path in sorted(BOOTSTRAP_DIR.glob("bootstrap_*.jsonl")):
        taken: dict[str, int] = {}
        for example in load_examples(path):
            if taken.get(example.category, 0) < per_type:
                taken[example.category] = taken.get(example.category, 0) + 1
                rows.append((example.text, shifted[example.category]))
    return rows


# Consistent corrections from a "new domain" (clear cases of each type).
CONSISTENT = {
    "consultation": [
        "请问你们的会员年费是多少？",
        "Do you offer student discounts on the annual plan?",
        "请问发票可以开专票吗",
        "What are your customer service hours on weekends?",
        "请问这个课程适合零基础吗",
        "Is there a free trial for the team plan?",
    ],
    "problem": [
        "登录一直提示密码错误，但密码是对的",
        "The app crashes every time I open the camera",
        "付款页面一直转圈，无法完成支付",
        "Two-factor codes never arrive on my phone",
        "视频课程播放到一半就卡住不动",
        "The export button does nothing when I click it",
    ],
    "complaint": [
        "你们客服态度太恶劣了，我要投诉并要求赔偿",
        "Your agent hung up on me, I demand an apology",
        "再不解决我就去12315投诉你们",
        "I'm filing a formal complaint about your rude staff",
        "承诺的退款一个月了还没到，我要投诉",
        "Worst service ever, I will report you",
    ],
    "after_sales": [
        "买的吹风机用了三天就坏了，申请换货",
        "I'd like to return the jacket, it's too small",
        "洗衣机漏水，需要保修维修",
        "Please send a replacement charger under warranty",
        "鞋子尺码不对，想换大一号",
        "The blender arrived damaged, I need an exchange",
    ],
}


async def _import(db: Any, rows: list[tuple[str, str]]) -> int:
    async with unit_of_work(db) as s:
        return await lifecycle.import_labels(s, Actor.system("test"), rows)


async def _rows(db: Any) -> list[ModelVersion]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(ModelVersion).order_by(ModelVersion.id))).all())


async def test_a_worse_challenger_is_rejected_and_keeps_its_report(
    client: Any, db: Any, runtime: Any
) -> None:
    bootstrap = await runtime.classifier(db)
    assert await _import(db, contradicting_labels()) == 240  # 15 per type and file

    outcome = await runtime.retrain(db)

    assert outcome.status is lifecycle.Status.REJECTED, outcome.comparison
    assert "bootstrap_validation" in outcome.comparison["worse_on"]
    boot = outcome.comparison["sets"]["bootstrap_validation"]
    assert boot["not_worse"] is False
    assert boot["challenger"]["macro_f1"] < boot["champion"]["macro_f1"]
    rows = await _rows(db)
    assert [r.status for r in rows] == ["current", "rejected"]
    assert rows[0].version == bootstrap.version, "the current model stays"
    rejected = rows[1]
    assert rejected.comparison and rejected.comparison["decision"] == "rejected"
    assert rejected.metrics["held_out_labels"]["n"] > 0 and rejected.progress == 100
    assert rejected.artifact_path and rejected.label_count > 0
    assert runtime.model.version == bootstrap.version
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/models")
    card = page.text.split(f'data-testid="version-{rejected.version}"', 1)[1].split("</article>")[0]
    assert "mv-rejected" in card and "初始验证集" in card  # worse on the bootstrap split
    assert f"/models/{rejected.id}/rollback" in card, "a lead may still choose it"


async def test_a_challenger_judged_on_too_few_corrections_is_not_promoted(
    client: Any, db: Any, runtime: Any
) -> None:
    bootstrap = await runtime.classifier(db)
    await _import(db, [(t, c) for c, texts in CONSISTENT.items() for t in texts[:1]][:3])

    outcome = await runtime.retrain(db, trigger="manual")

    assert outcome.status is lifecycle.Status.REJECTED, outcome.comparison
    assert outcome.comparison["reason"] == "too few corrections to judge: 3 of the 10 needed"
    assert outcome.comparison["evidence"]["basis"] == "too_few"
    assert [r.status for r in await _rows(db)] == ["current", "rejected"]
    assert runtime.model.version == bootstrap.version
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/models")
    card = page.text.split(f'data-testid="version-{outcome.version}"', 1)[1].split("</article>")[0]
    assert "未启用：更正太少（3 条，至少需要 10 条）" in card
    assert card.index('data-testid="decision"') < card.index("mv-metrics"), "words first"
    client.cookies.set("kefu_lang", "en")
    english = await client.get("/models")
    assert "Not adopted: too few corrections (3, at least 10 needed)." in english.text


async def test_a_challenger_that_is_not_worse_is_promoted(
    client: Any, db: Any, runtime: Any
) -> None:
    bootstrap = await runtime.classifier(db)
    labels = [(t, c) for c, texts in CONSISTENT.items() for t in texts]
    assert await _import(db, labels) == 24
    assert await _import(db, [(f" {t} ", c) for t, c in labels]) == 0, "imported rows count once"

    outcome = await runtime.retrain(db, trigger="manual")

    assert outcome.promoted, outcome.comparison
    evidence = outcome.comparison["evidence"]
    assert evidence["basis"] == "cross_validation", "24 corrections, few of them held out"
    assert evidence["n"] == 24 and "cross_validation" in outcome.comparison["sets"]
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/models")
    card = page.text.split(f'data-testid="version-{outcome.version}"', 1)[1].split("</article>")[0]
    assert f"在您团队的 24 条更正上：{round(evidence['challenger_accuracy'] * 100)}% 正确" in card
    assert "交叉验证" in card
    rows = await _rows(db)
    assert [(r.version, r.status) for r in rows] == [
        (bootstrap.version, "retired"),
        (outcome.version, "current"),
    ]
    assert rows[1].training_size > rows[0].training_size
    assert runtime.model.version == outcome.version
    assert set(outcome.metrics) >= {"bootstrap_validation", "held_out_labels", "evaluation"}
    # Every correction's vector is kept for the next training, under the classifier's
    # embedder name: MiniLM's half for a text with Latin script, e5's for one with Chinese.
    async with db.sessionmaker() as s:
        stored = {
            text: (name, from_bytes(blob))
            for text, name, blob in await s.execute(
                select(Label.text, Label.embedding_model, Label.embedding)
            )
        }
    split = runtime.model.model.config.dense_split
    assert split is not None
    assert {name for name, _ in stored.values()} == {runtime.model.model.embedder_name}
    for text, (_, vector) in stored.items():
        assert vector is not None
        assert vector[:split].any() == (latin_share(text) > 0), text
        assert vector[split:].any() == (latin_share(text) < 1), text


async def test_a_model_from_other_library_versions_is_replaced_by_a_fresh_training(
    db: Any, runtime: Any, caplog: Any
) -> None:
    bootstrap = await runtime.classifier(db)
    old = dataclasses.replace(
        bootstrap.model, versions={**bootstrap.model.versions, "scikit-learn": "0.24.2"}
    )
    path = get_settings().models_dir / "test-old-sklearn"
    if not path.exists():
        save_model(old, path)
    async with unit_of_work(db) as s:
        row = (await s.scalars(select(ModelVersion))).one()
        row.artifact_path, row.version = str(path), "test-old-sklearn"
        row.label_count = 24  # taught: a bootstrap model alone would be replaced (next test)
    runtime.model = None  # another process: nothing loaded yet

    with caplog.at_level(logging.WARNING, logger="models.services.knowledge.lifecycle"):
        loaded = await runtime.classifier(db)

    assert "retraining from scratch" in caplog.text and "scikit-learn" in caplog.text
    rows = await _rows(db)
    assert [(r.status, r.trigger) for r in rows] == [
        ("failed", "bootstrap"),
        ("current", "recovery"),
    ]
    assert loaded.version == rows[1].version != "test-old-sklearn"
    assert "scikit-learn" in (rows[0].comparison or {}).get("load_error", "")


async def test_an_upgrade_with_other_bootstrap_rows_replaces_an_untaught_bootstrap_model(
    client: Any, db: Any, runtime: Any, caplog: Any
) -> None:
    """A release that adds bootstrap rows reaches an installation whose current model is still
    an earlier release's bootstrap model (nothing of the team's in it): the first worker makes
    this release's bootstrap model current, and the lead is not offered the old one back (the
    next worker would replace it at once). A model with the team's corrections stays."""
    shipped = await runtime.classifier(db)
    async with unit_of_work(db) as s:
        row = (await s.scalars(select(ModelVersion))).one()
        row.version = "bootstrap-earlier-release"  # the name identifies other rows
    runtime.model = None  # the new release's worker: nothing loaded yet

    with caplog.at_level(logging.INFO, logger="models.services.knowledge.lifecycle"):
        loaded = await runtime.classifier(db)

    assert loaded.version == shipped.version
    assert "ships other bootstrap rows" in caplog.text
    rows = await _rows(db)
    assert [(r.version, r.status, r.trigger) for r in rows] == [
        ("bootstrap-earlier-release", "retired", "bootstrap"),
        (shipped.version, "current", "bootstrap"),
    ]
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/models")
    assert 'data-testid="version-bootstrap-earlier-release"' in page.text
    assert f"/models/{rows[0].id}/rollback" not in page.text
    cards = {card.split('"', 1)[0]: card for card in page.text.split('data-testid="version-')[1:]}
    why = "这是旧版本系统自带的初始模型，升级后已由当前版本自带的初始模型替代。"
    assert 'data-testid="superseded"' in cards["bootstrap-earlier-release"]
    assert why in cards["bootstrap-earlier-release"]
    assert 'data-testid="superseded"' not in cards[shipped.version]
    refused = await client.post(
        f"/models/{rows[0].id}/rollback", headers=await htmx_headers(client, "/models")
    )
    assert refused.status_code == 409
    assert (
        "这是旧版本系统自带的初始模型，当前版本已用自己的初始模型替代它，无法恢复。" in refused.text
    )
    assert [r.status for r in await _rows(db)] == ["retired", "current"]

    async with unit_of_work(db) as s:  # the earlier one was retrained with corrections
        old, new = (await s.scalars(select(ModelVersion).order_by(ModelVersion.id))).all()
        old.status, old.trigger, old.label_count, old.version = "current", "manual", 24, "taught"
        new.status = "retired"
    runtime.model = None
    assert (await runtime.classifier(db)).version == "taught"
    assert [r.status for r in await _rows(db)] == ["current", "retired"]


async def test_an_upgrade_that_reads_chinese_through_e5_retrains_once_and_says_why(
    client: Any, db: Any
) -> None:
    """An installation whose classifier read every script through MiniLM (the release before
    e5 read Chinese) is upgraded: the first worker of the new release cannot use that model,
    trains one in its place (the same corrections), and the lead's models page says so in
    plain words on the old version."""
    from tests.integration.triage_support import shared_embedder, shared_retrieval_embedder
    from workers.context import TriageRuntime

    settings = get_settings()
    before = TriageRuntime(
        dataclasses.replace(settings, retrieval_model=None), embedder=shared_embedder()
    )
    after = TriageRuntime(
        settings,
        embedder=shared_embedder(),
        retrieval_embedder=shared_retrieval_embedder(settings.retrieval_model),
    )
    try:
        bootstrap = await before.classifier(db)
        assert bootstrap.model.embedder_name == shared_embedder().name
        await _import(db, [(t, c) for c, texts in CONSISTENT.items() for t in texts])
        retrained = await before.retrain(db, trigger="manual")
        assert retrained.promoted and retrained.current is not None
        old = retrained.current

        new = await after.classifier(db)

        assert new.version != old.version
        assert new.model.config.dense_split == 384
        rows = await _rows(db)
        assert [(r.version, r.status) for r in rows] == [
            (bootstrap.version, "retired"),
            (old.version, "failed"),
            (new.version, "current"),
        ]
        assert 0 < rows[2].label_count <= 24, "trained with the team's corrections"
        await sign_in(client, "lead", "kefu-lead")
        # The retired bootstrap was made with MiniLM alone: this release could not load it
        # either, so it offers no roll back, and a forced one is refused (nothing changes).
        page = await client.get("/models")
        assert f"/models/{rows[0].id}/rollback" not in page.text
        headers = await htmx_headers(client, "/models")
        refused = await client.post(f"/models/{rows[0].id}/rollback", headers=headers)
        assert refused.status_code == 409
        assert "该模型版本由其他嵌入模型训练，无法恢复。" in refused.text
        assert [r.status for r in await _rows(db)] == ["retired", "failed", "current"]
        for locale, sentence in (
            ("zh_CN", "已用相同的更正数据重新训练了一个新模型替代它"),
            ("en", "so a new one was trained in its place from the same corrections"),
        ):
            client.cookies.set("kefu_lang", locale)
            page = await client.get("/models")
            card = page.text.split(f'data-testid="version-{old.version}"', 1)[1]
            card = card.split("</article>")[0]
            assert 'data-testid="unloadable"' in card and sentence in card
            fresh = page.text.split(f'data-testid="version-{new.version}"', 1)[1]
            assert 'data-testid="unloadable"' not in fresh.split("</article>")[0]
    finally:
        await before.close()
        await after.close()


async def test_a_lead_rolls_back_to_an_earlier_version(client: Any, db: Any, runtime: Any) -> None:
    bootstrap = await runtime.classifier(db)
    await _import(db, [(t, c) for c, texts in CONSISTENT.items() for t in texts])
    promoted = await runtime.retrain(db)
    assert promoted.promoted
    rows = await _rows(db)

    await sign_in(client, "lead", "kefu-lead")
    page = await client.get("/models")
    assert page.status_code == 200 and promoted.version in page.text
    assert f"/models/{rows[0].id}/rollback" in page.text
    headers = await htmx_headers(client, "/models")
    response = await client.post(f"/models/{rows[0].id}/rollback", headers=headers)
    assert response.status_code == 200 and bootstrap.version in response.text

    assert [r.status for r in await _rows(db)] == ["current", "retired"]
    assert (await runtime.classifier(db)).version == bootstrap.version
    missing = await client.post("/models/999999/rollback", headers=headers)
    assert missing.status_code == 404


async def test_model_page_retrain_button_queues_once_and_polls_while_training(
    client: Any, db: Any, redis: Any, runtime: Any
) -> None:
    await runtime.classifier(db)
    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/models")).status_code == 403
    await sign_in(client, "lead", "kefu-lead")

    headers = await htmx_headers(client, "/models")
    first = await client.post("/models/retrain", headers=headers)
    second = await client.post("/models/retrain", headers=headers)

    assert first.status_code == second.status_code == 200
    assert 'hx-trigger="every 2s"' in first.text and "training-progress" in first.text
    queued = [r for r in await _rows(db) if r.status == "queued"]
    assert len(queued) == 1 and queued[0].trigger == "manual"
    job = Job(f"retrain:{queued[0].id}", redis, _queue_name=get_settings().queue_name)
    assert await job.status() is JobStatus.queued

    await burst(runtime)

    done = await client.get("/models/versions")
    assert 'hx-trigger="every 2s"' not in done.text
    finished = next(r for r in await _rows(db) if r.id == queued[0].id)
    assert finished.status in ("current", "rejected") and finished.progress == 100


async def test_review_queue_lists_most_informative_first_and_a_click_corrects(
    client: Any, db: Any, redis: Any, runtime: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("KEFU_RETRAIN_AFTER_LABELS", "2")
    reset_settings()
    try:
        customer = await make_customer(db, "Carol")
        ids = [
            await make_ticket(db, redis, customer, text)
            for text in (
                "My parcel arrived damaged and I am really upset about it",  # ambiguous
                "请问你们周末营业吗？",
                "我要投诉你们的快递员，态度极差，必须赔偿！",
            )
        ]
        await burst(runtime)
        async with db.sessionmaker() as s:
            confidence = dict(
                (
                    await s.execute(
                        select(Ticket.id, Ticket.type_confidence).where(Ticket.id.in_(ids))
                    )
                ).all()
            )
        await sign_in(client, "agent", "kefu-agent")
        assert (await client.get("/review/")).status_code == 403
        await sign_in(client, "lead", "kefu-lead")

        page = await client.get("/review/")
        headers = await htmx_headers(client, "/review/")

        assert page.status_code == 200
        order = [int(i) for i in re.findall(r'id="review-(\d+)"', page.text)]
        assert sorted(order) == sorted(ids)
        assert order[0] == min(ids, key=lambda i: (confidence[i], -i)), "least confident first"
        assert 'data-testid="teach-step"' in page.text, "few labels yet: the teach step shows"
        for ticket_id, new_type in ((ids[0], "after_sales"), (ids[1], "consultation")):
            async with db.sessionmaker() as s:
                version = (await s.get(Ticket, ticket_id)).version  # type: ignore[union-attr]
            done = await client.post(
                f"/review/{ticket_id}/type",
                data={"request_type": new_type, "version": str(version)},
                headers=headers,
            )
            assert done.status_code == 200 and f'id="review-{ticket_id}"' in done.text
        async with db.sessionmaker() as s:
            corrected = await s.get(Ticket, ids[0])
            labels = (await s.scalars(select(Label).order_by(Label.id))).all()
            queued = (
                await s.scalars(select(ModelVersion).where(ModelVersion.status == "queued"))
            ).all()
        assert corrected is not None and corrected.request_type is RequestType.AFTER_SALES
        assert corrected.type_source is TypeSource.LEAD
        assert [(lb.ticket_id, lb.category.value, lb.source) for lb in labels] == [
            (ids[0], "after_sales", "lead"),
            (ids[1], "consultation", "lead"),
        ]
        assert len(queued) == 1 and queued[0].trigger == "labels", "retraining after 2 labels"
        stale = await client.post(
            f"/review/{ids[2]}/type",
            data={"request_type": "problem", "version": "1"},
            headers=headers,
        )
        assert stale.status_code == 409
        bad = await client.post(
            f"/review/{ids[2]}/type",
            data={"request_type": "nonsense", "version": "1"},
            headers=headers,
        )
        assert bad.status_code == 422

        await burst(runtime)  # the queued retraining runs on the worker

        async with db.sessionmaker() as s:
            row = await s.get(ModelVersion, queued[0].id)
            assert row is not None and row.status in ("current", "rejected")
            assert row.metrics.get("labels_total") == 2
            remaining = int(
                await s.scalar(
                    select(func.count())
                    .select_from(ModelVersion)
                    .where(ModelVersion.status == "queued")
                )
                or 0
            )
        assert remaining == 0
    finally:
        monkeypatch.delenv("KEFU_RETRAIN_AFTER_LABELS")
        reset_settings()


async def test_a_started_worker_readies_the_classifier_before_the_first_inquiry(
    db: Any, runtime: Any
) -> None:
    """``kefu worker`` trains (or loads) the classifier as it starts, so the first inquiry of a
    fresh installation does not wait the minute the bootstrap model takes."""
    import asyncio
    import time

    from arq.worker import func

    from workers.main import supervise

    async def idle(ctx: dict[str, Any]) -> None:  # arq wants one function; none is queued
        return None

    worker = asyncio.create_task(
        supervise(
            warm=True, functions=[func(idle, name="idle")], cron_jobs=[], ctx={"triage": runtime}
        )
    )
    try:
        deadline = time.monotonic() + 600
        while runtime.model is None:
            assert not worker.done(), "the worker exited"
            assert time.monotonic() < deadline, "the classifier never became ready"
            await asyncio.sleep(0.1)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    async with db.sessionmaker() as s:
        current = await lifecycle.current_version(s)
    assert current == runtime.model.version
    assert current.startswith("bootstrap")
