"""``kefu backup`` and ``kefu restore``: operations commands, registered on the main CLI group.

They read the same settings as the app (``KEFU_DATABASE_URL``, ``KEFU_DATA_DIR``, …) and call
:mod:`models.services.admin.backup`, which the weekly worker job uses too. Imports happen when a
command runs, so ``kefu --help`` stays instant.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from models.settings import get_settings


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.command("backup")
@click.option(
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write the backup into (default: KEFU_DATA_DIR/backups)",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Afterwards keep only the newest N backups in that folder",
)
def backup_command(output: Path | None, keep: int | None) -> None:
    """Back up the database, its manifest and the attachments into a timestamped folder."""
    from models.services.admin import backup
    from models.services.common.errors import DomainError

    settings = get_settings()
    target = (output or settings.backups_dir).expanduser().resolve()
    try:
        result = asyncio.run(
            backup.create_backup(
                settings.database_url,
                output_dir=target,
                data_dir=settings.data_dir,
                encryption_keys=settings.encryption_keys,
            )
        )
    except DomainError as exc:
        raise _fail(exc) from exc
    manifest = result.manifest
    rows = sum(manifest.tables.values())
    click.echo(f"backup written to {result.path}")
    click.echo(
        f"  {len(manifest.tables)} tables, {rows} rows, {manifest.attachments} attachments;"
        f" revision {manifest.alembic_revision or '-'}"
    )
    if manifest.encryption_key_ids:
        click.echo(
            "  contacts encrypted with key id(s) "
            f"{', '.join(manifest.encryption_key_ids)}: keep those keys safe, apart "
            "from the backup (it does not contain them)"
        )
    if keep is not None:
        for removed in backup.prune(target, keep):
            click.echo(f"  removed old backup {removed.name}")


def _forget_cached_reports(redis_url: str, channel: str) -> None:
    """The cached report figures describe the database before the restore: move every
    counter they are kept under on."""
    import redis as redis_lib

    from models.db import report_days_key, reports_generation_key

    try:
        client = redis_lib.Redis.from_url(redis_url, socket_connect_timeout=2)
        client.incr(reports_generation_key(channel))
        client.hincrby(report_days_key(channel), "all", 1)
        client.close()
    except Exception:
        click.echo(
            "warning: Redis unreachable: cached report figures expire within 6 hours", err=True
        )


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a database that already holds data")
def restore_command(path: Path, force: bool) -> None:
    """Restore the backup at PATH (its folder or manifest.json) into an empty database.

    Stop the web app and the worker first. Every table's row count is checked against the
    backup's manifest afterwards.
    """
    from models.services.admin import backup
    from models.services.common.errors import DomainError

    settings = get_settings()
    try:
        result = asyncio.run(
            backup.restore_backup(
                path,
                settings.database_url,
                data_dir=settings.data_dir,
                encryption_keys=settings.encryption_keys,
                force=force,
            )
        )
    except DomainError as exc:
        raise _fail(exc) from exc
    _forget_cached_reports(settings.redis_url, settings.event_channel)
    manifest = result.manifest
    click.echo(
        f"restored the backup of {manifest.created_at} (Kefu {manifest.kefu_version}): "
        f"{len(result.tables)} tables, {sum(result.tables.values())} rows, "
        f"{result.attachments} attachments; every count matches the manifest"
    )
    if manifest.alembic_revision:
        click.echo(
            f"  schema revision {manifest.alembic_revision}: run `kefu db upgrade` if "
            "this version of Kefu is newer"
        )
    if result.missing_key_ids:
        click.echo(
            "WARNING: contact details were encrypted with key id(s) "
            f"{', '.join(result.missing_key_ids)}, which the configured keys "
            "(KEFU_ENCRYPTION_KEY or KEFU_DATA_DIR/encryption.key) do not include; "
            "add those keys or the contacts cannot be read.",
            err=True,
        )


@click.group("attachments")
def attachments_group() -> None:
    """Attachment storage maintenance."""


@attachments_group.command("sweep")
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Leave blobs younger than this (their upload may still be committing)",
)
def sweep_command(grace_hours: float) -> None:
    """Remove stored files that no attachment row references (left by failed uploads)."""
    from datetime import timedelta

    from models.db import Database
    from models.services.tickets import attachments

    async def sweep() -> list[str]:
        database = Database(get_settings().database_url)
        try:
            async with database.sessionmaker() as session:
                return await attachments.sweep_orphans(session, grace=timedelta(hours=grace_hours))
        finally:
            await database.dispose()

    removed = asyncio.run(sweep())
    click.echo(f"removed {len(removed)} unreferenced file(s)")


COMMANDS = (backup_command, restore_command, attachments_group)
