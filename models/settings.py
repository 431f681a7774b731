"""Settings read once from the environment (``KEFU_*``), cached for the process.

Reading settings never creates files or connects anywhere; the few things that must exist on
disk (the data directory, a generated encryption key) are made by :func:`ensure_runtime_files`,
which the CLI and the app factory call explicitly.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Folders of the data directory that hold records (backed up with the database).
ATTACHMENTS_FOLDER = "attachments"
MAIL_QUARANTINE_FOLDER = "mail-quarantine"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def _retrieval_model(raw: str | None) -> str | None:
    """KEFU_RETRIEVAL_MODEL: unset → multilingual-e5-small; "same" → the classifier's model."""
    if not raw:
        return "multilingual-e5-small"
    return None if raw.lower() == "same" else raw


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class SmtpSettings:
    """The team's SMTP server (``KEFU_SMTP_*``): notifications by email, and customer mail from
    mailboxes that name no SMTP server of their own. Without a host, nothing is sent."""

    host: str = ""
    port: int = 25
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = "kefu@localhost"
    starttls: bool = False
    ssl: bool = False


@dataclass(frozen=True)
class DeliverySettings:
    """Retries of notification deliveries and outgoing mail (``KEFU_NOTIFY_*``).

    ``backoff_seconds`` is the first retry's wait; each further retry doubles it, up to
    ``backoff_max_seconds``; after ``max_attempts`` failed attempts the message is abandoned.
    """

    max_attempts: int = 5
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    # Hosts an admin trusts as webhook targets (an internal relay, a test receiver): plain
    # http is accepted for them and their addresses are not refused as private
    # (``KEFU_NOTIFY_ALLOW_HOSTS``, comma-separated).
    allow_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """All runtime configuration. See the table in README.md."""

    data_dir: Path
    database_url: str
    redis_url: str
    secret_key: str
    encryption_keys: tuple[str, ...]
    embedding_model: str | None
    timezone: str
    default_locale: str
    queue_name: str
    event_channel: str
    secure_cookies: bool
    debug: bool
    base_url: str
    retrain_after_labels: int
    portal_rate_limit: int
    # Live chat: the first-response target a waiting chat is escalated after (seconds).
    description_max_length: int
    argon2_time_cost: int
    argon2_memory_kib: int
    attachment_max_bytes: int
    attachment_ticket_max_bytes: int
    attachment_storage_url: str
    mail_from: str
    mail_poll_seconds: int
    mail_max_bytes: int
    survey_expiry_days: int
    backup_keep: int
    smtp: SmtpSettings
    delivery: DeliverySettings
    sign_in_max_failures: int
    sign_in_max_failures_ip: int
    sign_in_window_minutes: int
    encryption_key_file: Path = field(repr=False)
    # Where embeddings of the shipped bootstrap corpus are kept (KEFU_EMBEDDING_CACHE_DIR):
    # keyed by embedder and data digest, so processes (and installations) may share one.
    embedding_cache: Path | None = None
    # Embedding model of knowledge-base retrieval (KEFU_RETRIEVAL_MODEL): multilingual by
    # default; None ("same") uses the classifier's (KEFU_EMBEDDING_MODEL) for both.
    retrieval_model: str | None = "multilingual-e5-small"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def embedding_cache_dir(self) -> Path:
        return self.embedding_cache or self.models_dir / "cache"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / ATTACHMENTS_FOLDER

    @property
    def mail_quarantine_dir(self) -> Path:
        return self.data_dir / MAIL_QUARANTINE_FOLDER


def _load() -> Settings:
    data_dir = Path(_env("KEFU_DATA_DIR") or REPO_ROOT / "var").resolve()
    database_url = _env("KEFU_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'kefu.db'}"
    # Plain URLs from ops tooling name no async driver; pick ours.
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    elif database_url.startswith("sqlite:///"):
        database_url = "sqlite+aiosqlite:///" + database_url.split(":///", 1)[1]
    key_file = data_dir / "encryption.key"
    raw_keys = _env("KEFU_ENCRYPTION_KEY")
    keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
    if not keys and key_file.exists():
        keys = tuple(line.strip() for line in key_file.read_text().splitlines() if line.strip())
    secret = _env("KEFU_SECRET_KEY")
    if not secret:
        secret_file = data_dir / "secret.key"
        secret = secret_file.read_text().strip() if secret_file.exists() else ""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=_env("KEFU_REDIS_URL") or "redis://127.0.0.1:6379/0",
        secret_key=secret,
        encryption_keys=keys,
        embedding_model=_env("KEFU_EMBEDDING_MODEL") or None,
        retrieval_model=_retrieval_model(_env("KEFU_RETRIEVAL_MODEL")),
        timezone=_env("KEFU_TIMEZONE") or "Asia/Shanghai",
        default_locale=_env("KEFU_DEFAULT_LOCALE") or "zh_CN",
        queue_name=_env("KEFU_QUEUE") or "kefu:queue",
        event_channel=_env("KEFU_EVENT_CHANNEL") or "kefu:events",
        secure_cookies=_env_bool("KEFU_SECURE_COOKIES", False),
        debug=_env_bool("KEFU_DEBUG", False),
        base_url=(_env("KEFU_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        retrain_after_labels=_env_int("KEFU_RETRAIN_AFTER_LABELS", 20),
        portal_rate_limit=_env_int("KEFU_PORTAL_RATE_LIMIT", 10),
        description_max_length=_env_int("KEFU_DESCRIPTION_MAX_LENGTH", 5000),
        argon2_time_cost=_env_int("KEFU_ARGON2_TIME_COST", 3),
        argon2_memory_kib=_env_int("KEFU_ARGON2_MEMORY_KIB", 65536),
        attachment_max_bytes=_env_int("KEFU_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        attachment_ticket_max_bytes=_env_int("KEFU_ATTACHMENT_TICKET_MAX_BYTES", 50 * 1024 * 1024),
        # Empty: files under <data_dir>/attachments. s3://bucket/prefix?endpoint=https://… for
        # an S3-compatible store shared by several web processes.
        attachment_storage_url=_env("KEFU_ATTACHMENT_STORAGE_URL"),
        mail_from=_env("KEFU_MAIL_FROM") or "support@kefu.localhost",
        mail_poll_seconds=_env_int("KEFU_MAIL_POLL_SECONDS", 60),
        mail_max_bytes=_env_int("KEFU_MAIL_MAX_BYTES", 25 * 1024 * 1024),
        survey_expiry_days=max(_env_int("KEFU_SURVEY_EXPIRY_DAYS", 14), 1),
        backup_keep=max(_env_int("KEFU_BACKUP_KEEP", 8), 1),
        smtp=SmtpSettings(
            host=_env("KEFU_SMTP_HOST"),
            port=_env_int("KEFU_SMTP_PORT", SmtpSettings.port),
            user=_env("KEFU_SMTP_USER"),
            # Not stripped: a password may end in a space.
            password=os.environ.get("KEFU_SMTP_PASSWORD", ""),
            sender=_env("KEFU_SMTP_FROM") or SmtpSettings.sender,
            starttls=_env_bool("KEFU_SMTP_STARTTLS", False),
            ssl=_env_bool("KEFU_SMTP_SSL", False),
        ),
        delivery=DeliverySettings(
            max_attempts=max(
                _env_int("KEFU_NOTIFY_MAX_ATTEMPTS", DeliverySettings.max_attempts), 1
            ),
            backoff_seconds=_env_float(
                "KEFU_NOTIFY_BACKOFF_SECONDS", DeliverySettings.backoff_seconds
            ),
            backoff_max_seconds=_env_float(
                "KEFU_NOTIFY_BACKOFF_MAX_SECONDS", DeliverySettings.backoff_max_seconds
            ),
            allow_hosts=tuple(
                h.strip().lower().strip("[]")
                for h in (_env("KEFU_NOTIFY_ALLOW_HOSTS") or "").split(",")
                if h.strip()
            ),
        ),
        sign_in_max_failures=max(_env_int("KEFU_SIGN_IN_MAX_FAILURES", 5), 1),
        sign_in_max_failures_ip=max(_env_int("KEFU_SIGN_IN_MAX_FAILURES_IP", 30), 1),
        sign_in_window_minutes=max(_env_int("KEFU_SIGN_IN_WINDOW_MINUTES", 15), 1),
        encryption_key_file=key_file,
        embedding_cache=Path(cache).resolve()
        if (cache := _env("KEFU_EMBEDDING_CACHE_DIR"))
        else None,
    )


def encryption_keys_in_env() -> bool:
    """Whether the keyring comes from ``KEFU_ENCRYPTION_KEY`` rather than the key file. Read
    live: the key commands run with the environment of their own invocation."""
    return bool(_env("KEFU_ENCRYPTION_KEY"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return _load()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment before first use)."""
    get_settings.cache_clear()


def ensure_runtime_files() -> Settings:
    """Create the data directory and any missing secrets, warning when one is generated.

    Generated secrets live in the data directory so a second run reuses them; production
    deployments set ``KEFU_SECRET_KEY`` and ``KEFU_ENCRYPTION_KEY`` instead.
    """
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = False
    if not settings.encryption_keys:
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        settings.encryption_key_file.write_text(key + "\n")
        settings.encryption_key_file.chmod(0o600)
        print(
            f"WARNING: KEFU_ENCRYPTION_KEY is unset; generated a key in "
            f"{settings.encryption_key_file}. Back it up: without it, contact details "
            "cannot be decrypted.",
            file=sys.stderr,
        )
        changed = True
    if not settings.secret_key:
        secret_file = settings.data_dir / "secret.key"
        secret_file.write_text(secrets.token_urlsafe(48) + "\n")
        secret_file.chmod(0o600)
        changed = True
    if changed:
        reset_settings()
    return get_settings()
