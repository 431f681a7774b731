"""Numbers typed by people, bounded to what the database can hold.

Row ids and offsets are PostgreSQL ``INTEGER`` (SQLite stores them in 64 bits): a larger
number can never name a row, and handing it to the driver is an error, not "not found". One
bound for every id, offset and department number read from a path, query or form.
"""

from __future__ import annotations

from models.services.common.errors import N_, ValidationFailed

MAX_ID = 2**31 - 1


def in_range(value: int) -> bool:
    """Whether an integer fits the database's id columns."""
    return -MAX_ID - 1 <= value <= MAX_ID


def digits(text: str | None) -> int | None:
    """ASCII digits within the bound as a number, else None (``"²"`` is a digit to
    :meth:`str.isdigit` but not to :func:`int`)."""
    text = (text or "").strip()
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def parse_id(text: str | None, field: str, *, required: bool = True) -> int | None:
    """A form's or query's numeric id; anything else is a localized 422 on ``field``."""
    if not (text or "").strip() and not required:
        return None
    value = digits(text)
    if value is None:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: N_("Invalid value.")}
        )
    return value
