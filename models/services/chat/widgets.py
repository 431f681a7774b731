"""Chat widgets: what an admin configures and what the widget needs to know to open.

A widget is open when it is active, inside its business hours and at least one agent who
may take its chats is available; otherwise the visitor gets a leave-a-message form.

**Signed identities.** A site whose customers sign in can tell the widget who is chatting, so
they see their earlier chats from any browser: the script tag carries their email (or phone)
and ``data-user-hash``, the HMAC-SHA256 of exactly that value under the widget's identity
secret, computed on the site's server. A visitor's own word is never enough: someone typing
another person's email must not read that person's chats, so an unsigned or mis-signed
identity is treated as anonymous (the same browser still sees its own history).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.chat_widget import ChatWidget
from models.department import Department
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import normalize_email, normalize_phone
from models.services.common.errors import N_, NotFound, ValidationFailed
from models.services.customers import registry

LANGUAGES = ("zh-CN", "en")
DEFAULT_TIMEZONE = "Asia/Shanghai"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
HOUR_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
NAME_MAX = 100
GREETING_MAX = 500


@dataclass(frozen=True)
class WidgetInput:
    """The admin form, as strings; checked by :func:`save`."""

    name: str
    department_id: int | None = None
    color: str = "#1677ff"
    greeting_zh: str = ""
    greeting_en: str = ""
    languages: tuple[str, ...] = LANGUAGES
    # Empty days: always open.
    days: tuple[int, ...] = ()
    start: str = "09:00"
    end: str = "18:00"
    timezone: str = DEFAULT_TIMEZONE
    allowed_origins: str = ""
    is_active: bool = True


def _hours(data: WidgetInput) -> dict[str, Any] | None:
    if not data.days:
        return None
    errors: dict[str, str] = {}
    if any(day not in range(7) for day in data.days):
        errors["days"] = N_("Choose days of the week.")
    for field in ("start", "end"):
        if not HOUR_RE.match(getattr(data, field)):
            errors[field] = N_("Use hours and minutes, like 09:00.")
    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = N_("Unknown time zone.")
    if not errors and data.start >= data.end:
        errors["end"] = N_("The end must come after the start.")
    if errors:
        raise ValidationFailed(N_("Please correct the business hours."), fields=errors)
    return {
        "days": sorted(set(data.days)),
        "start": data.start,
        "end": data.end,
        "timezone": data.timezone,
    }


def _origins(raw: str) -> str:
    origins = [o.rstrip("/") for o in raw.split()]
    bad = [o for o in origins if not ORIGIN_RE.match(o)]
    if bad:
        raise ValidationFailed(
            N_("%(origin)s is not a site address (like https://www.example.com)."),
            fields={"allowed_origins": N_("Not a site address.")},
            origin=bad[0][:80],
        )
    return " ".join(dict.fromkeys(origins))


async def _check(session: AsyncSession, data: WidgetInput) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name or len(name) > NAME_MAX:
        errors["name"] = N_("Give the widget a name (up to 100 characters).")
    if not COLOR_RE.match(data.color):
        errors["color"] = N_("Use a colour like #1677ff.")
    for field in ("greeting_zh", "greeting_en"):
        if len(getattr(data, field)) > GREETING_MAX:
            errors[field] = N_("Too long.")
    languages = [lang for lang in LANGUAGES if lang in data.languages]
    if not languages:
        errors["languages"] = N_("Choose at least one language.")
    if data.department_id is not None and await session.get(Department, data.department_id) is None:
        errors["department_id"] = N_("Unknown department.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return {
        "name": name,
        "department_id": data.department_id,
        "color": data.color.lower(),
        "greeting_zh": data.greeting_zh.strip(),
        "greeting_en": data.greeting_en.strip(),
        "languages": languages,
        "hours": _hours(data),
        "allowed_origins": _origins(data.allowed_origins),
        "is_active": data.is_active,
    }


async def save(
    session: AsyncSession, actor: Actor, data: WidgetInput, widget_id: int | None = None
) -> ChatWidget:
    """Create a widget (with a new public key) or change one; audited."""
    values = await _check(session, data)
    if widget_id is None:
        widget = ChatWidget(
            key=secrets.token_urlsafe(12),
            identity_secret_enc=registry.current_cipher().encrypt(new_identity_secret()),
            **values,
        )
        session.add(widget)
        await session.flush()
        action = "chat_widget_created"
    else:
        widget = await get(session, widget_id)
        for name, value in values.items():
            setattr(widget, name, value)
        action = "chat_widget_changed"
    audit.record(
        session,
        actor,
        entity_type="chat_widget",
        entity_id=widget.id,
        action=action,
        after={"name": widget.name, "active": widget.is_active},
    )
    return widget


async def get(session: AsyncSession, widget_id: int) -> ChatWidget:
    widget = await session.get(ChatWidget, widget_id)
    if widget is None:
        raise NotFound(N_("This chat widget does not exist."))
    return widget


async def by_key(session: AsyncSession, key: str) -> ChatWidget:
    """The active widget with this public key; unknown or switched off is the same 404."""
    widget = await session.scalar(
        select(ChatWidget).where(ChatWidget.key == key[:32], ChatWidget.is_active.is_(True))
    )
    if widget is None:
        raise NotFound(N_("This chat is not available."))
    return widget


async def all_widgets(session: AsyncSession) -> list[ChatWidget]:
    return list((await session.scalars(select(ChatWidget).order_by(ChatWidget.id))).all())


def within_hours(hours: dict[str, Any] | None, now: datetime) -> bool:
    """Whether ``now`` falls in the business hours (None: always)."""
    if not hours:
        return True
    try:
        zone = ZoneInfo(str(hours.get("timezone") or DEFAULT_TIMEZONE))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    local = now.astimezone(zone)
    if local.weekday() not in hours.get("days", []):
        return False
    start = time.fromisoformat(str(hours.get("start", "00:00")))
    end = time.fromisoformat(str(hours.get("end", "23:59")))
    return start <= local.time().replace(tzinfo=None) < end


def greeting(widget: ChatWidget, locale: str) -> str:
    """The greeting in the visitor's language; empty (the frame's own greeting, localized)
    when the admin wrote none in it — a visitor is not greeted in a language not theirs."""
    return widget.greeting_en if locale == "en" else widget.greeting_zh


# --- signed identities ------------------------------------------------------------------------

IDENTITY_MAX = 2048  # the encoded identity's length (a header)
IDENTITY_NAME_MAX = NAME_MAX


def new_identity_secret() -> str:
    return secrets.token_hex(32)


def identity_secret(widget: ChatWidget) -> str | None:
    """The widget's identity secret in plain text (for the admin page and the check)."""
    return registry.decrypt(widget.identity_secret_enc) if widget.identity_secret_enc else None


async def renew_identity_secret(session: AsyncSession, actor: Actor, widget_id: int) -> ChatWidget:
    """A new identity secret: identities the site signed with the old one stop verifying."""
    widget = await get(session, widget_id)
    widget.identity_secret_enc = registry.current_cipher().encrypt(new_identity_secret())
    audit.record(
        session,
        actor,
        entity_type="chat_widget",
        entity_id=widget.id,
        action="chat_widget_identity_secret_renewed",
        after={"name": widget.name},
    )
    return widget


def sign_identity(secret: str, value: str) -> str:
    """What the site's server computes: HMAC-SHA256 of the email (or phone), hex."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A visitor the site vouched for: exactly one normalized contact, and a name hint."""

    email: str | None
    phone: str | None
    name: str


@dataclass(frozen=True)
class IdentityCheck:
    state: Literal["none", "verified", "invalid"]
    identity: Identity | None = None

    @property
    def verified(self) -> Identity | None:
        return self.identity if self.state == "verified" else None


ANONYMOUS = IdentityCheck("none")
_INVALID = IdentityCheck("invalid")


def encode_identity(fields: dict[str, str]) -> str:
    """The loader's encoding of the script tag's data-user-* values (base64url of JSON)."""
    raw = json.dumps(fields, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def check_identity(widget: ChatWidget, encoded: str) -> IdentityCheck:
    """The identity the frame passes on, checked against the widget's secret.

    The signed value is the email when one is given, else the phone, exactly as the site
    wrote it; the other contact is ignored (unsigned, it could point at anyone)."""
    if not encoded:
        return ANONYMOUS
    secret = identity_secret(widget)
    if secret is None or len(encoded) > IDENTITY_MAX:
        return _INVALID
    try:
        fields = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return _INVALID
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        return _INVALID
    email, phone = fields.get("email", "").strip(), fields.get("phone", "").strip()
    signed = email or phone
    if not signed or not hmac.compare_digest(
        sign_identity(secret, signed), fields.get("hash", "").strip().lower()
    ):
        return _INVALID
    try:
        identity = Identity(
            email=normalize_email(email) if email else None,
            phone=None if email else normalize_phone(phone),
            name=fields.get("name", "").strip()[:IDENTITY_NAME_MAX],
        )
    except ValidationFailed:
        return _INVALID
    return IdentityCheck("verified", identity)
