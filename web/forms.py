"""Reading HTML forms: the URL-encoded body marker and the parsers for ids and choices.

A form field that does not parse is a localized 422 naming the field, never a 500.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

from models.services.common.errors import N_, ValidationFailed
from models.services.common.ids import parse_id

__all__ = ["Form", "parse_choice", "parse_id"]

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def parse_choice(enum: Any, value: str, field: str) -> Any:
    """A form's choice among an enum's values; anything else is a localized 422."""
    try:
        return enum((value or "").strip())
    except ValueError:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: N_("Choose a value.")}
        ) from None
