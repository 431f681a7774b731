"""Domain errors. Each maps once, centrally, to an HTTP status in the web layer.

Messages are English msgids with ``%(name)s`` parameters, translated when rendered, so the
worker and the CLI raise the same errors the web shows in Chinese or English.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a string for translation without translating it now."""
    return message


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """Someone else changed the row first (stale version) or a uniqueness rule was hit."""

    status_code = 409

    def __init__(self, message: str, *, current: Any = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.current = current


class InvalidTransition(DomainError):
    status_code = 409


class ValidationFailed(DomainError):
    """Input that breaks a rule; ``fields`` maps a form field to its message."""

    status_code = 422

    def __init__(
        self, message: str, *, fields: dict[str, str] | None = None, **params: Any
    ) -> None:
        super().__init__(message, **params)
        self.fields = fields or {}


class RateLimited(DomainError):
    status_code = 429
