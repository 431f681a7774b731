"""SQLite refusing a write under contention answers 503 with Retry-After (a client retries),
not a 500; any other database error stays a 500."""

from __future__ import annotations

import json

from litestar.testing import RequestFactory
from sqlalchemy.exc import OperationalError

from web.errors import busy_database_handler


def _error(message: str) -> OperationalError:
    return OperationalError("UPDATE chat_conversations …", {}, Exception(message))


def test_a_locked_database_is_a_503_to_retry() -> None:
    request = RequestFactory().post("/api/chat/key/messages")
    response = busy_database_handler(request, _error("database is locked"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert json.loads(response.render(response.content, "application/json"))["status"] == 503


def test_another_database_error_is_a_500() -> None:
    request = RequestFactory().post("/api/chat/key/messages")
    response = busy_database_handler(request, _error("disk I/O error"))
    assert response.status_code == 500
