"""Backups and restores of the whole installation: the database, a manifest, the attachments.

A backup is a folder ``kefu-backup-<UTC timestamp>/`` holding

* ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the app runs) or
  ``database.pgdump`` (``pg_dump --format=custom``, taken inside an exported snapshot);
* ``manifest.json``: the Kefu version, the Alembic revision, the row count of every table and
  the ids of the encryption keys the contact ciphertexts were made with (never the keys);
* ``attachments/`` and ``mail-quarantine/`` when the data directory has them.

The manifest's counts are read from the same snapshot the dump is taken from, so a restore can
prove it is complete by counting again. A folder is written under a ``.partial`` name and
renamed only once everything is in it: a crashed backup never looks like a finished one.

The CLI (``kefu backup`` / ``kefu restore``) and the weekly worker job both call this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from models.base import Base, utcnow
from models.clock import from_system
from models.services.common.crypto import cipher_for
from models.services.common.errors import N_, Conflict, DomainError, ValidationFailed
from models.settings import ATTACHMENTS_FOLDER, MAIL_QUARANTINE_FOLDER

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
ATTACHMENTS = ATTACHMENTS_FOLDER
FILE_FOLDERS = (ATTACHMENTS_FOLDER, MAIL_QUARANTINE_FOLDER)  # copied beside the database
PREFIX = "kefu-backup-"
PARTIAL = ".partial"
# Tables that describe the schema rather than hold data: they never make a database "non-empty".
SCHEMA_TABLES = frozenset({"alembic_version"})


class BackupFailed(DomainError):
    """An external tool or the file system failed; the message says what to fix."""

    status_code = 500


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written next to it as ``manifest.json``."""

    kefu_version: str
    backend: str
    database_file: str
    created_at: str
    alembic_revision: str | None
    tables: dict[str, int]
    encryption_key_ids: list[str]
    attachments: int = 0
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of a backup folder, or a clear refusal if it is missing or foreign."""
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValidationFailed(
                N_("%(path)s is not a Kefu backup (no manifest.json)."), path=str(folder)
            ) from exc
        except (OSError, ValueError) as exc:
            raise ValidationFailed(
                N_("The backup manifest %(path)s cannot be read."), path=str(path)
            ) from exc
        if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
            raise ValidationFailed(
                N_("The backup manifest %(path)s has an unknown format."), path=str(path)
            )
        try:
            return cls(
                kefu_version=str(raw["kefu_version"]),
                backend=str(raw["backend"]),
                database_file=str(raw["database_file"]),
                created_at=str(raw["created_at"]),
                alembic_revision=raw.get("alembic_revision"),
                tables={str(k): int(v) for k, v in raw["tables"].items()},
                encryption_key_ids=[str(k) for k in raw.get("encryption_key_ids", [])],
                attachments=int(raw.get("attachments", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationFailed(
                N_("The backup manifest %(path)s has an unknown format."), path=str(path)
            ) from exc


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    tables: dict[str, int]
    # Key ids the restored ciphertexts need that the configured keyring lacks.
    missing_key_ids: list[str] = field(default_factory=list)
    attachments: int = 0


# --- helpers ------------------------------------------------------------------------------


def kefu_version() -> str:
    try:
        return metadata.version("kefu")
    except metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL (in-memory databases cannot be backed up)."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise ValidationFailed(N_("An in-memory SQLite database cannot be backed up."))
    return Path(database).resolve()


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, and the environment carrying its password.

    The password travels in ``PGPASSWORD`` so it never shows in the process list.
    """
    url: URL = make_url(database_url)
    env = {"PGPASSWORD": url.password} if url.password else {}
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:  # asyncpg's spelling of libpq's sslmode
        query["sslmode"] = query.pop("ssl")
    plain = url.set(drivername="postgresql", password=None, query=query)
    return plain.render_as_string(hide_password=False), env


def key_ids_of(keys: tuple[str, ...]) -> list[str]:
    """The ids of a keyring's keys (the first 8 hex digits of each key's SHA-256)."""
    return [cipher_for((key,)).primary_id for key in keys]


def _encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every ciphertext column (``*_enc``, ``v1:<key id>:…`` values)."""
    return [
        (t.name, c.name)
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if c.name.endswith("_enc")
    ]


def _plain_engine(database_url: str) -> AsyncEngine:
    """An engine without the app's connection pragmas: a backup file stays as written."""
    if database_url.startswith("sqlite"):
        return create_async_engine(database_url, connect_args={"timeout": 15})
    return create_async_engine(database_url, pool_size=2, max_overflow=0)


async def _table_names(conn: AsyncConnection) -> list[str]:
    return sorted(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def inventory(conn: AsyncConnection) -> tuple[dict[str, int], str | None, list[str]]:
    """Row counts per table, the Alembic revision and the key ids used by ciphertexts."""
    names = await _table_names(conn)
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = int(await conn.scalar(select(func.count()).select_from(table(name))) or 0)
    revision = None
    if "alembic_version" in names:
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    key_ids: set[str] = set()
    for table_name, column in _encrypted_columns():
        if table_name not in names:
            continue
        # "v1:<8 hex>:…": the key id is characters 4–11 on both backends.
        rows = await conn.execute(
            text(
                f'SELECT DISTINCT substr("{column}", 4, 8) FROM "{table_name}" '
                f'WHERE "{column}" IS NOT NULL'
            )
        )
        key_ids.update(row[0] for row in rows if row[0])
    return counts, revision, sorted(key_ids)


async def _count_tables(database_url: str) -> dict[str, int]:
    engine = _plain_engine(database_url)
    try:
        async with engine.connect() as conn:
            counts, _, _ = await inventory(conn)
        return counts
    except (OSError, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        raise BackupFailed(N_("Cannot open the database: %(error)s"), error=reason) from exc
    finally:
        await engine.dispose()


def _data_rows(counts: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in counts.items() if n and name not in SCHEMA_TABLES}


def _file_count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _new_folder(output_dir: Path, now: datetime) -> tuple[Path, Path]:
    """A fresh timestamped name (a suffix when two backups share a second) and its
    ``.partial`` working folder, created."""
    output_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = output_dir / f"{PREFIX}{stamp}"
    n = 2
    while candidate.exists() or Path(str(candidate) + PARTIAL).exists():
        candidate = output_dir / f"{PREFIX}{stamp}-{n}"
        n += 1
    partial = Path(str(candidate) + PARTIAL)
    partial.mkdir(mode=0o700)
    partial.chmod(0o700)  # whatever the umask: a backup holds every customer's data
    return candidate, partial


def _seal(partial: Path, final: Path, manifest: Manifest) -> None:
    """Write the manifest, then give the folder its final name: now it counts as a backup."""
    (partial / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    private_tree(partial)
    partial.rename(final)


def private_tree(folder: Path) -> None:
    """Owner-only modes on a folder and everything in it (0700 folders, 0600 files)."""
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


async def _run_tool(args: list[str], env: dict[str, str], tool: str) -> None:
    """Run pg_dump/pg_restore without blocking the event loop; failures become BackupFailed."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )
    except OSError as exc:
        raise BackupFailed(
            N_("%(tool)s could not be started: %(error)s"), tool=tool, error=str(exc)
        ) from exc
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupFailed(
            N_("%(tool)s failed: %(error)s"),
            tool=tool,
            error=stderr.decode(errors="replace").strip()[-2000:],
        )


def _which(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BackupFailed(
            N_("%(tool)s is not installed; install the PostgreSQL client tools."), tool=tool
        )
    return path


# --- backup ---------------------------------------------------------------------------------


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the online backup API (one consistent step)."""
    if not source.exists():
        raise BackupFailed(N_("The database file %(path)s does not exist."), path=str(source))
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step, under one read transaction
        # A self-contained file: no -wal/-shm companions needed to read it.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


async def _backup_sqlite(
    database_url: str, folder: Path
) -> tuple[dict[str, int], str | None, list[str]]:
    target = folder / SQLITE_FILE
    await asyncio.to_thread(_sqlite_copy, sqlite_path(database_url), target)
    # The manifest describes the copy itself, not the live file that kept changing.
    engine = _plain_engine(f"sqlite+aiosqlite:///{target}")
    try:
        async with engine.connect() as conn:
            return await inventory(conn)
    finally:
        await engine.dispose()


async def _backup_postgresql(
    database_url: str, folder: Path
) -> tuple[dict[str, int], str | None, list[str]]:
    pg_dump = _which("pg_dump")
    target, env = libpq_target(database_url)
    engine = _plain_engine(database_url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                # Count and dump the very same snapshot: pg_dump joins it with --snapshot.
                snapshot = await conn.scalar(text("SELECT pg_export_snapshot()"))
                found = await inventory(conn)
                await _run_tool(
                    [
                        pg_dump,
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot}",
                        f"--file={folder / PG_FILE}",
                        f"--dbname={target}",
                    ],
                    env,
                    "pg_dump",
                )
        return found
    finally:
        await engine.dispose()


async def create_backup(
    database_url: str,
    *,
    output_dir: Path,
    data_dir: Path,
    encryption_keys: tuple[str, ...] = (),
    now: datetime | None = None,
) -> BackupResult:
    """Back up the database (and attachments) into a new timestamped folder in ``output_dir``."""
    now = now or utcnow()
    backend = backend_of(database_url)
    final, partial = _new_folder(output_dir, now)
    try:
        if backend == "sqlite":
            counts, revision, used = await _backup_sqlite(database_url, partial)
        else:
            counts, revision, used = await _backup_postgresql(database_url, partial)
        for name in FILE_FOLDERS:
            if (data_dir / name).is_dir():
                await asyncio.to_thread(shutil.copytree, data_dir / name, partial / name)
        copied = _file_count(partial / ATTACHMENTS)
        manifest = Manifest(
            kefu_version=kefu_version(),
            backend=backend,
            database_file=SQLITE_FILE if backend == "sqlite" else PG_FILE,
            created_at=now.astimezone(UTC).isoformat(),
            alembic_revision=revision,
            tables=counts,
            # Ids only: the keys themselves stay out of backups (keep them separately).
            encryption_key_ids=used,
            attachments=copied,
        )
        _seal(partial, final, manifest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(final, manifest)


# --- restore --------------------------------------------------------------------------------


def resolve_backup(path: Path) -> Path:
    """Accept the backup folder or its manifest.json."""
    path = path.expanduser().resolve()
    return path.parent if path.name == MANIFEST else path


async def existing_data(database_url: str, data_dir: Path) -> dict[str, int]:
    """Tables (and the attachments folder) that already hold something, with their counts."""
    found: dict[str, int] = {}
    if not (backend_of(database_url) == "sqlite" and not sqlite_path(database_url).exists()):
        found.update(_data_rows(await _count_tables(database_url)))
    files = _file_count(data_dir / ATTACHMENTS)
    if files:
        found[ATTACHMENTS] = files
    return found


def _sqlite_restore(source: Path, target: Path) -> None:
    """Replace the target database's content with the backup's, page by page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(target, os.O_RDWR | os.O_CREAT, 0o600))  # owner-only from the start
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")  # the app's mode
    finally:
        dst.close()
        src.close()


async def _restore_postgresql(dump: Path, database_url: str) -> None:
    pg_restore = _which("pg_restore")
    target, env = libpq_target(database_url)
    # --clean --if-exists: the dump's tables replace an empty schema made by `kefu db upgrade`;
    # --single-transaction: a failed restore leaves the database as it was.
    await _run_tool(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={target}",
            str(dump),
        ],
        env,
        "pg_restore",
    )


async def restore_backup(
    source: Path,
    database_url: str,
    *,
    data_dir: Path,
    encryption_keys: tuple[str, ...] = (),
    force: bool = False,
) -> RestoreResult:
    """Restore a backup into an empty database, then prove every table's count matches.

    A database that holds data is refused unless ``force`` is given; the app should be
    stopped while restoring.
    """
    folder = resolve_backup(source)
    manifest = Manifest.read(folder)
    backend = backend_of(database_url)
    if manifest.backend != backend:
        raise ValidationFailed(
            N_("This backup is of a %(backup)s database; the target is %(target)s."),
            backup=manifest.backend,
            target=backend,
        )
    dump = folder / manifest.database_file
    if not dump.is_file():
        raise ValidationFailed(N_("The backup file %(path)s is missing."), path=str(dump))
    if not force:
        found = await existing_data(database_url, data_dir)
        if found:
            listed = ", ".join(f"{name} ({n})" for name, n in sorted(found.items())[:8])
            raise Conflict(
                N_(
                    "The target database is not empty: %(tables)s. Restore into an empty "
                    "database, or pass --force to overwrite it."
                ),
                tables=listed,
            )
    if backend == "sqlite":
        await asyncio.to_thread(_sqlite_restore, dump, sqlite_path(database_url))
    else:
        await _restore_postgresql(dump, database_url)
    for name in FILE_FOLDERS:
        if (folder / name).is_dir():
            await asyncio.to_thread(
                shutil.copytree, folder / name, data_dir / name, dirs_exist_ok=True
            )
    copied = _file_count(folder / ATTACHMENTS)
    counts = await _count_tables(database_url)
    differences = {
        name: (expected, counts.get(name))
        for name, expected in manifest.tables.items()
        if counts.get(name) != expected
    }
    if differences:
        listed = ", ".join(
            f"{name}: {want} → {got}" for name, (want, got) in sorted(differences.items())[:8]
        )
        raise BackupFailed(
            N_("The restored database does not match the backup: %(tables)s"), tables=listed
        )
    missing = sorted(set(manifest.encryption_key_ids) - set(key_ids_of(encryption_keys)))
    return RestoreResult(manifest, counts, missing, copied)


# --- retention and the schedule ---------------------------------------------------------------


def list_backups(directory: Path) -> list[Path]:
    """Finished backups in ``directory``, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_dir()
        and p.name.startswith(PREFIX)
        and not p.name.endswith(PARTIAL)
        and (p / MANIFEST).is_file()
    )


def prune(directory: Path, keep: int, *, now: datetime | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` backups, and leftovers of crashed ones (> 1 day)."""
    removed: list[Path] = []
    backups = list_backups(directory)
    for old in backups[: max(len(backups) - max(keep, 1), 0)]:
        shutil.rmtree(old)
        removed.append(old)
    cutoff = (now or utcnow()) - timedelta(days=1)
    for partial in directory.glob(f"{PREFIX}*{PARTIAL}") if directory.is_dir() else []:
        if from_system(partial.stat().st_mtime) < cutoff:
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


def recent_backup(directory: Path, now: datetime, within: timedelta) -> Path | None:
    """The newest finished backup younger than ``within`` (makes the weekly job idempotent)."""
    for folder in reversed(list_backups(directory)):
        try:
            created = datetime.fromisoformat(Manifest.read(folder).created_at)
        except (ValidationFailed, ValueError):
            continue
        if now - within < created <= now + timedelta(minutes=5):
            return folder
    return None


async def scheduled_backup(
    database_url: str,
    *,
    backups_dir: Path,
    data_dir: Path,
    encryption_keys: tuple[str, ...],
    keep: int,
    now: datetime | None = None,
) -> BackupResult | None:
    """The weekly backup: skipped if one was taken in the last 12 hours, then old ones pruned."""
    now = now or utcnow()
    if recent_backup(backups_dir, now, timedelta(hours=12)) is not None:
        prune(backups_dir, keep, now=now)
        return None
    result = await create_backup(
        database_url,
        output_dir=backups_dir,
        data_dir=data_dir,
        encryption_keys=encryption_keys,
        now=now,
    )
    prune(backups_dir, keep, now=now)
    return result
