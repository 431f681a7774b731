"""Benchmarks: each ``bench/<name>_bench.py`` has ``async def run() -> dict`` of figures."""
