"""The command-line contract: ``kefu triage train|evaluate`` and ``kefu kb import|evaluate``.

Each command runs as a real ``kefu`` process. On the SQLite run it gets a fresh database
file of its own, right after ``kefu db upgrade``; on the PostgreSQL run it uses the run's
PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from models.article import Article
from models.db import Database
from models.label import Label
from models.model_version import ModelVersion
from models.settings import get_settings

TRAIN = {
    "consultation": [
        "请问你们的会员年费是多少？",
        "Do you offer student discounts on the annual plan?",
        "请问发票可以开专票吗",
        "What are your opening hours on weekends?",
        "请问这个课程适合零基础吗",
    ],
    "problem": [
        "登录一直提示密码错误，但密码是对的",
        "The app crashes every time I open the camera",
        "付款页面一直转圈，无法完成支付",
        "Two-factor codes never arrive on my phone",
        "视频播放到一半就卡住不动",
    ],
    "complaint": [
        "你们客服态度太恶劣了，我要投诉并要求赔偿",
        "Your agent hung up on me, I demand an apology",
        "再不解决我就去12315投诉你们",
        "I am filing a formal complaint about your staff",
        "承诺的退款一个月了还没到，我要投诉",
    ],
    "after_sales": [
        "买的吹风机用了三天就坏了，申请换货",
        "I'd like to return the jacket, it's too small",
        "洗衣机漏水，需要保修维修",
        "Please send a replacement charger under warranty",
        "鞋子尺码不对，想换大一号",
    ],
}
TEST = [
    ("请问有没有学生优惠？", "consultation"),
    ("How much is the family plan?", "consultation"),
    ("网页一直打不开，显示502错误", "problem"),
    ("I can't log in since the update", "problem"),
    ("你们的服务太差了，我要曝光", "complaint"),
    ("Unacceptable! I want a manager now", "complaint"),
    ("耳机坏了，申请保修", "after_sales"),
    ("I want to return these shoes", "after_sales"),
]
ARTICLES = [
    {
        "id": "a-refund",
        "title": "退款多久到账",
        "body": "退款审核通过后原路退回，一般1-7个工作日到账。",
    },
    {
        "id": "a-password",
        "title": "How to reset your password",
        "body": "Click **Forgot password** on the sign-in page and follow the link we email you.",
    },
    {
        "id": "a-invoice",
        "title": "如何开具发票",
        "body": "订单完成后在个人中心申请电子发票，支持专用发票。",
    },
]
QUERIES = [
    {"query": "退款什么时候能到账", "relevant_ids": ["a-refund"]},
    {"query": "I forgot my password", "relevant_ids": ["a-password"]},
    {"query": "怎么开发票", "relevant_ids": ["a-invoice"]},
]


@pytest.fixture
async def cli_db(backend: str, db: Any, tmp_path: Path) -> Any:
    """The database URL the commands use, and a Database to inspect it."""
    if backend == "postgresql":
        url = get_settings().database_url
        yield url, db
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    upgraded = await kefu(url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    fresh = Database(url)
    yield url, fresh
    await fresh.dispose()


async def kefu(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``kefu ARGS`` as its own process against ``url`` (same data directory)."""
    env = {**os.environ, "KEFU_DATABASE_URL": url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=str(Path(__file__).parents[3]),
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_triage_train_then_evaluate(cli_db: Any, tmp_path: Path) -> None:
    url, db = cli_db
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"text": t, "category": c} for c, ts in TRAIN.items() for t in ts],
    )
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": t, "category": c} for t, c in TEST])

    trained = await kefu(url, "triage", "train", str(train))

    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "macro-F1" in trained.stdout and (
        "promoted" in trained.stdout or "rejected" in trained.stdout
    )
    assert await count(db, Label) == 20
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(
                select(ModelVersion.trigger, ModelVersion.status).order_by(ModelVersion.id)
            )
        ).all()
    assert [r.trigger for r in rows] == ["bootstrap", "import"]
    assert sum(r.status == "current" for r in rows) == 1

    evaluated = await kefu(url, "triage", "evaluate", str(test), "--json")

    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(report) == {"n", "accuracy", "macro_f1", "per_class", "confusion"}
    assert report["n"] == len(TEST) and 0 <= report["accuracy"] <= 1
    assert set(report["per_class"]) == {"consultation", "problem", "complaint", "after_sales"}
    for scores in report["per_class"].values():
        assert set(scores) == {"precision", "recall", "f1", "support"}
    assert len(report["confusion"]) == 4 and sum(map(sum, report["confusion"])) == len(TEST)
    assert report["accuracy"] >= 0.75, "clear-cut messages of every type"
    assert await count(db, Label) == 20 and await count(db, ModelVersion) == 2, "stores nothing"


async def test_triage_commands_accept_csv_and_refuse_bad_files(cli_db: Any, tmp_path: Path) -> None:
    url, db = cli_db
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "hello", "category": "praise"}])
    refused = await kefu(url, "triage", "evaluate", str(bad), "--json")
    assert refused.returncode != 0 and "bad.jsonl:1" in refused.stderr
    assert "praise" in refused.stderr
    csv_file = tmp_path / "test.csv"
    csv_file.write_text("text,category\n" + "".join(f'"{t}",{c}\n' for t, c in TEST))

    evaluated = await kefu(url, "triage", "evaluate", str(csv_file), "--json")

    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout.strip().splitlines()[-1])["n"] == len(TEST)
    assert await count(db, Label) == 0


async def test_kb_import_then_evaluate(cli_db: Any, tmp_path: Path) -> None:
    url, db = cli_db
    source = write_jsonl(tmp_path / "kb.jsonl", ARTICLES)
    queries = write_jsonl(tmp_path / "queries.jsonl", QUERIES)
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "md-shipping.md").write_text(
        "# Shipping times\n\nStandard delivery takes 3-5 business days; express is available.\n"
    )
    (folder / "md-warranty.md").write_text("# 保修政策\n\n整机保修一年，主要部件保修三年。\n")

    imported = await kefu(url, "kb", "import", str(source))
    again = await kefu(url, "kb", "import", str(source))
    markdown = await kefu(url, "kb", "import", str(folder))

    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "3 created, 0 updated, 0 unchanged; 3 embedded" in imported.stdout
    assert "0 created, 0 updated, 3 unchanged; 0 embedded" in again.stdout
    assert "2 created" in markdown.stdout
    async with db.sessionmaker() as s:
        rows = (
            await s.execute(
                select(
                    Article.external_id,
                    Article.title,
                    Article.locale,
                    Article.status,
                    Article.embedding_model,
                )
            )
        ).all()
    by_id = {r.external_id: r for r in rows}
    assert set(by_id) == {"a-refund", "a-password", "a-invoice", "md-shipping", "md-warranty"}
    assert by_id["md-warranty"].title == "保修政策" and by_id["md-warranty"].locale == "zh_CN"
    assert by_id["a-password"].locale == "en"
    assert all(r.status == "published" and r.embedding_model for r in rows)

    evaluated = await kefu(url, "kb", "evaluate", str(queries), "--json")

    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    metrics = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(metrics) == {"n", "recall_at_1", "recall_at_5", "mrr_at_10", "by_method"}
    assert metrics["n"] == len(QUERIES) and metrics["recall_at_5"] == 1.0
    assert 0 < metrics["mrr_at_10"] <= 1 and metrics["recall_at_1"] <= metrics["recall_at_5"]
    by_method = metrics["by_method"]
    assert set(by_method) == {"bm25", "dense", "fusion"}
    assert by_method["fusion"] == {k: v for k, v in metrics.items() if k != "by_method"}
    for figures in by_method.values():
        assert set(figures) == {"n", "recall_at_1", "recall_at_5", "mrr_at_10"}
        assert figures["n"] == len(QUERIES)
    # Every query shares words with its answer: BM25 alone finds each within five.
    assert by_method["bm25"]["recall_at_5"] == 1.0
    # The default embedder ranks every article for every query: the English one is found.
    assert 0 < by_method["dense"]["recall_at_5"] <= 1

    text = await kefu(url, "kb", "evaluate", str(queries))

    assert text.returncode == 0, text.stderr[-2000:]
    lines = text.stdout.strip().splitlines()
    assert lines[0] == f"{len(QUERIES)} queries"
    assert [line.split()[0] for line in lines[1:]] == ["BM25", "dense", "fusion"]


async def test_simulate_review_curve_starts_at_the_bootstrap_model(
    cli_db: Any, tmp_path: Path
) -> None:
    url, db = cli_db
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [{"text": t, "category": c} for c, ts in TRAIN.items() for t in ts],
    )
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": t, "category": c} for t, c in TEST])
    evaluated = await kefu(url, "triage", "evaluate", str(test), "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    bootstrap = json.loads(evaluated.stdout.strip().splitlines()[-1])

    simulated = await kefu(
        url, "triage", "simulate-review", str(pool), "--test", str(test),
        "--budget", "8", "--step", "4", "--json",
    )  # fmt: skip

    assert simulated.returncode == 0, simulated.stderr[-2000:]
    curve = json.loads(simulated.stdout.strip().splitlines()[-1])["curve"]
    assert [p["labels"] for p in curve] == [0, 4, 8], "budget / step + 1 points"
    assert curve[0] == {
        "labels": 0,
        "macro_f1": bootstrap["macro_f1"],
        "accuracy": bootstrap["accuracy"],
    }
    assert all(0 <= p["macro_f1"] <= 1 and 0 <= p["accuracy"] <= 1 for p in curve)
    assert "labels: macro-F1" in simulated.stderr, "progress goes to stderr"
    assert await count(db, Label) == 0 and await count(db, ModelVersion) == 1, "stores nothing"
