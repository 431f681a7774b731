"""Reading a requested deadline (``datetime-local`` text) in the team's timezone, across the
DST changes of a zone that has them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from models.services.common.errors import ValidationFailed
from models.services.escalation import extensions
from models.settings import reset_settings


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_TIMEZONE", "Europe/Berlin")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


@pytest.mark.usefixtures("berlin")
def test_a_minute_skipped_when_the_clocks_go_forward_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        extensions.parse_local("2026-03-29T02:30", "requested_due")
    assert "requested_due" in refused.value.fields
    # The minutes either side exist and read back as typed.
    for text, instant in (
        ("2026-03-29T01:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        ("2026-03-29T03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ):
        moment = extensions.parse_local(text, "requested_due")
        assert moment == instant
        assert extensions.local_input(moment) == text


@pytest.mark.usefixtures("berlin")
def test_a_minute_repeated_when_the_clocks_go_back_means_its_first_occurrence() -> None:
    moment = extensions.parse_local("2026-10-25T02:30", "requested_due")
    assert moment == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 summer time
    assert extensions.local_input(moment) == "2026-10-25T02:30"
