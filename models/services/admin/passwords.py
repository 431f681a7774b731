"""The password policy: long enough, not the username, not a well-known password.

Each rule returns a msgid (translated where it is shown, inline on the field), so the web form,
the /account page and ``kefu user passwd`` refuse the same passwords with the same words.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from models.services.common.errors import N_, ValidationFailed

PASSWORD_MIN = 10
PASSWORD_MAX = 256
MIN_DISTINCT = 4
COMMON_FILE = Path(__file__).parent / "data" / "common-passwords.txt"

TOO_SHORT = N_("Use at least 10 characters.")
TOO_LONG = N_("Use at most 256 characters.")
LIKE_USERNAME = N_("The password must not contain the username.")
TOO_COMMON = N_("This password is too common; choose another.")
TOO_SIMPLE = N_("Use at least 4 different characters.")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased (comment lines start with #)."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def policy_problem(password: str, username: str) -> str | None:
    """The first rule the password breaks (a msgid), or None when it is acceptable."""
    if len(password) < PASSWORD_MIN:
        return TOO_SHORT
    if len(password) > PASSWORD_MAX:
        return TOO_LONG
    if len(set(password.strip())) < MIN_DISTINCT:
        return TOO_SIMPLE
    name = username.strip().lower()
    if name and name in password.lower():
        return LIKE_USERNAME
    if password.lower() in common_passwords() or password.strip().lower() in common_passwords():
        return TOO_COMMON
    return None


def check_password(password: str, username: str, field: str = "password") -> None:
    """Raise a 422 naming ``field`` when the password breaks the policy."""
    problem = policy_problem(password, username)
    if problem is not None:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={field: problem}
        )
