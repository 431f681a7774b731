"""API keys for other channels (social media, IM, webhooks) calling ``/api/v1``.

A key is shown once, when created; only its SHA-256 and a short prefix (to recognise it in
lists) are stored. Admins create and revoke keys in the admin UI or with ``kefu apikey``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.api_key import ApiKey
from models.base import utcnow
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import token_hash
from models.services.common.errors import N_, DomainError, Forbidden, NotFound, ValidationFailed
from models.user import User

KEY_PREFIX = "kefu_"
PREFIX_LENGTH = 12
NAME_MAX = 100
# last_used_at is refreshed at most this often: no write on every API call.
TOUCH_INTERVAL = timedelta(minutes=1)


class Unauthorized(DomainError):
    """No valid API key: 401."""

    status_code = 401


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ApiClient:
    """The caller an API request was authenticated as."""

    key_id: int
    name: str
    prefix: str

    @property
    def actor(self) -> Actor:
        return Actor.system(f"api:{self.name}"[:100])


def _ensure_admin(actor: Actor) -> None:
    # Staff must be admins; system actors (the CLI) are trusted.
    if actor.role is not None and not actor.is_admin:
        raise Forbidden(N_("Only administrators manage API keys."))


def _view(key: ApiKey, created_by: str | None = None) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        created_by=created_by,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def create(session: AsyncSession, actor: Actor, name: str) -> tuple[ApiKeyView, str]:
    """A new key for the named client; returns its view and the raw key (shown once)."""
    _ensure_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"name": N_("Use 1–100 characters.")},
        )
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        key_hash=token_hash(raw),
        created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="api_key",
        entity_id=key.id,
        action="create",
        after={"name": name, "prefix": key.prefix},
    )
    return _view(key, actor.label), raw


async def revoke(session: AsyncSession, actor: Actor, key_id: int) -> ApiKeyView:
    """Revoke a key at once; requests with it get 401 from now on. Revoking twice is a no-op."""
    _ensure_admin(actor)
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(N_("API key not found."))
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            entity_type="api_key",
            entity_id=key.id,
            action="revoke",
            before={"prefix": key.prefix},
        )
        await session.flush()
    return _view(key)


async def find_by_prefix(session: AsyncSession, prefix: str) -> ApiKeyView:
    """The key a CLI user names by its id or prefix."""
    stmt = select(ApiKey).where(ApiKey.prefix == prefix.strip())
    if prefix.strip().isdigit():
        stmt = select(ApiKey).where(ApiKey.id == int(prefix.strip()))
    key = await session.scalar(stmt)
    if key is None:
        raise NotFound(N_("API key not found."))
    return _view(key)


async def list_keys(session: AsyncSession) -> list[ApiKeyView]:
    rows = (
        await session.execute(
            select(ApiKey, User.username)
            .outerjoin(User, User.id == ApiKey.created_by_id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    ).all()
    return [_view(key, username) for key, username in rows]


def raw_key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


async def authenticate(session: AsyncSession, raw: str | None) -> ApiClient:
    """The client a raw key belongs to; 401 for a missing, unknown or revoked key."""
    if not raw:
        raise Unauthorized(N_("An API key is required (Authorization: Bearer <key>)."))
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == token_hash(raw)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized(N_("This API key is not valid."))
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_INTERVAL:
        key.last_used_at = now
    return ApiClient(key_id=key.id, name=key.name, prefix=key.prefix)
