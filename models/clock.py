"""The one clock of the product: every "now" in models/, web/, workers/ and the CLI comes from
:func:`utcnow`.

In production it is the system clock. For tests it can start at a chosen instant and run on
from there (an offset clock, so timeouts and waits still work), set for a whole process tree
through the environment:

* ``KEFU_TEST_NOW`` — the instant the clock shows at the anchor, ISO 8601 with an offset
  (``2026-12-31T15:59:59Z``);
* ``KEFU_TEST_NOW_ANCHOR`` — the system time (POSIX seconds) at which it shows that instant.
  Without it the clock starts at ``KEFU_TEST_NOW`` when this process first reads it; the test
  run sets it so the web server, worker and CLI it starts keep the same time as the tests.

Tests may also move or freeze the clock of their own process with :func:`set_clock`.
Monotonic timers (``time.monotonic``, ``perf_counter``) and rate-limit windows are not dates
and do not use this clock. Timestamps the operating system writes (file modification times)
are translated into the clock's frame with :func:`from_system`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

NOW_ENV = "KEFU_TEST_NOW"
ANCHOR_ENV = "KEFU_TEST_NOW_ANCHOR"
_ZERO = timedelta(0)


@dataclass(frozen=True)
class _State:
    offset: timedelta = _ZERO  # clock minus system time
    frozen: datetime | None = None  # a stopped clock shows this instant


_state: _State | None = None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` allowed), as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{NOW_ENV}: not an ISO 8601 instant: {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{NOW_ENV} needs a UTC offset (e.g. 2026-12-31T15:59:59Z): {text!r}")
    return moment.astimezone(UTC)


def _from_environment() -> _State:
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return _State()
    start = parse_instant(text)
    anchor_text = os.environ.get(ANCHOR_ENV, "").strip()
    anchor = float(anchor_text) if anchor_text else time.time()
    return _State(offset=start - datetime.fromtimestamp(anchor, UTC))


def _current() -> _State:
    global _state
    if _state is None:
        _state = _from_environment()
    return _state


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    state = _current()
    if state.frozen is not None:
        return state.frozen
    return datetime.now(UTC) + state.offset


def from_system(posix: float) -> datetime:
    """A timestamp of the system clock (e.g. a file's mtime) as an instant of this clock."""
    return datetime.fromtimestamp(posix, UTC) + _current().offset


def set_clock(at: datetime | None = None, *, frozen: bool = False) -> None:
    """Make this process's clock show ``at`` now, running on (or stopped if ``frozen``).

    ``at=None`` goes back to what the environment says (the system clock if nothing).
    """
    global _state
    if at is None:
        _state = _from_environment()
        return
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the clock is set to aware instants only")
    at = at.astimezone(UTC)
    offset = at - datetime.now(UTC)
    _state = _State(offset=offset, frozen=at if frozen else None)
