"""The report datasets (tests/integration/reports_data.py and the modules' own) are written
in Asia/Shanghai local time, so these tests run with that team timezone whatever the run's
KEFU_TIMEZONE is (``make test-clock`` runs the suite in DST zones too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.settings import reset_settings


@pytest.fixture(autouse=True)
def shanghai_team(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_TIMEZONE", "Asia/Shanghai")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()
