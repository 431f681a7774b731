"""The problem summary, KPI dashboard and exports at 100,000 tickets.

``python -m bench report`` fills a scratch database with the demo history
(``KEFU_BENCH_TICKETS``, default 100,000 tickets over 120 days), then times, each in a fresh
session:

* the problem summary (all figures, weekly trend, top problems) for the last full month, the
  last 90 days and the whole year — p50/p95 over several runs;
* the KPI dashboard comparing the last 90 days with the 90 days before;
* the tickets export of every ticket as CSV and XLSX: first byte, total, rows per second and
  peak Python memory (tracemalloc), which shows the rows are streamed, not held.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

import models
from bench.common import percentiles, scratch_database_url
from models.base import utcnow
from models.db import Database, unit_of_work
from models.services.demo import seed
from models.services.reports import exports, kpi
from models.services.reports import summary as reports
from models.settings import ensure_runtime_files
from models.ticket import Ticket

RUNS = int(os.environ.get("KEFU_BENCH_RUNS", "7"))


def _periods(tz: str) -> dict[str, reports.Period]:
    today = reports.today_local()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return {
        "month": reports.Period("month", last_month_end.replace(day=1), last_month_end, tz),
        "last_90_days": reports.Period("custom", today - timedelta(days=89), today, tz),
        "year": reports.Period("custom", today - timedelta(days=364), today, tz),
    }


async def _timed(runs: int, call: Any) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


async def _export(db: Database, fmt: str, total: int) -> dict[str, Any]:
    """Every ticket exported: size, first byte, total time, rows/s; then again under
    tracemalloc for the peak Python memory (flat when the rows are streamed)."""
    loc = exports.Localizer(gettext=lambda s: s, label=lambda v: str(getattr(v, "value", v)))
    sheets = exports.sheets_for("tickets", exports.ExportFilters(), loc, english=True)
    size, first = 0, None
    started = time.perf_counter()
    async for chunk in exports.stream(db, fmt, sheets, loc):
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    async for _ in exports.stream(db, fmt, sheets, loc):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": total,
        "mib": round(size / 2**20, 1),
        "first_byte_s": round(first or 0.0, 3),
        "seconds": round(seconds, 2),
        "rows_per_s": round(total / seconds),
        "peak_python_mib": round(peak / 2**20, 1),
    }


async def run() -> dict[str, Any]:
    settings = ensure_runtime_files()
    wanted = int(os.environ.get("KEFU_BENCH_TICKETS", "100000"))
    db = Database(scratch_database_url("report"))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(models.Base.metadata.create_all)
        async with db.sessionmaker() as s:
            have = int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)
        fill_seconds = None
        if have < wanted:
            started = time.perf_counter()
            async with unit_of_work(db) as s:
                await seed.fill(s, tickets=wanted - have)
            fill_seconds = round(time.perf_counter() - started, 1)
        async with db.sessionmaker() as s:
            total = int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)

        figures: dict[str, Any] = {
            "tickets": total,
            "backend": db.dialect,
            "fill_seconds": fill_seconds,
            "runs": RUNS,
        }
        periods = _periods(settings.timezone)
        for name, period in periods.items():

            async def summary(period: reports.Period = period) -> None:
                async with db.sessionmaker() as s:
                    await reports.problem_summary(s, period)

            async with db.sessionmaker() as s:
                figures[f"tickets_in_{name}"] = (await reports.period_figures(s, period)).count
            figures[f"summary_{name}"] = await _timed(RUNS, summary)

        recent = periods["last_90_days"]

        async def dashboard() -> None:
            async with db.sessionmaker() as s:
                await kpi.dashboard(s, recent, recent.previous(), now=utcnow())

        figures["kpi_dashboard_90_days"] = await _timed(RUNS, dashboard)

        for fmt in exports.FORMATS:
            figures[f"export_{fmt}"] = await _export(db, fmt, total)
        return figures
    finally:
        await db.dispose()
