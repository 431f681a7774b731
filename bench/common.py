"""Helpers shared by the benchmarks: a scratch database and percentile figures."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from models.settings import REPO_ROOT

BENCH_DIR = REPO_ROOT / "var" / "bench"


def scratch_database_url(name: str) -> str:
    """A fresh SQLite file per benchmark, or KEFU_BENCH_DATABASE_URL when set (PostgreSQL)."""
    url = os.environ.get("KEFU_BENCH_DATABASE_URL")
    if url:
        return url
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path: Path = BENCH_DIR / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"n": 0}
    q = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else [ordered[0]] * 99
    )
    return {
        "n": len(ordered),
        "p50_ms": round(q[49], 2),
        "p95_ms": round(q[94], 2),
        "max_ms": round(ordered[-1], 2),
    }
