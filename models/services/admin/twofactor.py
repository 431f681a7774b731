"""Two-factor sign-in: TOTP (RFC 6238, any authenticator app) and one-time recovery codes.

The TOTP secret is sealed with the contact keyring (:mod:`models.services.common.crypto`);
recovery codes are kept as SHA-256 hashes and each works once. A code is accepted for the
current 30-second step or one step either side (clock drift), and never for a step at or
before the last one accepted, so an overheard code cannot be replayed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import Role
from models.services.admin import site, users
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import Cipher, cipher_for, token_hash
from models.services.common.errors import N_, Conflict, Forbidden, ValidationFailed
from models.settings import get_settings, reset_settings
from models.user import User

ISSUER = "Kefu"
RECOVERY_CODES = 10
MAX_ATTEMPTS = 5  # wrong codes before the sign-in starts again from the password
STEP_SECONDS = 30
WRONG_CODE = N_("That code is not correct. Enter the current code from your app.")


def _cipher() -> Cipher:
    return cipher_for(get_settings().encryption_keys)


def secret_of(user: User) -> str | None:
    """The plaintext secret; the keyring is re-read once when the ciphertext names a key this
    process does not know yet (``kefu keys rotate`` ran in another process)."""
    if not user.totp_secret_enc:
        return None
    try:
        return _cipher().decrypt(user.totp_secret_enc)
    except ValueError:
        reset_settings()
        return _cipher().decrypt(user.totp_secret_enc)


async def reencrypt_secrets(session: AsyncSession, *, limit: int = 500) -> int:
    """Re-encrypt one batch of TOTP secrets made with an older key (``kefu keys rotate``)."""
    cipher = _cipher()
    prefix = f"v1:{cipher.primary_id}:"
    rows = (
        await session.scalars(
            select(User)
            .where(User.totp_secret_enc.like("v1:%"), ~User.totp_secret_enc.like(prefix + "%"))
            .order_by(User.id)
            .limit(limit)
            .with_for_update()
        )
    ).all()
    for user in rows:
        user.totp_secret_enc = cipher.encrypt(cipher.decrypt(user.totp_secret_enc or ""))
    await session.flush()
    return len(rows)


def provisioning_uri(user: User) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    secret = secret_of(user)
    if secret is None:
        raise Conflict(N_("Start the two-factor set-up first."))
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def begin_enrolment(user: User) -> str:
    """A fresh secret for a user not yet enrolled (kept until confirmed by a code)."""
    if user.totp_enabled:
        raise Conflict(N_("Two-factor sign-in is already on."))
    secret = secret_of(user)
    if secret is None:
        secret = pyotp.random_base32()
        user.totp_secret_enc = _cipher().encrypt(secret)
        user.totp_last_step = None
    return secret


def _normalize(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-").lower()


def _accept_totp(user: User, code: str, now: float | None = None) -> bool:
    secret = secret_of(user)
    digits = _normalize(code)
    if secret is None or len(digits) != 6 or not digits.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), digits):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # already used
            user.totp_last_step = step
            return True
    return False


def _new_recovery_codes(user: User) -> list[str]:
    codes = [
        f"{secrets.token_hex(3)}-{secrets.token_hex(3)}"  # 48 bits each, shown once
        for _ in range(RECOVERY_CODES)
    ]
    user.recovery_codes = [token_hash(_normalize(c)) for c in codes]
    return codes


def confirm_enrolment(session: AsyncSession, actor: Actor, user: User, code: str) -> list[str]:
    """Turn 2FA on once the app shows a matching code; return the recovery codes (shown once)."""
    if user.totp_enabled:
        raise Conflict(N_("Two-factor sign-in is already on."))
    if not _accept_totp(user, code):
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={"code": WRONG_CODE}
        )
    user.totp_enabled = True
    codes = _new_recovery_codes(user)
    audit.record(
        session,
        actor,
        entity_type="user",
        entity_id=user.id,
        action="2fa_enable",
    )
    return codes


def verify_sign_in(user: User, code: str) -> bool:
    """The second step of a sign-in: a current TOTP code or an unused recovery code."""
    if not user.totp_enabled:
        return False
    if _accept_totp(user, code):
        user.last_login_at = utcnow()
        return True
    hashed = token_hash(_normalize(code))
    remaining = list(user.recovery_codes or [])
    for stored in remaining:
        if secrets.compare_digest(stored, hashed):
            remaining.remove(stored)
            user.recovery_codes = remaining  # a new list, so the JSON column is written
            user.last_login_at = utcnow()
            return True
    return False


def regenerate_recovery_codes(session: AsyncSession, actor: Actor, user: User) -> list[str]:
    if not user.totp_enabled:
        raise Conflict(N_("Two-factor sign-in is off."))
    codes = _new_recovery_codes(user)
    audit.record(
        session,
        actor,
        entity_type="user",
        entity_id=user.id,
        action="2fa_recovery_codes",
    )
    return codes


def disable(session: AsyncSession, actor: Actor, user: User) -> None:
    """Turn 2FA off (the user's own choice, or an admin's for someone who lost the phone)."""
    was_on = user.totp_enabled
    user.totp_enabled = False
    user.totp_secret_enc = None
    user.totp_last_step = None
    user.recovery_codes = None
    if was_on:
        audit.record(
            session,
            actor,
            entity_type="user",
            entity_id=user.id,
            action="2fa_disable",
        )


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret to type, and the URI its QR code encodes."""

    username: str
    secret: str
    uri: str


@dataclass(frozen=True)
class Status:
    enabled: bool
    recovery_codes_left: int
    required: bool  # an admin on an install that requires 2FA for admins


async def _own(session: AsyncSession, actor: Actor) -> User:
    if actor.user_id is None:
        raise Forbidden(N_("You do not have permission to do that."))
    return await users.get_user(session, actor.user_id)


async def status(session: AsyncSession, actor: Actor) -> Status:
    user = await _own(session, actor)
    _, require_admin_2fa = await site.read_site(session)
    return Status(
        enabled=user.totp_enabled,
        recovery_codes_left=len(user.recovery_codes or []),
        required=require_admin_2fa and Role(user.role) is Role.ADMIN,
    )


async def enrolment(session: AsyncSession, actor: Actor) -> Enrolment:
    user = await _own(session, actor)
    secret = begin_enrolment(user)
    return Enrolment(user.username, secret, provisioning_uri(user))


async def confirm(session: AsyncSession, actor: Actor, code: str) -> list[str]:
    return confirm_enrolment(session, actor, await _own(session, actor), code)


async def new_recovery_codes(session: AsyncSession, actor: Actor) -> list[str]:
    return regenerate_recovery_codes(session, actor, await _own(session, actor))


async def disable_own(session: AsyncSession, actor: Actor, password: str) -> None:
    """Turn one's own 2FA off, with the password (refused for admins when it is required)."""
    user = await _own(session, actor)
    if not await users.password_matches(user, password):
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"password": N_("The current password is not correct.")},
        )
    if (await status(session, actor)).required:
        raise Forbidden(N_("Two-factor sign-in is required for admins on this install."))
    disable(session, actor, user)
