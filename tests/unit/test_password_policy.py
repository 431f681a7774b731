"""The password policy: which passwords are refused, and with which message."""

from __future__ import annotations

import pytest

from models.services.admin import passwords


@pytest.mark.parametrize(
    ("password", "username", "problem"),
    [
        ("12345678", "wang", passwords.TOO_SHORT),
        ("        ", "wang", passwords.TOO_SHORT),
        ("          ", "wang", passwords.TOO_SIMPLE),
        ("aaaaaaaaaaaa", "wang", passwords.TOO_SIMPLE),
        ("xx-WANG.FEI-xx", "wang.fei", passwords.LIKE_USERNAME),
        ("wang.fei2026", "Wang.Fei", passwords.LIKE_USERNAME),
        ("qwertyuiop", "wang", passwords.TOO_COMMON),
        ("QwertyUiop", "wang", passwords.TOO_COMMON),
        ("kefu-admin", "someone", passwords.TOO_COMMON),
        ("x" * 257, "wang", passwords.TOO_LONG),
        ("tea-garden-42", "wang", None),
        ("长城脚下的一杯热茶", "wang", passwords.TOO_SHORT),
        ("长城脚下的一杯热茶好喝", "wang", None),
    ],
)
def test_policy(password: str, username: str, problem: str | None) -> None:
    assert passwords.policy_problem(password, username) == problem


def test_the_shipped_list_is_loaded() -> None:
    common = passwords.common_passwords()
    assert len(common) > 1000
    assert "1234567890" in common and not any(line.startswith("#") for line in common)
