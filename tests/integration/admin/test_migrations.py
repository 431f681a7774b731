"""The migrations build exactly the models' schema, and go down and up again cleanly."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import models
from models.db import create_engine
from models.migrate import downgrade, upgrade
from tests.conftest import _TMP, PG_ADMIN_URL, _pg_admin

# The board's done-column indexes, as SQLite keeps them (its reflection cannot read them).
_TAIL = "priority_rank, resolution_due, id) WHERE merged_into_id IS NULL"
SQLITE_EXPRESSION_INDEXES = {
    "ix_tickets_closed_order": "CREATE INDEX ix_tickets_closed_order ON tickets "
    f"(status, coalesce(closed_at, resolved_at, created_at) DESC, {_TAIL}",
    "ix_tickets_completed_order": "CREATE INDEX ix_tickets_completed_order ON tickets "
    f"(status, coalesce(resolved_at, created_at) DESC, {_TAIL}",
}
EXPRESSION_INDEX_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_tickets_%_order'"
)


@pytest.fixture
def scratch_url(backend: str) -> Any:
    """An empty database of the run's backend, dropped afterwards."""
    if backend == "postgresql":
        name = f"kefu_mig_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield f"sqlite+aiosqlite:///{_TMP / f'mig-{uuid.uuid4().hex[:8]}.db'}"


async def _tables_and_diff(url: str) -> tuple[set[str], list[Any]]:
    engine = create_engine(url)
    async with engine.connect() as conn:

        def inspect_all(sync_conn: Any) -> tuple[set[str], list[Any]]:
            tables = set(inspect(sync_conn).get_table_names()) - {"alembic_version"}
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            if sync_conn.dialect.name != "sqlite":
                return tables, compare_metadata(context, models.Base.metadata)
            # SQLite's reflection skips indexes on expressions: compare the rest, and those
            # by the SQL SQLite keeps for them.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                diff = [
                    d
                    for d in compare_metadata(context, models.Base.metadata)
                    if not (d[0] == "add_index" and d[1].name in SQLITE_EXPRESSION_INDEXES)
                ]
            kept = dict(sync_conn.execute(text(EXPRESSION_INDEX_SQL)).all())
            diff += [
                ("missing or different expression index", name, kept.get(name))
                for name, sql in SQLITE_EXPRESSION_INDEXES.items()
                if kept.get(name) != sql
            ]
            return tables, diff

        result = await conn.run_sync(inspect_all)
    await engine.dispose()
    return result


def test_upgrade_matches_the_models_then_downgrades_to_nothing(scratch_url: str) -> None:
    upgrade(scratch_url)
    tables, diff = asyncio.run(_tables_and_diff(scratch_url))
    assert tables == set(models.Base.metadata.tables)
    assert diff == [], f"migrations and models differ: {diff}"

    downgrade(scratch_url, "base")
    tables, _ = asyncio.run(_tables_and_diff(scratch_url))
    assert tables == set()

    upgrade(scratch_url)
    tables, diff = asyncio.run(_tables_and_diff(scratch_url))
    assert tables == set(models.Base.metadata.tables) and diff == []
