"""Settings are read once, from the environment, with the defaults README.md documents."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from models.settings import REPO_ROOT, get_settings, reset_settings

SMTP_AND_DELIVERY = (
    "KEFU_SMTP_HOST",
    "KEFU_SMTP_PORT",
    "KEFU_SMTP_USER",
    "KEFU_SMTP_PASSWORD",
    "KEFU_SMTP_FROM",
    "KEFU_SMTP_STARTTLS",
    "KEFU_SMTP_SSL",
    "KEFU_NOTIFY_MAX_ATTEMPTS",
    "KEFU_NOTIFY_BACKOFF_SECONDS",
    "KEFU_NOTIFY_BACKOFF_MAX_SECONDS",
)


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean slate for the SMTP and delivery variables; cached settings forgotten after."""
    for name in SMTP_AND_DELIVERY:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield monkeypatch
    monkeypatch.undo()
    reset_settings()


def readme_row(variable: str) -> list[str]:
    """The cells of README's configuration row that starts with ``variable``."""
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        if line.startswith(f"| `{variable}`"):
            return [cell.strip() for cell in line.strip("|").split(" | ")]
    raise AssertionError(f"{variable} is not documented in README.md")


def test_delivery_defaults_are_the_documented_ones(fresh_settings: pytest.MonkeyPatch) -> None:
    delivery = get_settings().delivery
    documented = re.findall(r"`([\d.]+)`", readme_row("KEFU_NOTIFY_MAX_ATTEMPTS")[1])
    assert [float(v) for v in documented] == [
        delivery.max_attempts,
        delivery.backoff_seconds,
        delivery.backoff_max_seconds,
    ]
    assert (delivery.max_attempts, delivery.backoff_seconds) == (5, 30)


def test_smtp_defaults_are_the_documented_ones(fresh_settings: pytest.MonkeyPatch) -> None:
    smtp = get_settings().smtp
    documented = readme_row("KEFU_SMTP_HOST")[1]
    assert smtp.host == "" and "host unset" in documented
    assert f"`{smtp.port}`" in documented and f"`{smtp.sender}`" in documented
    assert not smtp.starttls and not smtp.ssl


def test_smtp_and_delivery_come_from_the_environment(
    fresh_settings: pytest.MonkeyPatch,
) -> None:
    fresh_settings.setenv("KEFU_SMTP_HOST", " mail.example.com ")
    fresh_settings.setenv("KEFU_SMTP_PORT", "587")
    fresh_settings.setenv("KEFU_SMTP_PASSWORD", "pass word ")
    fresh_settings.setenv("KEFU_SMTP_FROM", "kefu@example.com")
    fresh_settings.setenv("KEFU_SMTP_STARTTLS", "true")
    fresh_settings.setenv("KEFU_NOTIFY_MAX_ATTEMPTS", "3")
    fresh_settings.setenv("KEFU_NOTIFY_BACKOFF_SECONDS", "0.5")
    reset_settings()
    settings = get_settings()
    assert (settings.smtp.host, settings.smtp.port) == ("mail.example.com", 587)
    assert settings.smtp.password == "pass word "
    assert settings.smtp.sender == "kefu@example.com" and settings.smtp.starttls
    assert (settings.delivery.max_attempts, settings.delivery.backoff_seconds) == (3, 0.5)
    assert "pass word" not in repr(settings)
    # Read once: a later change of the environment is not seen until settings are reset.
    fresh_settings.setenv("KEFU_NOTIFY_MAX_ATTEMPTS", "9")
    assert get_settings().delivery.max_attempts == 3
