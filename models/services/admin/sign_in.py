"""Signing staff in: throttling of failed attempts, the password check, a fresh session.

Failed attempts are counted in the database (``sign_in_failures``) per account name and per
client address, over a sliding window, so the limit holds across every web process and
while Redis is away. Account names are counted whether or not the account exists, and the
refusal names neither, so the answer never tells whether an account exists. A refused
attempt is not counted and costs no password hash: the limit caps the guesses, and their
CPU cost, at ``sign_in_max_failures`` per account and ``sign_in_max_failures_ip`` per
address in each window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.services.admin import sessions, users
from models.services.common.errors import N_, RateLimited
from models.settings import get_settings
from models.sign_in_failure import SignInFailure
from models.user import User

ACCOUNT = "account"
IP = "ip"


class SignInThrottled(RateLimited):
    """Too many failed attempts for this account name or from this address."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            N_("Too many failed sign-in attempts. Please try again in %(minutes)s minutes."),
            minutes=max(1, math.ceil(seconds / 60)),
        )
        self.retry_after = max(1, seconds)


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str


def _account_key(username: str) -> str:
    return username.strip().lower()[:128]


async def _wait(session: AsyncSession, scope: str, key: str, limit: int, now: datetime) -> float:
    """Seconds until ``key`` is below ``limit`` failures in the window again (0: it is)."""
    window = timedelta(minutes=get_settings().sign_in_window_minutes)
    recent = (
        await session.scalars(
            select(SignInFailure.failed_at)
            .where(
                SignInFailure.scope == scope,
                SignInFailure.key == key,
                SignInFailure.failed_at > now - window,
            )
            .order_by(SignInFailure.failed_at.desc())
            .limit(limit)
        )
    ).all()
    if len(recent) < limit:
        return 0.0
    return max((recent[-1] + window - now).total_seconds(), 1.0)


async def seconds_to_wait(
    session: AsyncSession, username: str, client_ip: str, *, now: datetime | None = None
) -> int:
    """0 while a sign-in may be tried for this name from this address; else the wait."""
    now = now or utcnow()
    settings = get_settings()
    waits = [
        await _wait(session, ACCOUNT, _account_key(username), settings.sign_in_max_failures, now),
        await _wait(session, IP, client_ip[:128], settings.sign_in_max_failures_ip, now),
    ]
    return math.ceil(max(waits))


async def record_failure(
    session: AsyncSession, username: str, client_ip: str, *, now: datetime | None = None
) -> None:
    now = now or utcnow()
    window = timedelta(minutes=get_settings().sign_in_window_minutes)
    await session.execute(delete(SignInFailure).where(SignInFailure.failed_at < now - window))
    session.add_all(
        [
            SignInFailure(scope=ACCOUNT, key=_account_key(username), failed_at=now),
            SignInFailure(scope=IP, key=client_ip[:128], failed_at=now),
        ]
    )
    await session.flush()


async def sign_in(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    client_ip: str,
    previous_token: str | None = None,
) -> SignedIn | None:
    """A new session for the user these credentials name; None if they are wrong.

    Raises :class:`SignInThrottled` (429) while the name or the address has had too many
    failures, before any password is checked — the right password is refused too.
    """
    wait = await seconds_to_wait(session, username, client_ip)
    if wait:
        raise SignInThrottled(wait)
    user = await users.authenticate(session, username, password)
    if user is None:
        await record_failure(session, username, client_ip)
        return None
    await session.execute(
        delete(SignInFailure).where(
            SignInFailure.scope == ACCOUNT, SignInFailure.key == _account_key(username)
        )
    )
    token = await sessions.start(session, user, previous_token=previous_token)
    return SignedIn(user, token)
