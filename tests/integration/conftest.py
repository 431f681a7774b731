"""Fixtures shared by the integration tests: real mail servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailservers import Dovecot, SmtpCapture, running_dovecot, running_smtp


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """Debian's dovecot serving IMAP on a free loopback port, for one test module."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
def smtp_capture() -> Iterator[SmtpCapture]:
    """An aiosmtpd server capturing what Kefu sends."""
    with running_smtp() as capture:
        yield capture
