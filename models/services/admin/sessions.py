"""Staff sign-in sessions, stored in the database (the ``user_session`` rows).

Why the database and not Redis or a cookie: the database is the source of truth and is up
whenever the app is of any use, so a Redis restart (or outage) signs nobody out; a row per
session can be revoked at once (sign-out, deactivation) without a deny-list; and only
signed-in staff have a row — anonymous visitors of the portal create nothing on the server.

The browser holds a random 256-bit token; a row holds its SHA-256 digest. A token is only
ever issued here, never taken from a client: signing in issues a new one and ends the one
the browser came with (no fixation), a role change rotates it on the next request, and
signing out or :func:`revoke_user_sessions` deletes the rows.

With two-factor sign-in, a right password starts a *pending* row (:func:`start_pending`):
short-lived, never resolved as signed in, read only by the code step, which replaces it with
a full session — a new token — once the code is right. Being a row, it works across web
processes and outlives a Redis restart like any session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import Role
from models.user import User
from models.user_session import UserSession

IDLE_TIMEOUT = timedelta(hours=12)
MAX_AGE = timedelta(days=7)
# last_seen_at is written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=5)
TOKEN_BYTES = 32
# Time to type the code from the authenticator app after the password.
PENDING_TIMEOUT = timedelta(minutes=10)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Resolved:
    """The signed-in user of a request, and a new token when the session was rotated."""

    user: User
    rotated_token: str | None = None


def _new_row(
    user: User, now: datetime, created_at: datetime | None = None
) -> tuple[str, UserSession]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = UserSession(
        id=digest(token),
        user_id=user.id,
        role=Role(user.role),
        created_at=created_at or now,
        last_seen_at=now,
        expires_at=min((created_at or now) + MAX_AGE, now + IDLE_TIMEOUT),
        pending_2fa=False,
        attempts=0,
    )
    return token, row


async def _replace(session: AsyncSession, previous_token: str | None, now: datetime) -> None:
    """End the session the browser came with, and sweep expired rows."""
    if previous_token:
        await end(session, previous_token)
    await session.execute(delete(UserSession).where(UserSession.expires_at < now))


async def start(session: AsyncSession, user: User, *, previous_token: str | None = None) -> str:
    """Sign ``user`` in: a fresh session (never the one the browser came with); its token."""
    now = utcnow()
    await _replace(session, previous_token, now)
    token, row = _new_row(user, now)
    session.add(row)
    await session.flush()
    return token


async def start_pending(
    session: AsyncSession, user: User, *, next_path: str, previous_token: str | None = None
) -> str:
    """The password was right and the second factor is due: a pending row (signs nobody in)."""
    now = utcnow()
    await _replace(session, previous_token, now)
    token, row = _new_row(user, now)
    row.pending_2fa = True
    row.expires_at = now + PENDING_TIMEOUT
    row.next_path = next_path[:512]
    session.add(row)
    await session.flush()
    return token


@dataclass(frozen=True)
class Pending:
    """A sign-in waiting for its second factor."""

    row: UserSession
    user: User


async def pending(session: AsyncSession, token: str | None) -> Pending | None:
    """The pending sign-in a token names (still active user, not expired); None if none."""
    if not token or len(token) > 128:
        return None
    row = await session.get(UserSession, digest(token))
    if row is None or not row.pending_2fa:
        return None
    user = await session.get(User, row.user_id)
    if row.expires_at <= utcnow() or user is None or not user.is_active:
        await session.delete(row)
        return None
    return Pending(row, user)


async def resolve(session: AsyncSession, token: str | None) -> Resolved | None:
    """The active user a token signs in, sliding its idle expiry; None if none.

    When the user's role differs from the one the session was issued for, the session is
    rotated: the old id stops working and :attr:`Resolved.rotated_token` is the new one.
    """
    if not token or len(token) > 128:
        return None
    now = utcnow()
    row = await session.get(UserSession, digest(token))
    if row is None or row.pending_2fa:  # half a sign-in is no sign-in
        return None
    if row.expires_at <= now:
        await session.delete(row)
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        await session.delete(row)
        return None
    if Role(user.role) is not Role(row.role):
        created_at = row.created_at
        await session.delete(row)
        new_token, new_row = _new_row(user, now, created_at)
        session.add(new_row)
        return Resolved(user, new_token)
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        row.expires_at = min(row.created_at + MAX_AGE, now + IDLE_TIMEOUT)
    return Resolved(user)


async def end(session: AsyncSession, token: str) -> None:
    """Sign out: the session stops working at once."""
    await session.execute(delete(UserSession).where(UserSession.id == digest(token)))


async def revoke_user_sessions(
    session: AsyncSession, user_id: int, *, keep_token: str | None = None
) -> int:
    """End every session of a user, pending sign-ins included (deactivation, password reset),
    except the one ``keep_token`` names; how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_token:
        query = query.where(UserSession.id != digest(keep_token))
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)
