"""Signing staff in: throttling of failed attempts, the password check, a fresh session.

Failed attempts are counted in the database (``sign_in_failures``) per account name and per
client address, over a sliding window, so the limit holds across every web process and
while Redis is away. Account names are counted whether or not the account exists, and the
refusal names neither, so the answer never tells whether an account exists. A refused
attempt is not counted and costs no password hash: the limit caps the guesses, and their
CPU cost, at ``sign_in_max_failures`` per account and ``sign_in_max_failures_ip`` per
address in each window.

With two-factor sign-in the password step leaves a pending sign-in (see
:mod:`models.services.admin.sessions`), and each wrong code counts as a failure too, for
the account and the address, besides ending the pending sign-in after
``twofactor.MAX_ATTEMPTS`` wrong codes; an account's failures are only forgotten once the
whole sign-in succeeded, so knowing the password buys no extra guesses at the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.services.admin import sessions, twofactor, users
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
    """A right password: a full session, or (``pending_2fa``) one waiting for the code."""

    user: User
    token: str
    pending_2fa: bool = False


@dataclass(frozen=True)
class CodeStep:
    """The outcome of a code: signed in, wrong (try again), or back to the password."""

    signed_in: SignedIn | None = None
    next_path: str | None = None
    restart: bool = False


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


async def _forget_failures(session: AsyncSession, username: str) -> None:
    await session.execute(
        delete(SignInFailure).where(
            SignInFailure.scope == ACCOUNT, SignInFailure.key == _account_key(username)
        )
    )


async def sign_in(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    client_ip: str,
    previous_token: str | None = None,
    next_path: str = "/board",
) -> SignedIn | None:
    """A new session for the user these credentials name; None if they are wrong. For a
    user with two-factor sign-in the session is pending until :func:`verify_code`.

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
    if user.totp_enabled:
        token = await sessions.start_pending(
            session, user, next_path=next_path, previous_token=previous_token
        )
        return SignedIn(user, token, pending_2fa=True)
    await _forget_failures(session, username)
    token = await sessions.start(session, user, previous_token=previous_token)
    return SignedIn(user, token)


async def has_pending(session: AsyncSession, token: str | None) -> bool:
    """Whether ``token`` names a sign-in waiting for its code."""
    return await sessions.pending(session, token) is not None


async def verify_code(
    session: AsyncSession, token: str | None, code: str, *, client_ip: str
) -> CodeStep:
    """The second step: a code from the authenticator app or a recovery code.

    A right code replaces the pending row with a full session (a new token). A wrong one
    counts as a failed sign-in; the fifth for this pending sign-in ends it. Raises
    :class:`SignInThrottled` while the account or the address is throttled.
    """
    pending = await sessions.pending(session, token)
    if pending is None:
        return CodeStep(restart=True)
    username = pending.user.username
    wait = await seconds_to_wait(session, username, client_ip)
    if wait:
        raise SignInThrottled(wait)
    if twofactor.verify_sign_in(pending.user, code):
        await _forget_failures(session, username)
        new_token = await sessions.start(session, pending.user, previous_token=token)
        return CodeStep(SignedIn(pending.user, new_token), next_path=pending.row.next_path)
    await record_failure(session, username, client_ip)
    pending.row.attempts += 1
    if pending.row.attempts >= twofactor.MAX_ATTEMPTS:  # start again from the password
        await session.delete(pending.row)
        return CodeStep(restart=True)
    return CodeStep()
