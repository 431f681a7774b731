"""@mentions in follow-up records (internal notes included).

The rule: ``@`` followed by the username or the exact display name of an active staff
account mentions that person. Where several names fit at one ``@``, the longest wins (so
``@张三丰`` is 张三丰, not 张三). Usernames are matched without regard to case and must end
there (``@bob`` does not mention bob inside ``@bobby``); display names are matched exactly
and may run straight into the text that follows, since Chinese puts no space after a name
(``请@王小明 Wang (agent)看一下``). An ``@`` right after a Latin letter or digit (an email
address) is not a mention.

Mentioned people are told whatever their department: the notification links to the ticket,
which they open if their role lets them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.user import User

USERNAME_TAIL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True)
class Handle:
    """A name someone may be mentioned by."""

    user_id: int
    name: str
    is_username: bool


@dataclass(frozen=True)
class Segment:
    """A piece of note text; ``user_id`` is set on a mention."""

    text: str
    user_id: int | None = None


def handles(users: Iterable[User]) -> list[Handle]:
    """Every username and display name of these accounts, longest first."""
    found = []
    for user in users:
        found.append(Handle(user.id, user.username, True))
        if user.display_name and user.display_name != user.username:
            found.append(Handle(user.id, user.display_name, False))
    return sorted(found, key=lambda h: -len(h.name))


def _match(text: str, at: int, known: list[Handle]) -> Handle | None:
    rest = text[at + 1 :]
    for handle in known:
        if handle.is_username:
            if not rest.lower().startswith(handle.name.lower()):
                continue
            after = rest[len(handle.name) : len(handle.name) + 1]
            if after and after.lower() in USERNAME_TAIL:
                continue
            return handle
        if rest.startswith(handle.name):
            return handle
    return None


def split(text: str, known: list[Handle]) -> list[Segment]:
    """The text cut into plain pieces and mentions (see the module doc for the rule)."""
    segments: list[Segment] = []
    start = i = 0
    while (i := text.find("@", i)) >= 0:
        before = text[i - 1] if i > 0 else ""
        in_word = bool(before) and before.isascii() and (before.isalnum() or before in "_.-")
        handle = None if in_word else _match(text, i, known)
        if handle is None:
            i += 1
            continue
        if i > start:
            segments.append(Segment(text[start:i]))
        end = i + 1 + len(handle.name)
        segments.append(Segment(text[i:end], handle.user_id))
        start = i = end
    if start < len(text):
        segments.append(Segment(text[start:]))
    return segments


def mentioned(texts: Iterable[str | None], known: list[Handle]) -> list[int]:
    """The ids of the people mentioned in these texts, in order of first mention."""
    ids: dict[int, None] = {}
    for text in texts:
        for segment in split(text or "", known):
            if segment.user_id is not None:
                ids.setdefault(segment.user_id)
    return list(ids)


async def active_staff(session: AsyncSession) -> list[Handle]:
    """The names of every active staff account."""
    rows = (await session.scalars(select(User).where(User.is_active.is_(True)))).all()
    return handles(rows)
