"""Where attachment bytes live: a content-addressed blob store behind one small interface.

Blobs are named by their SHA-256, so the same file uploaded twice is stored once and a name
can never point outside the store. ``LocalStorage`` keeps them under the data directory
(``ab/cd/<sha>``, written atomically: temp file, fsync, rename); ``S3Storage`` keeps them in
an S3-compatible bucket for several web processes. boto3 and the file system are blocking, so
every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

from models.clock import from_system
from models.settings import Settings

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
TEMP_PREFIX = ".tmp-"


class BlobMissing(LookupError):
    """The row names a blob the store does not hold (lost, or removed by hand)."""


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    modified_at: datetime


def blob_name(sha256: str) -> str:
    """``ab/cd/<sha>``: the relative name of a blob; refuses anything but a hex digest."""
    if not SHA_RE.match(sha256 or ""):
        raise ValueError("not a SHA-256 hex digest")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class Storage(Protocol):
    """The four operations attachments need, plus a listing for the orphan sweep."""

    async def put(self, sha256: str, data: bytes) -> None: ...

    async def get(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...

    async def blobs(self) -> list[BlobInfo]: ...


def private_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` (under ``root``) and every folder between, owner-only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for part in (folder, *folder.parents):
        if part.stat().st_mode & 0o077:
            part.chmod(0o700)
        if part == root or root not in part.parents:
            break


class LocalStorage:
    """Blobs in a folder (by default ``<data_dir>/attachments``, which backups copy)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / blob_name(sha256)

    def _put(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        private_dirs(self.root, target.parent)
        temp = target.parent / f"{TEMP_PREFIX}{sha256[:8]}-{secrets.token_hex(6)}"
        try:
            # Customers' files: readable by the service's own account only.
            with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, target)  # readers see the old blob or the whole new one
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    def _blobs(self) -> list[BlobInfo]:
        found: list[BlobInfo] = []
        if not self.root.is_dir():
            return found
        for path in self.root.glob("??/??/*"):
            if path.is_file() and (SHA_RE.match(path.name) or path.name.startswith(TEMP_PREFIX)):
                found.append(BlobInfo(path.name, from_system(path.stat().st_mtime)))
        return found

    def _delete(self, name: str) -> None:
        if name.startswith(TEMP_PREFIX):  # a write that died half-way
            for path in self.root.glob(f"??/??/{name}"):
                path.unlink(missing_ok=True)
            return
        self.path(name).unlink(missing_ok=True)

    async def put(self, sha256: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, sha256, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self._delete, sha256)

    async def blobs(self) -> list[BlobInfo]:
        return await asyncio.to_thread(self._blobs)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1``."""
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URL: {url!r}")
    query = parse_qs(parts.query)
    return S3Location(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=next(iter(query.get("endpoint", [])), None),
        region=next(iter(query.get("region", [])), None),
    )


class S3Storage:
    """Blobs in an S3-compatible bucket; credentials from the standard AWS environment."""

    def __init__(self, location: S3Location, client: Any = None) -> None:
        self.location = location
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # only installations that use S3 pay for importing it

            self._client = boto3.client(
                "s3", endpoint_url=self.location.endpoint, region_name=self.location.region
            )
        return self._client

    def key(self, sha256: str) -> str:
        name = blob_name(sha256)
        return f"{self.location.prefix}/{name}" if self.location.prefix else name

    def _is_missing(self, exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def _get(self, sha256: str) -> bytes:
        try:
            reply = self.client.get_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except Exception as exc:
            if self._is_missing(exc):
                raise BlobMissing(sha256) from None
            raise
        body: bytes = reply["Body"].read()
        return body

    def _exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except Exception as exc:
            if self._is_missing(exc):
                return False
            raise
        return True

    def _blobs(self) -> list[BlobInfo]:
        prefix = f"{self.location.prefix}/" if self.location.prefix else ""
        found: list[BlobInfo] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"]).rsplit("/", 1)[-1]
                if SHA_RE.match(name):
                    found.append(BlobInfo(name, item["LastModified"].astimezone(UTC)))
        return found

    async def put(self, sha256: str, data: bytes) -> None:
        # A single PUT is atomic in S3: readers never see half an object.
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.location.bucket, Key=self.key(sha256), Body=data
        )

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self._exists, sha256)

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.location.bucket, Key=self.key(sha256)
        )

    async def blobs(self) -> list[BlobInfo]:
        return await asyncio.to_thread(self._blobs)


@lru_cache(maxsize=4)
def _storage(url: str, root: str) -> Storage:
    if url.startswith("s3://"):
        return S3Storage(parse_s3_url(url))
    if url:
        raise ValueError(f"unsupported attachment storage URL: {url!r}")
    return LocalStorage(Path(root))


def storage_for(settings: Settings) -> Storage:
    """The configured store (one per URL and folder, so the S3 client is made once)."""
    return _storage(settings.attachment_storage_url or "", str(settings.attachments_dir))
