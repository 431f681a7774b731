"""Staff accounts and departments: creation, authentication, lookup."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.department import Department
from models.enums import Role
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict, NotFound, ValidationFailed
from models.settings import get_settings
from models.user import User

USERNAME_MAX = 64
PASSWORD_MIN = 8


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
) -> User:
    username = username.strip()
    errors: dict[str, str] = {}
    if not username or len(username) > USERNAME_MAX or not username.isascii():
        errors["username"] = N_("Use 1–64 letters, digits or ._-")
    if len(password) < PASSWORD_MIN:
        errors["password"] = N_("At least 8 characters.")
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = N_("Unknown role.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    taken = await session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    )
    if taken:
        raise Conflict(N_("The username %(username)s is taken."), username=username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=await anyio.to_thread.run_sync(hash_password, password),
        role=role,
        department_id=department_id,
        email=email,
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


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The user if the password matches; None otherwise, in the same time either way."""
    user = await session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    hasher = _hasher()
    if user and user.is_active:
        stored = user.password_hash
    else:
        stored = await anyio.to_thread.run_sync(_dummy_hash)
    try:
        # Argon2 takes about half a second by design: off the event loop.
        await anyio.to_thread.run_sync(hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await anyio.to_thread.run_sync(hash_password, password)
    user.last_login_at = utcnow()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
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
