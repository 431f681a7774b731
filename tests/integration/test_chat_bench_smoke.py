"""``python -m bench chat`` in smoke mode: three visitors, one round each, through the real
``kefu web`` (one worker). Every message must reach the other side's live stream once, in
time, and every transcript read back must hold each message once, in order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench import chat_bench


async def test_chat_bench_smoke(
    db: Any, redis: Any, database_url: str, backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        # A file of its own, built by the migrations as the benchmark's scratch database is.
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'chat-bench.db'}"

    figures = await chat_bench.measure(
        3,
        1,
        database_url=database_url,
        redis_url=os.environ["KEFU_REDIS_URL"],  # the run's own index, flushed after the test
        workers=1,
        pause=(0.05, 0.2),
        ramp=0.3,
    )

    assert figures["database"] == backend
    assert figures["sessions"] == 3 and figures["rounds"] == 1
    # The first message and one round each way: 3 messages per session.
    assert figures["messages_expected"] == 9
    assert figures["messages_delivered"] == 9, figures
    assert figures["lost"] == 0
    assert figures["doubled"] == 0
    assert figures["errors"] == 0, figures.get("error_samples")
    assert figures["server_log"]["errors"] == 0, figures["server_log"]
    assert figures["server_log"]["answers_5xx"] == 0
    assert figures["transcripts"] == {"checked": 3, "wrong": 0}
    delivery = figures["delivery"]
    for direction in ("open_to_agent", "to_agent", "to_visitor"):
        assert delivery[direction]["n"] == 3, (direction, delivery)
        assert 0 < delivery[direction]["p50_ms"] <= delivery[direction]["max_ms"]
    assert figures["post"]["visitor"]["n"] == figures["post"]["agent"]["n"] == 3
    # Eight agents' streams and one per conversation, none dropped on its own.
    assert figures["streams_open"] == len(chat_bench.STAFF) + 3
    assert figures["streams_dropped"] == 0
    assert figures["server"]["processes"] >= 1
    assert 0 < figures["server"]["rss_mib_before"] <= figures["server"]["rss_mib_peak"]
    assert len(figures["load_average_at_start"]) == 3
