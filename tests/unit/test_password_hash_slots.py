"""Password hashing runs off the event loop, never more than ``HASH_SLOTS`` hashes at once."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from models.services.admin import users


class CountingHasher:
    """Stands in for argon2's hasher: records how many verifications run at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[int] = set()

    def verify(self, stored: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.get_ident())
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return True


async def test_concurrent_verifications_share_the_hash_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(users, "_hasher", lambda: hasher)
    user = SimpleNamespace(password_hash="stored")
    results = await asyncio.gather(
        *(users.password_matches(user, "guess") for _ in range(3 * users.HASH_SLOTS + 2))  # type: ignore[arg-type]
    )
    assert all(results)
    assert hasher.most == users.HASH_SLOTS
    assert threading.get_ident() not in hasher.threads, "hashing ran on the event loop's thread"
