"""Stored files and evidence slots: blobs content-addressed by SHA-256 in a backend (a local
folder by default, S3-compatible optionally), rows in `stored_file`, versioned `evidence`
slots per problem instance, frozen once acceptance passes.

Configuration (environment, read when used):
- FILES_BACKEND: `local` (default; blobs under <DATA_DIR>/files) or `s3`;
- FILES_S3_BUCKET, FILES_S3_ENDPOINT: the bucket and, for a non-AWS store, its URL
  (credentials and region come from boto3's usual chain: AWS_ACCESS_KEY_ID, ...);
- FILES_MAX_BYTES: the largest file accepted (default 20 MiB).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import BigInteger, DateTime, Identity, Text, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base
from ducha.services.errors import ConflictError, DomainError, InvalidInput, NotFoundError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_NAME = 200
MAX_SLOT = 100
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$")


class StoredFile(Base):
    __tablename__ = "stored_file"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sha256: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    storage_key: Mapped[str] = mapped_column(Text)
    # set when a target unit uploads for an item addressed to it (RLS lets it see its own)
    agency_id: Mapped[int | None] = mapped_column(BigInteger)
    target_tenant_id: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Evidence(Base):
    __tablename__ = "evidence"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigInteger)
    measure_id: Mapped[int | None] = mapped_column(BigInteger)
    agency_id: Mapped[int] = mapped_column(BigInteger)
    target_tenant_id: Mapped[int] = mapped_column(BigInteger)
    slot: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    file_id: Mapped[int] = mapped_column(BigInteger)
    frozen: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FileIntegrityError(DomainError):
    """A stored blob is missing or no longer has the SHA-256 recorded for it."""

    code = "INTEGRITY"


# ---------------------------------------------------------------------------------------------
# Backends (synchronous; the service runs them in a thread so the event loop never blocks)


@runtime_checkable
class FileBackend(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def storage_key(sha256: str) -> str:
    """The content address of a blob: `ab/cd/<sha256>`."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _check_key(key: str) -> str:
    # Keys are made by storage_key(); anything else (`..`, absolute paths) never reaches a path.
    if not _KEY.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalBackend:
    """Blobs as files under `root`, written atomically (temp file, fsync, rename, fsync dir)."""

    CHUNK = 1 << 20

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The temp file sits in the target's folder so the rename stays on one file system
        # (atomic); readers see the old blob or the whole new one, never a part.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                self._write(f, data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        self._fsync_dir(target.parent)

    def _write(self, f: Any, data: bytes) -> None:
        view = memoryview(data)
        for i in range(0, len(view), self.CHUNK):
            f.write(view[i:i + self.CHUNK])

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        # The rename is durable only once the directory entry is on disk.
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


class S3Backend:
    """Blobs as objects in an S3-compatible bucket (boto3, the optional extra `ducha[s3]`)."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, *, prefix: str = "",
                 client: Any = None, **client_kwargs: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            try:
                import boto3
            except ImportError as e:  # an optional extra: say how to get it
                raise RuntimeError("FILES_BACKEND=s3 needs boto3: pip install 'ducha[s3]'") from e
            client = boto3.client("s3", endpoint_url=endpoint_url or None, **client_kwargs)
        self.client = client

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        # A single PUT is atomic in S3: an object is visible whole or not at all.
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as e:
            raise FileNotFoundError(key) from e
        return obj["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def get_backend() -> FileBackend:
    """The configured backend (FILES_BACKEND, FILES_S3_BUCKET, FILES_S3_ENDPOINT, DATA_DIR)."""
    from ducha.settings import get_settings

    kind = os.environ.get("FILES_BACKEND", "local").strip().lower() or "local"
    if kind == "local":
        return _backend("local", str(get_settings().data_dir / "files"), None)
    if kind == "s3":
        bucket = os.environ.get("FILES_S3_BUCKET", "").strip()
        if not bucket:
            raise RuntimeError("FILES_BACKEND=s3 needs FILES_S3_BUCKET")
        return _backend("s3", bucket, os.environ.get("FILES_S3_ENDPOINT", "").strip() or None)
    raise RuntimeError(f"FILES_BACKEND must be 'local' or 's3', not {kind!r}")


@lru_cache(maxsize=8)
def _backend(kind: str, where: str, endpoint: str | None) -> FileBackend:
    # Cached: a boto3 client takes tens of milliseconds to build and is thread-safe.
    return LocalBackend(Path(where)) if kind == "local" else S3Backend(where, endpoint)


def max_bytes() -> int:
    raw = os.environ.get("FILES_MAX_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError as e:
        raise RuntimeError(f"FILES_MAX_BYTES must be a number of bytes, not {raw!r}") from e
    if value <= 0:
        raise RuntimeError("FILES_MAX_BYTES must be positive")
    return value


# ---------------------------------------------------------------------------------------------
# What may be stored


def _zip_has(prefix: str) -> Callable[[bytes], bool]:
    def check(data: bytes) -> bool:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            # Reads the central directory only; nothing is decompressed.
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names)

    return check


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _ole_with(*streams: str) -> Callable[[bytes], bool]:
    # An OLE2 compound file (legacy Word/Excel); the directory names its main stream in UTF-16.
    marks = [s.encode("utf-16-le") for s in streams]
    return lambda data: data.startswith(_OLE) and any(m in data for m in marks)


def _is_zip(data: bytes) -> bool:
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)):
            return True
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def _is_text(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data.decode("utf-16")
            return True
        except UnicodeDecodeError:
            return False
    if b"\x00" in data:
        return False
    # UTF-8, or GB18030 for text saved by older Chinese Windows set-ups.
    for enc in ("utf-8", "gb18030"):
        try:
            data.decode(enc)
            return True
        except UnicodeDecodeError:
            pass
    return False


# content type -> (file name extensions, magic check)
TYPES: dict[str, tuple[tuple[str, ...], Callable[[bytes], bool]]] = {
    "application/pdf": ((".pdf",), lambda d: b"%PDF-" in d[:1024]),
    "image/jpeg": ((".jpg", ".jpeg"), lambda d: d.startswith(b"\xff\xd8\xff")),
    "image/png": ((".png",), lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ((".docx",), _zip_has("word/")),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ((".xlsx",), _zip_has("xl/")),
    "application/msword": ((".doc",), _ole_with("WordDocument")),
    "application/vnd.ms-excel": ((".xls",), _ole_with("Workbook", "Book")),
    "application/zip": ((".zip",), _is_zip),
    "text/plain": ((".txt",), _is_text),
}
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
}
_WINDOWS_RESERVED = str.maketrans({c: "_" for c in '<>:"|?*'})


def clean_name(name: str) -> str:
    """A safe display name: the last path part, no control or format characters, ≤ 200 chars."""
    if not isinstance(name, str):
        raise InvalidInput("name", "the file name must be text")
    # Browsers (and old IE) may send a path; only the last part is the name.
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    # Cc: control characters (NUL, newlines, ...); Cf: invisible format characters such as
    # U+202E RIGHT-TO-LEFT OVERRIDE, which makes "fdp.exe" display as "exe.pdf".
    base = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf"))
    base = " ".join(base.split()).translate(_WINDOWS_RESERVED).lstrip(".").strip()
    if not base:
        raise InvalidInput("name", "the file name is empty")
    if len(base) > MAX_NAME:
        raise InvalidInput("name", f"the file name is longer than {MAX_NAME} characters")
    return base


def check_content(name: str, content_type: str, data: bytes, *, limit: int | None = None) -> tuple[str, str]:
    """Validate an upload; returns (clean name, normalised content type) or raises InvalidInput."""
    limit = max_bytes() if limit is None else limit
    if not isinstance(data, bytes | bytearray):
        raise InvalidInput("data", "the file content must be bytes")
    if len(data) == 0:
        raise InvalidInput("data", "the file is empty")
    if len(data) > limit:
        raise InvalidInput("data", f"the file is larger than {limit} bytes")
    clean = clean_name(name)
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    declared = ALIASES.get(declared, declared)
    if declared not in TYPES:
        allowed = ", ".join(sorted({e for exts, _ in TYPES.values() for e in exts}))
        raise InvalidInput("contentType", f"files of type {declared or '(none)'} are not accepted; allowed: {allowed}")
    exts, sniff = TYPES[declared]
    if not clean.lower().endswith(exts):
        raise InvalidInput("name", f"a {declared} file must be named *{' or *'.join(exts)}")
    if not sniff(bytes(data)):
        raise InvalidInput("data", f"the content is not a {exts[0][1:].upper()} file")
    return clean, declared


# ---------------------------------------------------------------------------------------------
# Service


async def store(session: AsyncSession, *, tenant_id: int, uploaded_by: int | None, name: str,
                content_type: str, data: bytes, backend: FileBackend | None = None,
                agency_id: int | None = None, target_tenant_id: int | None = None) -> StoredFile:
    """Check and keep a file: the blob first, then its row (same content, same blob)."""
    clean, ctype = check_content(name, content_type, data)
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    key = storage_key(digest)
    be = backend or get_backend()
    # Blob before row: a row never points at nothing. If the transaction then rolls back the
    # blob stays unreferenced, which is harmless (a sweep may collect it); it is never deleted
    # here since another row may share the same content.
    await asyncio.to_thread(be.put, key, data)
    row = StoredFile(tenant_id=tenant_id, sha256=digest, size_bytes=len(data), content_type=ctype,
                     name=clean, storage_key=key, uploaded_by=uploaded_by, agency_id=agency_id,
                     target_tenant_id=target_tenant_id)
    session.add(row)
    await session.flush()
    return row


async def get_file(session: AsyncSession, tenant_id: int, file_id: int) -> StoredFile:
    row = await session.get(StoredFile, (tenant_id, file_id))
    if row is None:
        raise NotFoundError("file", str(file_id))
    return row


async def read(session: AsyncSession, tenant_id: int, file_id: int, *,
               backend: FileBackend | None = None) -> tuple[StoredFile, bytes]:
    """A stored file and its content, checked against the recorded SHA-256 and size."""
    row = await get_file(session, tenant_id, file_id)
    be = backend or get_backend()
    try:
        data = await asyncio.to_thread(be.get, row.storage_key)
    except FileNotFoundError as e:
        raise FileIntegrityError(f"file {file_id}: its stored content is missing") from e
    if len(data) != row.size_bytes or hashlib.sha256(data).hexdigest() != row.sha256:
        raise FileIntegrityError(f"file {file_id}: its stored content does not match its SHA-256")
    return row, data


def _evidence_lock_key(tenant_id: int, instance_id: int) -> int:
    digest = hashlib.blake2b(f"ducha.evidence:{tenant_id}:{instance_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock_instance(session: AsyncSession, tenant_id: int, instance_id: int) -> None:
    # add_evidence and freeze of one instance take turns: without it a new version could be
    # committed beside a freeze and stay unfrozen after acceptance passed.
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                          {"k": _evidence_lock_key(tenant_id, instance_id)})


def _check_slot(slot: str) -> str:
    if not isinstance(slot, str):
        raise InvalidInput("slot", "the slot must be text")
    s = " ".join(unicodedata.normalize("NFC", slot).split())
    if not s:
        raise InvalidInput("slot", "the slot is empty")
    if len(s) > MAX_SLOT:
        raise InvalidInput("slot", f"the slot is longer than {MAX_SLOT} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in s):
        raise InvalidInput("slot", "the slot contains control characters")
    return s


async def add_evidence(session: AsyncSession, *, tenant_id: int, instance_id: int, measure_id: int | None,
                       agency_id: int, target_tenant_id: int, slot: str, file: StoredFile | int) -> Evidence:
    """Put a file into an evidence slot of a problem instance as the slot's next version."""
    slot = _check_slot(slot)
    stored = file if isinstance(file, StoredFile) else await get_file(session, tenant_id, file)
    if stored.tenant_id != tenant_id:
        raise InvalidInput("file", "the file belongs to another tenant")
    if stored.agency_id is not None and stored.agency_id != agency_id:
        raise InvalidInput("file", "the file was uploaded for another unit")
    await _lock_instance(session, tenant_id, instance_id)
    inst = (await session.execute(
        text("SELECT agency_id, target_tenant_id, status FROM problem_instance WHERE tenant_id = :t AND id = :i"),
        {"t": tenant_id, "i": instance_id},
    )).first()
    if inst is None:
        raise NotFoundError("problem instance", str(instance_id))
    if inst.status == "closed":
        # acceptance passed: the evidence is final, in every slot, old or new
        raise ConflictError("the problem is closed out: its evidence is frozen")
    # agency_id/target_tenant_id decide who sees the row (RLS): they must be the instance's.
    if inst.agency_id != agency_id:
        raise InvalidInput("agencyId", "the agency is not the one the problem is addressed to")
    if inst.target_tenant_id != target_tenant_id:
        raise InvalidInput("targetTenantId", "the target tenant is not the problem's")
    if measure_id is not None:
        ok = (await session.execute(
            text("SELECT 1 FROM measure WHERE tenant_id = :t AND id = :m AND instance_id = :i"),
            {"t": tenant_id, "m": measure_id, "i": instance_id},
        )).first()
        if ok is None:
            raise InvalidInput("measureId", "no such rectification measure for this problem")
    latest = (await session.execute(
        select(Evidence.version, Evidence.frozen)
        .where(Evidence.tenant_id == tenant_id, Evidence.instance_id == instance_id, Evidence.slot == slot)
        .order_by(Evidence.version.desc()).limit(1)
    )).first()
    # A frozen version stays as it is for good; once look-back reopens the problem (a rebound),
    # rectification starts over and the slot takes new versions on top of the frozen ones.
    if latest is not None and latest.frozen and inst.status != "reopened":
        raise ConflictError(f"evidence slot {slot!r} is frozen: acceptance has passed")
    row = Evidence(tenant_id=tenant_id, instance_id=instance_id, measure_id=measure_id, agency_id=agency_id,
                   target_tenant_id=target_tenant_id, slot=slot, version=(latest.version if latest else 0) + 1,
                   file_id=stored.id, frozen=False)
    session.add(row)
    await session.flush()
    return row


async def freeze(session: AsyncSession, tenant_id: int, instance_id: int) -> int:
    """Freeze every evidence row of an instance (acceptance passed); returns how many changed."""
    await _lock_instance(session, tenant_id, instance_id)
    result = await session.execute(
        update(Evidence)
        .where(Evidence.tenant_id == tenant_id, Evidence.instance_id == instance_id, Evidence.frozen.is_(False))
        .values(frozen=True)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)


async def latest_evidence(session: AsyncSession, tenant_id: int, instance_id: int) -> list[Evidence]:
    """The latest version of each slot of an instance, by slot (code point order)."""
    stmt = (
        select(Evidence)
        .where(Evidence.tenant_id == tenant_id, Evidence.instance_id == instance_id)
        .order_by(Evidence.slot, Evidence.version.desc())
        .distinct(Evidence.slot)
    )
    # Sorted here, not by the database: its collation depends on the server's locale and the
    # list is hashed into sign-offs, so its order must not.
    return sorted((await session.execute(stmt)).scalars(), key=lambda e: e.slot)


async def evidence_hashes(session: AsyncSession, tenant_id: int, instance_id: int) -> list[str]:
    """SHA-256 of the latest version of each slot, in slot order (what a sign-off saw)."""
    rows = await session.execute(text(
        "SELECT DISTINCT ON (e.slot) e.slot, f.sha256 FROM evidence e"
        " JOIN stored_file f ON f.tenant_id = e.tenant_id AND f.id = e.file_id"
        " WHERE e.tenant_id = :t AND e.instance_id = :i ORDER BY e.slot, e.version DESC"
    ), {"t": tenant_id, "i": instance_id})
    return [sha for _, sha in sorted((r.slot, r.sha256) for r in rows)]
