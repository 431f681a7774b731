"""Staff accounts and departments: creation, editing, (de)activation, passwords, sign-in."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.department import Department
from models.enums import Role
from models.services.admin import sessions
from models.services.admin.passwords import check_password
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import normalize_email
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.settings import get_settings
from models.user import User

T = TypeVar("T")

USERNAME_MAX = 64
DISPLAY_NAME_MAX = 100
INVALID = N_("Please correct the highlighted fields.")


# Argon2 is CPU-bound by design (a quarter to half a second per hash at the defaults) and
# releases the GIL while it runs. At most this many hashes run at once in a process, leaving
# a core to the event loop: a burst of sign-ins, or of password guesses from many addresses,
# queues here instead of taking every core while the rest of the site waits.
HASH_SLOTS = max(1, (os.cpu_count() or 2) - 1)
_hash_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    WeakKeyDictionary()
)


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, within the process's argon2 slots (one set per event
    loop: a limiter belongs to the loop that created it)."""
    loop = asyncio.get_running_loop()
    limiter = _hash_limiters.get(loop)
    if limiter is None:
        limiter = _hash_limiters[loop] = anyio.CapacityLimiter(HASH_SLOTS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _hasher() -> PasswordHasher:
    settings = get_settings()
    return _hasher_for(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=2)
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _dummy_hash() -> str:
    # Verified against when the user does not exist, so both paths cost the same.
    return _dummy_hash_for(_hasher())


@lru_cache(maxsize=2)
def _dummy_hash_for(hasher: PasswordHasher) -> str:
    return hasher.hash("kefu-no-such-user")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


async def hash_off_loop(password: str) -> str:
    """:func:`hash_password` in a worker thread: argon2 takes about half a second by design,
    and the event loop serves every other request meanwhile."""
    return await _off_loop(hash_password, password)


def actor_for(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        label=user.username,
        role=Role(user.role),
        department_id=user.department_id,
    )


async def department_by_code(session: AsyncSession, code: str) -> Department | None:
    return await session.scalar(select(Department).where(Department.code == code))


async def create_department(
    session: AsyncSession,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    parent_id: int | None = None,
) -> Department:
    if await department_by_code(session, code) is not None:
        raise Conflict(N_("Department %(code)s already exists."), code=code)
    dept = Department(code=code, name_zh=name_zh, name_en=name_en, parent_id=parent_id)
    session.add(dept)
    await session.flush()
    return dept


def _clean_email(email: str | None, errors: dict[str, str]) -> str | None:
    if not email or not email.strip():
        return None
    try:
        return normalize_email(email)
    except ValidationFailed:
        errors["email"] = N_("Enter a valid email address.")
        return None


async def _check_department(
    session: AsyncSession, department_id: int | None, errors: dict[str, str]
) -> None:
    if department_id is not None and await session.get(Department, department_id) is None:
        errors["department_id"] = N_("Unknown department.")


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    department_id: int | None = None,
    email: str | None = None,
    enforce_policy: bool = True,
) -> User:
    """A new account. ``enforce_policy=False`` only for the demo seeder's well-known logins."""
    username = username.strip()
    errors: dict[str, str] = {}
    if not username or len(username) > USERNAME_MAX or not username.isascii():
        errors["username"] = N_("Use 1–64 letters, digits or ._-")
    if enforce_policy:
        try:
            check_password(password, username)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = N_("Unknown role.")
    if display_name and len(display_name.strip()) > DISPLAY_NAME_MAX:
        errors["display_name"] = N_("Use at most 100 characters.")
    clean_email = _clean_email(email, errors)
    await _check_department(session, department_id, errors)
    if errors:
        raise ValidationFailed(INVALID, fields=errors)
    taken = await session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    )
    if taken:
        raise Conflict(N_("The username %(username)s is taken."), username=username)
    user = User(
        username=username,
        display_name=(display_name or "").strip() or username,
        password_hash=await hash_off_loop(password),
        role=role,
        department_id=department_id,
        email=clean_email,
        is_active=True,
        must_change_password=False,
        totp_enabled=False,
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="user",
        entity_id=user.id,
        action="create",
        after={"username": username, "role": str(role)},
    )
    return user


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    *,
    display_name: str,
    role: Role | str,
    department_id: int | None,
    email: str | None,
) -> User:
    """An admin's edit of name, role, department and email (audited field by field)."""
    user = await get_user(session, user_id)
    errors: dict[str, str] = {}
    name = display_name.strip()
    if not name or len(name) > DISPLAY_NAME_MAX:
        errors["display_name"] = N_("Use 1–100 characters.")
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = N_("Unknown role.")
    clean_email = _clean_email(email, errors)
    await _check_department(session, department_id, errors)
    if errors:
        raise ValidationFailed(INVALID, fields=errors)
    if user.id == actor.user_id and role is not Role.ADMIN:
        raise Forbidden(N_("You cannot remove your own admin role."))
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        await _keep_an_admin(session, user)
    before = {
        "display_name": user.display_name,
        "role": str(user.role),
        "department_id": user.department_id,
        "email": user.email,
    }
    user.display_name = name
    user.role = Role(role)
    user.department_id = department_id
    user.email = clean_email
    after = {
        "display_name": user.display_name,
        "role": str(user.role),
        "department_id": user.department_id,
        "email": user.email,
    }
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        audit.record(
            session,
            actor,
            entity_type="user",
            entity_id=user.id,
            action="update",
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return user


async def _keep_an_admin(session: AsyncSession, leaving: User) -> None:
    """Refuse a change that would leave no active admin."""
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), User.id != leaving.id)
    )
    if not others:
        raise Conflict(N_("Kefu needs at least one active admin."))


async def set_active(session: AsyncSession, actor: Actor, user_id: int, active: bool) -> User:
    """Deactivate (history kept; the next request of any open session is refused) or
    reactivate an account. Nobody deactivates themselves."""
    user = await get_user(session, user_id)
    if not active and user.id == actor.user_id:
        raise Forbidden(N_("You cannot deactivate your own account."))
    if user.is_active == active:
        return user
    if not active and user.role is Role.ADMIN:
        await _keep_an_admin(session, user)
    user.is_active = active
    if not active:  # signed out everywhere at once (each request re-checks is_active too)
        await sessions.revoke_user_sessions(session, user.id)
    audit.record(
        session,
        actor,
        entity_type="user",
        entity_id=user.id,
        action="activate" if active else "deactivate",
        before={"active": not active},
        after={"active": active},
    )
    return user


def temporary_password() -> str:
    """A random password for an admin's reset: 16 characters, easy to read out."""
    alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


async def reset_password(
    session: AsyncSession, actor: Actor, user_id: int, *, keep_token: str | None = None
) -> tuple[User, str]:
    """A temporary password (returned once, never stored) that must be changed at next sign-in."""
    user = await get_user(session, user_id)
    raw = temporary_password()
    user.password_hash = await hash_off_loop(raw)
    user.must_change_password = True
    user.password_changed_at = utcnow()
    # Whoever held the old password is signed out everywhere (the admin's own session is
    # kept when admins reset their own password).
    await sessions.revoke_user_sessions(session, user.id, keep_token=keep_token)
    audit.record(session, actor, entity_type="user", entity_id=user.id, action="password_reset")
    return user, raw


async def set_password(
    session: AsyncSession, actor: Actor, user_id: int, password: str, field: str = "password"
) -> User:
    """Set a new password under the policy (the CLI, and the /account page after its checks)."""
    user = await get_user(session, user_id)
    check_password(password, user.username, field)
    user.password_hash = await hash_off_loop(password)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    audit.record(session, actor, entity_type="user", entity_id=user.id, action="password_change")
    return user


async def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (verified off the event loop)."""
    try:
        return bool(await _off_loop(_hasher().verify, user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


async def change_own_password(
    session: AsyncSession, actor: Actor, *, current: str, new: str, confirm: str
) -> User:
    """Everyone's own change: the current password first, the new one twice."""
    if actor.user_id is None:
        raise Forbidden(N_("You do not have permission to do that."))
    user = await get_user(session, actor.user_id)
    if not await password_matches(user, current):
        raise ValidationFailed(
            INVALID, fields={"current": N_("The current password is not correct.")}
        )
    if new != confirm:
        raise ValidationFailed(INVALID, fields={"confirm": N_("The two passwords differ.")})
    if new == current:
        raise ValidationFailed(
            INVALID, fields={"new": N_("Choose a password different from the current one.")}
        )
    return await set_password(session, actor, user.id, new, field="new")


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The user if the password matches; None otherwise, in the same time either way."""
    user = await session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    hasher = _hasher()
    if user and user.is_active:
        stored = user.password_hash
    else:
        stored = await _off_loop(_dummy_hash)
    try:
        # Argon2 takes about half a second by design: off the event loop.
        await _off_loop(hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_off_loop(password)
    if not user.totp_enabled:  # with two-factor sign-in, the code step records the sign-in
        user.last_login_at = utcnow()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(N_("User not found."))
    return user


async def user_by_username(session: AsyncSession, username: str) -> User:
    user = await session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    if user is None:
        raise NotFound(N_("User not found."))
    return user


async def active_user(session: AsyncSession, user_id: int) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.role, User.username))).all()


async def list_departments(session: AsyncSession) -> Sequence[Department]:
    return (await session.scalars(select(Department).order_by(Department.code))).all()


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> None:
    user = await get_user(session, user_id)
    user.locale = locale
