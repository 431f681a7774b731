"""``python -m bench http`` in smoke mode: a small demo on the run's database, the real
``kefu web`` (one worker), the board, a move and the matrix after a change for a second each.
The harness must produce its figures with every answer a success (a refused move or a failed
sign-in is an error)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench import http_bench


async def test_http_bench_smoke(
    db: Any, redis: Any, database_url: str, backend: str, tmp_path: Path
) -> None:
    options, _ = http_bench.parse(["--only", "board,move,matrix_fresh", "--duration", "1"])
    if backend == "sqlite":
        # Its own file: the harness ANALYZEs what it fills, and statistics left in the run's
        # database would change the plans the tests after this one see.
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    options = http_bench.Options(
        tickets=200,
        database_url=database_url,
        redis_url=os.environ["KEFU_REDIS_URL"],  # the run's own index, flushed after the test
        duration=options.duration,
        samples=3,
        # One server process: it starts in half the time of two on a busy CI machine; the
        # harness is the same (`python -m bench http` runs --workers 2 unless told).
        workers=1,
        only=options.only,
    )
    assert options.only == ("board", "move", "matrix_fresh")

    figures = await http_bench.measure(options)

    assert figures["tickets"] == 200
    assert figures["database"] == backend
    assert figures["errors"] == 0, figures["endpoints"]
    assert set(figures["endpoints"]) == {"board", "move", "matrix_fresh"}
    for name, endpoint in figures["endpoints"].items():
        assert endpoint["errors"] == 0, (name, endpoint)
        assert endpoint["c1"]["n"] == 3
        assert endpoint["c1"]["p50_ms"] > 0
        assert endpoint["c8"]["requests"] > 0
        assert endpoint["c8"]["rps"] > 0
        # what each request cost the server and the client in CPU (the throughput's bound)
        assert endpoint["c8"]["server_cpu_ms_per_request"] > 0
        assert endpoint["c8"]["client_cpu_ms_per_request"] > 0
    # Each move took another pending card with its version: every one answered 200.
    move = figures["endpoints"]["move"]
    assert list(move["statuses"]) == ["200"]
    assert 3 < move["statuses"]["200"] <= move["cards_available"]
    assert figures["server_workers"] == 1
    assert figures["server"]["processes"] >= 1
    assert figures["server"]["rss_mib"] > 0
    assert len(figures["load_average_at_start"]) == 3

    # Merged into results.json under "http" (SQLite) or "http_postgresql", other keys kept;
    # the table names every endpoint.
    results = tmp_path / "results.json"
    other = "http_postgresql" if backend == "sqlite" else "http"
    results.write_text(
        json.dumps({"benchmarks": {"board": {"n": 1}}, other: {"kept": 1}}), encoding="utf-8"
    )
    http_bench.save(figures, results)
    saved = json.loads(results.read_text(encoding="utf-8"))
    assert saved["benchmarks"] == {"board": {"n": 1}} and saved[other] == {"kept": 1}
    key = "http" if backend == "sqlite" else "http_postgresql"
    assert saved[key]["endpoints"]["move"]["errors"] == 0
    # A million-ticket run goes beside the 100k one, not over it.
    http_bench.save({**figures, "tickets": 1_000_000}, results)
    saved = json.loads(results.read_text(encoding="utf-8"))
    scaled = "http_1m" if backend == "sqlite" else "http_1m_postgresql"
    assert saved[scaled]["tickets"] == 1_000_000 and saved[key]["tickets"] == figures["tickets"]
    table = http_bench.table(figures)
    assert "board" in table and "move" in table and "errors: 0" in table
