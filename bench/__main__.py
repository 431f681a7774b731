"""``python -m bench [NAME ...]``: run the benchmarks, print and save bench/results.json.

Each module ``bench/<name>_bench.py`` defines ``async def run() -> dict[str, Any]`` returning
JSON-ready figures (latencies in milliseconds as p50/p95, throughputs per second). Benchmarks
build their own data in a scratch database under var/bench/ and never touch the demo data.

``python -m bench http [OPTIONS]`` runs the HTTP benchmark alone with its options (``--help``);
its figures go under the top-level "http" key of results.json.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        # Other work on the machine skews the figures; the load average says how much there was.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(names: list[str]) -> int:
    """Run the named benchmarks (all without names). A run of some benchmarks updates their
    entries in an existing results.json and keeps the others; each entry says when it ran."""
    if names[:1] == ["http"]:
        from bench import http_bench

        return http_bench.main(names[1:])
    modules = sorted(p.stem for p in HERE.glob("*_bench.py"))
    if names:
        modules = [m for m in modules if m.removesuffix("_bench") in names or m in names]
    out = HERE / "results.json"
    results: dict[str, Any] = {
        "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmarks": {},
    }
    if names and out.exists():
        results = json.loads(out.read_text(encoding="utf-8"))
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        measured_at = datetime.now(UTC).isoformat(timespec="seconds")
        load = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        figures = asyncio.run(module.run())
        figures["wall_seconds"] = round(time.perf_counter() - started, 1)
        figures["measured_at"] = measured_at
        figures["load_average_1m_at_start"] = load
        if name == "http_bench":  # the real server over HTTP: a section of its own
            results["http"] = figures
        else:
            results["benchmarks"][name.removesuffix("_bench")] = figures
        print(json.dumps({name: figures}, ensure_ascii=False), flush=True)
    if not names:
        results["finished_load_average_1m"] = round(os.getloadavg()[0], 2)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
