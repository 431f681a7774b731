"""The one clock: a start instant from the environment, shared by processes through the
anchor, running on; moved or frozen by tests; file times translated into its frame."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from models import clock
from models.base import utcnow

START = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change the clock's environment for one test; the run's clock is back afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    clock.set_clock(None)


def test_the_environment_starts_the_clock_and_it_runs_on(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv(clock.NOW_ENV, "2026-12-31T23:59:59+08:00")
    environment.setenv(clock.ANCHOR_ENV, repr(time.time() - 5))  # shown 5 s ago
    clock.set_clock(None)
    first = utcnow()
    assert START + timedelta(seconds=5) <= first < START + timedelta(minutes=1)
    second = utcnow()
    assert second >= first and second.tzinfo is not None


def test_child_processes_keep_the_same_time(environment: pytest.MonkeyPatch) -> None:
    environment.setenv(clock.NOW_ENV, START.isoformat())
    environment.setenv(clock.ANCHOR_ENV, repr(time.time()))
    clock.set_clock(None)
    before = utcnow()
    child = subprocess.run(
        [sys.executable, "-c", "from models.base import utcnow; print(utcnow().isoformat())"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    seen = datetime.fromisoformat(child.stdout.strip())
    assert before <= seen <= utcnow()


def test_without_the_environment_it_is_the_system_clock(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.delenv(clock.NOW_ENV, raising=False)
    environment.delenv(clock.ANCHOR_ENV, raising=False)
    clock.set_clock(None)
    before = datetime.now(UTC)
    assert before <= utcnow() <= datetime.now(UTC)


@pytest.mark.parametrize("text", ["2026-12-31T15:59:59", "tomorrow"])
def test_an_instant_without_offset_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=clock.NOW_ENV):
        clock.parse_instant(text)


def test_tests_move_or_freeze_the_clock(clock: object) -> None:
    from models.clock import set_clock

    set_clock(START, frozen=True)
    assert utcnow() == START == utcnow()
    set_clock(START)
    assert START <= utcnow() < START + timedelta(minutes=1)
    with pytest.raises(ValueError):
        set_clock(datetime(2026, 1, 1))  # naive


def test_file_times_are_read_in_the_clock_frame(clock: object, tmp_path: object) -> None:
    from pathlib import Path

    from models.clock import from_system, set_clock

    set_clock(START)
    path = Path(str(tmp_path)) / "blob"
    path.write_bytes(b"x")
    written = from_system(path.stat().st_mtime)
    assert abs(written - utcnow()) < timedelta(minutes=1)
    two_hours_ago = time.time() - 7200
    assert abs(from_system(two_hours_ago) - (utcnow() - timedelta(hours=2))) < timedelta(minutes=1)
