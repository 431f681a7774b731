"""``kefu apikey`` and ``kefu keys``: API keys for other channels, and contact-key rotation.

Key rotation without downtime (keys in ``KEFU_DATA_DIR/encryption.key``)::

    kefu keys status            # which key protects how many contacts
    kefu keys rotate            # new key first in the ring, every row re-encrypted + re-hashed
    kefu keys prune             # once status shows nothing under old keys: drop them

While rotation runs the app keeps working: decryption accepts any key of the ring, lookups
try every key's hash, and running processes re-read the key file when it changes. With keys
in ``KEFU_ENCRYPTION_KEY`` the operator edits the variable instead (see ``kefu keys rotate
--help``). Imports happen when a command runs, so ``kefu --help`` stays instant.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from models.settings import encryption_keys_in_env, get_settings, reset_settings

T = TypeVar("T")


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one committed unit of work."""
    from models.db import Database, unit_of_work

    async def main() -> T:
        db = Database(get_settings().database_url)
        try:
            async with unit_of_work(db) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _domain_errors(func: Callable[..., None]) -> Callable[..., None]:
    """Show a domain error (validation, not found) as a CLI error, not a traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from models.services.common.errors import DomainError

        try:
            func(*args, **kwargs)
        except DomainError as exc:
            details = "; ".join(f"{k}: {v}" for k, v in getattr(exc, "fields", {}).items())
            raise click.ClickException(f"{exc} {details}".strip()) from exc

    return wrapper


# --- kefu apikey ------------------------------------------------------------------------


@click.group("apikey")
def apikey() -> None:
    """API keys for other channels calling /api/v1."""


@apikey.command("create")
@click.argument("name")
@_domain_errors
def apikey_create(name: str) -> None:
    """Create a key for the client NAME and print it (it is shown only this once)."""
    from models.services.admin import api_keys
    from models.services.common.actor import Actor

    view, raw = _run(lambda s: api_keys.create(s, Actor.system("cli"), name))
    click.echo(f"created API key #{view.id} for {view.name} (prefix {view.prefix})")
    click.echo("store it now; only its hash is kept:")
    click.echo(raw)


@apikey.command("list")
def apikey_list() -> None:
    """List keys (prefix, name, state, last use)."""
    from models.services.admin import api_keys

    for key in _run(api_keys.list_keys):
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"#{key.id:<4} {key.prefix}…  {key.name:<30} {state:<24} last used {used}")


@apikey.command("revoke")
@click.argument("key")
@_domain_errors
def apikey_revoke(key: str) -> None:
    """Revoke KEY (its #id or its prefix); requests with it get 401 at once."""
    from models.services.admin import api_keys
    from models.services.common.actor import Actor

    async def work(session: Any) -> Any:
        found = await api_keys.find_by_prefix(session, key.lstrip("#"))
        return await api_keys.revoke(session, Actor.system("cli"), found.id)

    view = _run(work)
    click.echo(f"revoked API key #{view.id} ({view.prefix}…, {view.name})")


# --- kefu keys --------------------------------------------------------------------------


def _write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(keys) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    reset_settings()


def _print_usage() -> int:
    from models.services.customers import registry

    usage = _run(registry.key_usage)
    in_env = encryption_keys_in_env()
    source = "KEFU_ENCRYPTION_KEY" if in_env else str(get_settings().encryption_key_file)
    click.echo(f"keyring ({source}):")
    for key_id in usage.ring:
        role = "primary" if key_id == usage.primary else "old"
        click.echo(f"  {key_id}  {role:<8} {usage.counts.get(key_id, 0)} ciphertexts")
    unknown = {k: n for k, n in usage.counts.items() if k not in usage.ring}
    for key_id, n in unknown.items():
        click.echo(f"  {key_id}  MISSING  {n} ciphertexts cannot be decrypted", err=True)
    click.echo(f"{usage.stale} ciphertexts still under an old key")
    return usage.stale


@click.group("keys")
def keys() -> None:
    """Encryption keys of customer contact details."""


@keys.command("status")
def keys_status() -> None:
    """Show the keyring and how many contacts each key protects."""
    _print_usage()


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key (for KEFU_ENCRYPTION_KEY)."""
    from models.services.common.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000))
@click.option(
    "--no-new-key",
    is_flag=True,
    help="Only re-encrypt under the current first key (KEFU_ENCRYPTION_KEY users: "
    "after putting the new key first).",
)
def keys_rotate(batch_size: int, no_new_key: bool) -> None:
    """Put a new key first in the ring and re-encrypt every contact under it.

    With keys in the data directory this adds the key itself. With KEFU_ENCRYPTION_KEY:
    add a key from `kefu keys generate` at the END of the variable and restart the app and
    worker; then move it to the FRONT and restart again; then run this with --no-new-key.
    Every process can read both keys throughout, so nothing stops.
    """
    from models.services.admin import twofactor
    from models.services.common.crypto import generate_key
    from models.services.customers import registry

    if not no_new_key:
        if encryption_keys_in_env():
            raise click.ClickException(
                "KEFU_ENCRYPTION_KEY is set: put the new key first in it yourself "
                "(see --help), then run `kefu keys rotate --no-new-key`"
            )
        settings = get_settings()
        new = generate_key()
        _write_key_file(settings.encryption_key_file, [new, *settings.encryption_keys])
        click.echo(
            f"new primary key {registry.ring_ids()[0]} written to "
            f"{settings.encryption_key_file}; older keys kept after it"
        )

    def batch_from(start: int) -> Callable[[Any], Awaitable[tuple[int, int | None]]]:
        async def batch(session: Any) -> tuple[int, int | None]:
            return await registry.reencrypt_batch(session, after_id=start, limit=batch_size)

        return batch

    after_id, total = 0, 0
    while True:
        changed, last = _run(batch_from(after_id))  # one transaction per batch: short locks
        total += changed
        if last is None:
            break
        after_id = last
        click.echo(f"  … customers up to #{after_id}: {total} re-encrypted")
    surveys = 0
    while n := _run(lambda s: registry.reencrypt_survey_contacts(s, limit=batch_size)):
        surveys += n
    secrets = 0
    while n := _run(lambda s: twofactor.reencrypt_secrets(s, limit=batch_size)):
        secrets += n
    click.echo(f"re-encrypted {total} customers and {surveys} survey contacts")
    click.echo(f"re-encrypted {secrets} two-factor secrets")
    if _print_usage() == 0:
        click.echo("every contact is under the primary key; `kefu keys prune` drops old keys")
    else:
        click.echo(
            "some rows were written with an old key meanwhile: run "
            "`kefu keys rotate --no-new-key` again"
        )


@keys.command("prune")
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the removed keys to this file (backups made before the rotation "
    "need them to restore contacts)",
)
def keys_prune(archive: Path | None) -> None:
    """Remove old keys that no stored contact uses any more."""
    from models.services.customers import registry

    usage = _run(registry.key_usage)
    settings = get_settings()
    ring = list(zip(usage.ring, settings.encryption_keys, strict=True))
    unused = [(kid, key) for kid, key in ring[1:] if usage.counts.get(kid, 0) == 0]
    if not unused:
        click.echo("no unused old keys")
        return
    if encryption_keys_in_env():
        click.echo(
            "unused old keys (remove them from KEFU_ENCRYPTION_KEY, then restart): "
            + ", ".join(kid for kid, _ in unused)
        )
        return
    if archive is not None:
        with archive.open("a") as fh:
            fh.write("".join(key + "\n" for _, key in unused))
        archive.chmod(0o600)
    kept = [key for kid, key in ring if (kid, key) not in unused]
    _write_key_file(settings.encryption_key_file, kept)
    click.echo(
        "removed old keys "
        + ", ".join(kid for kid, _ in unused)
        + ("" if archive else " (backups made before the rotation need them)")
    )


COMMANDS = [apikey, keys]
