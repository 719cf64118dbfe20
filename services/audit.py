"""The audit log: every state change appended with actor, time, before and after, hash-chained
per tenant, and the verifier behind `ducha audit verify`.

Hash of a row (documented so that anyone can re-check a log without this code):

    hash = sha256_hex(utf8(prev_hash + canonical))

where `prev_hash` is the previous row's `hash` in the same tenant (64 zeros for seq 1) and
`canonical` is the JSON object

    {"action", "actor_id", "after", "at", "before", "seq", "subject_id", "subject_type", "tenant_id"}

serialised with sorted keys, separators "," and ":" (no whitespace), non-ASCII characters
as themselves (ensure_ascii off), `at` as UTC ISO 8601 with microseconds
("2025-03-01T08:00:00.123456+00:00"). `before`/`after` are first normalised by `jsonable`:
dates, times, decimals, floats, UUIDs and bytes become strings (jsonb would rewrite a float
such as 1e+20 as 100000000000000000000 and the hash would no longer match), sets become
sorted lists. What is hashed is exactly what is stored, so verification reads it back as is.

Each tenant's last (seq, hash) is also kept in `audit_head`, which appends lock and move, so
a cut tail shows as well. A chain without a secret still yields to someone who rewrites every
later hash and the head; copy `head()` somewhere the database's writers cannot reach
(a daily report, a notary) if that matters.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Text, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base

GENESIS = "0" * 64
BATCH = 5_000
# How far (in seq) a moved row is looked for when its hash fits another position. Only rows
# whose link is broken are searched this way, so the cost follows the damage, not the size.
REORDER_WINDOW = 1_000


class AuditEntry(Base):
    __tablename__ = "audit_log"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[int] = mapped_column(BigInteger)
    # none_as_null: "no before" is SQL NULL, not the JSON literal null
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    prev_hash: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class Finding:
    """One fault in a tenant's chain; kind is 'altered', 'removed' or 'reordered'."""

    # Not called Problem: a problem is the domain's 问题 (services/problems).

    tenant_id: int
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"tenant {self.tenant_id} seq {self.seq}: {self.kind}: {self.detail}"


# ---------------------------------------------------------------------------------------------
# Canonical form


def jsonable(value: Any) -> Any:
    """Turn a value into plain JSON types that survive a jsonb round trip unchanged."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and friends become plain ints
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if _is_mapped(value) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return snapshot(value)
    return str(value)


def _is_mapped(obj: Any) -> bool:
    return hasattr(type(obj), "__mapper__")


def snapshot(obj: Any) -> dict[str, Any]:
    """A JSON-safe dict of an ORM object's loaded columns, a dataclass or a mapping."""
    if obj is None:
        raise TypeError("snapshot(None): pass before=None instead")
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if _is_mapped(obj):
        state = sa_inspect(obj)
        unloaded = state.unloaded
        # Only what is loaded: touching an expired attribute would lazy-load, which an
        # AsyncSession refuses (MissingGreenlet).
        return {
            attr.key: jsonable(state.dict.get(attr.key))
            for attr in state.mapper.column_attrs
            if attr.key not in unloaded
        }
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    raise TypeError(f"cannot snapshot {type(obj).__name__}")


def _at_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(*, tenant_id: int, seq: int, at: datetime, actor_id: int | None, action: str,
              subject_type: str, subject_id: int, before: Any, after: Any) -> str:
    """The canonical JSON text that, after the previous hash, is hashed for one row."""
    return json.dumps(
        {
            "action": action, "actor_id": actor_id, "after": after, "at": _at_text(at),
            "before": before, "seq": seq, "subject_id": subject_id, "subject_type": subject_type,
            "tenant_id": tenant_id,
        },
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    )


def chain_hash(prev_hash: str, canonical_text: str) -> str:
    return hashlib.sha256((prev_hash + canonical_text).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing

# The chain's head row (audit_head: no RLS, so a target unit acting on a higher office's item
# can append to that office's chain without reading its log). The upsert creates it on first
# use and locks it in either case; a concurrent appender waits here and then sees the head
# as the previous holder committed it (READ COMMITTED re-reads a row it waited for), so the
# chain cannot fork. clock_timestamp() is read after the lock: `at` never runs backwards
# along a chain, whatever the API hosts' clocks say.
_HEAD = text(
    "INSERT INTO audit_head AS h (tenant_id, seq, hash) VALUES (:t, 0, :genesis)"
    " ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq"
    " RETURNING h.seq, h.hash, clock_timestamp() AS now"
)
_APPEND = text(
    "WITH head AS (UPDATE audit_head SET seq = :seq, hash = :hash WHERE tenant_id = :t)"
    " INSERT INTO audit_log (tenant_id, seq, at, actor_id, action, subject_type, subject_id, before, after,"
    " prev_hash, hash) VALUES (:t, :seq, :at, :actor, :action, :stype, :sid, CAST(:before AS jsonb),"
    " CAST(:after AS jsonb), :prev, :hash)"
)


def _json_param(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, allow_nan=False)


async def record(session: AsyncSession, *, tenant_id: int, actor_id: int | None, action: str,
                 subject_type: str, subject_id: int, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> int:
    """Append one entry to the tenant's chain in the caller's transaction; returns its seq."""
    # The chain's head stays locked until the caller commits: call this late in the
    # transaction. Needs READ COMMITTED (the default); under REPEATABLE READ a concurrent
    # append makes this fail with a serialization error, never fork the chain.
    head_ = (await session.execute(_HEAD, {"t": tenant_id, "genesis": GENESIS})).one()
    seq = head_.seq + 1
    at: datetime = head_.now  # timestamptz keeps the microseconds that are hashed
    before_j = None if before is None else jsonable(before)
    after_j = None if after is None else jsonable(after)
    digest = chain_hash(head_.hash, canonical(
        tenant_id=tenant_id, seq=seq, at=at, actor_id=actor_id, action=action,
        subject_type=subject_type, subject_id=subject_id, before=before_j, after=after_j,
    ))
    await session.execute(_APPEND, {
        "t": tenant_id, "seq": seq, "at": at, "actor": actor_id, "action": action, "stype": subject_type,
        "sid": subject_id, "before": _json_param(before_j), "after": _json_param(after_j),
        "prev": head_.hash, "hash": digest,
    })
    return seq


async def history(session: AsyncSession, subject_type: str, subject_id: int, tenant_id: int,
                  *, limit: int | None = None) -> list[AuditEntry]:
    """The entries about one subject in seq order (oldest first)."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id, AuditEntry.subject_type == subject_type,
               AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.seq)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars())


async def head(session: AsyncSession, tenant_id: int) -> tuple[int, str]:
    """The tenant's chain head (last seq, its hash); (0, 64 zeros) when the chain is empty."""
    row = (await session.execute(
        text("SELECT seq, hash FROM audit_head WHERE tenant_id = :t"), {"t": tenant_id})).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


# ---------------------------------------------------------------------------------------------
# Verifying


@dataclass(slots=True)
class _Row:
    seq: int
    at: datetime
    actor_id: int | None
    action: str
    subject_type: str
    subject_id: int
    before: Any
    after: Any
    prev_hash: str
    hash: str


@dataclass(slots=True)
class _Prev:
    seq: int
    written: int  # the seq the row was hashed with (a guess when the row is altered)
    hash: str
    flagged: bool


class ChainChecker:
    """Checks one tenant's rows fed in stored seq order, in memory bounded by the window."""

    # Each row's written seq is the seq its hash verifies with: its stored seq when intact, a
    # nearby one when it was moved or renumbered, unknown when its content was changed. The
    # written seqs should be 1, 2, 3, ... in order. One never seen is a removed row (known once
    # the scan is `window` rows past it: no later row can still claim it); a row met before
    # rows written earlier than it is a reordered one.

    def __init__(self, tenant_id: int, window: int = REORDER_WINDOW) -> None:
        self.tenant_id = tenant_id
        self.window = window
        self.findings: list[Finding] = []
        self.rows = 0
        self._prev: _Prev | None = None
        self._low = 1  # every written seq below is accounted for (seen, or reported missing)
        self._seen: set[int] = set()  # written seqs seen, all >= _low
        self._open: list[int] | None = None  # the missing range being extended, [first, last]
        self._missing: list[tuple[int, int]] = []  # recent missing ranges, for _deferred
        # Rows that jumped ahead of rows not yet seen: (stored, written, first, last). Moved,
        # if the seqs they skipped turn up later; renumbered after a removal, if they never do.
        self._deferred: list[tuple[int, int, int, int]] = []

    def _add(self, seq: int, kind: str, detail: str) -> None:
        self.findings.append(Finding(self.tenant_id, seq, kind, detail))

    def feed(self, row: _Row) -> None:
        self.rows += 1
        prev = self._prev
        s = row.seq
        link_ok = row.prev_hash == (prev.hash if prev else GENESIS)
        offset = (prev.written - prev.seq) if prev else 0
        text_ = canonical(
            tenant_id=self.tenant_id, seq=s, at=row.at, actor_id=row.actor_id, action=row.action,
            subject_type=row.subject_type, subject_id=row.subject_id, before=row.before, after=row.after,
        )
        written = self._written_seq(row, s, text_, offset, search=not link_ok)
        flagged = written is None
        if written is None:
            self._add(s, "altered", "its content no longer matches its hash")
            written = s + offset  # a guess, so that one altered row is not also a removed one
        expected = prev.written + 1 if prev else 1

        if written == expected:
            if not link_ok and not flagged and not (prev and prev.flagged):
                if prev is None:
                    self._add(s, "removed", "the first row is chained to a row that is not in the log")
                else:
                    self._add(prev.seq, "altered",
                              f"rewritten and re-hashed: seq {s} was chained to a different hash")
        elif not flagged:
            if written < self._low or written in self._seen:
                self._add(s, "altered", f"a copy of another row (written as seq {written})")
            elif written < expected:
                if written != s:
                    self._add(s, "reordered", f"written as seq {written}, stored at seq {s}")
            elif written != s:
                skipped = [w for w in range(max(expected, self._low), written) if w not in self._seen]
                if skipped:
                    self._deferred.append((s, written, skipped[0], skipped[-1]))

        self._seen.add(written)
        self._prev = _Prev(s, written, row.hash, flagged)
        # A later row (stored seq > s) is only ever matched to written seqs > s - window.
        self._advance(s - self.window)

    def _written_seq(self, row: _Row, s: int, text_: str, offset: int, *, search: bool) -> int | None:
        if chain_hash(row.prev_hash, text_) == row.hash:
            return s
        # `"seq":N,` occurs once at the top level: every later key is an int or a JSON string,
        # in which a quote is always escaped, so the last occurrence is the one to replace.
        head_, _, tail_ = text_.rpartition(f',"seq":{s},')

        def fits(c: int) -> bool:
            return c >= 1 and chain_hash(row.prev_hash, f'{head_},"seq":{c},{tail_}') == row.hash

        if offset and fits(s + offset):
            return s + offset  # a run of rows renumbered together: one try each
        if search:
            for d in range(1, self.window + 1):
                for c in (s + d, s - d):
                    if c != s + offset and fits(c):
                        return c
        return None

    def _advance(self, bound: int) -> None:
        while self._low <= bound:
            if self._low in self._seen:
                self._seen.discard(self._low)
                self._close()
                self._low += 1
                continue
            nxt = min((w for w in self._seen if w > self._low), default=None)
            last = bound if nxt is None else min(nxt - 1, bound)
            if self._open and self._open[1] == self._low - 1:
                self._open[1] = last
            else:
                self._close()
                self._open = [self._low, last]
            self._low = last + 1
        self._resolve()

    def _close(self) -> None:
        if self._open is None:
            return
        a, b = self._open
        self._open = None
        self._add(a, "removed", f"the row written as seq {a} is missing" if a == b
                  else f"the rows written as seq {a}..{b} are missing")
        self._missing.append((a, b))

    def _covered(self, a: int, b: int) -> bool:
        ranges = sorted([*self._missing, *([tuple(self._open)] if self._open else [])])
        for lo, hi in ranges:
            if lo <= a <= hi:
                a = hi + 1
        return a > b

    def _resolve(self) -> None:
        keep = []
        for s, w, a, b in self._deferred:
            if b >= self._low:
                keep.append((s, w, a, b))
            elif not self._covered(a, b):
                self._add(s, "reordered", f"written as seq {w}, stored at seq {s}")
            # else: the rows it skipped are gone and it was renumbered; "removed" says so
        self._deferred = keep
        if len(self._missing) > 64:
            floor = min((a for _, _, a, _ in keep), default=self._low)
            self._missing = [(a, b) for a, b in self._missing if b >= floor]

    @property
    def last(self) -> tuple[int, str] | None:
        """(written seq, hash) of the last row fed."""
        return (self._prev.written, self._prev.hash) if self._prev else None

    def finish(self) -> list[Finding]:
        """Account for what is still open and return the findings in seq order."""
        if self._seen:
            self._advance(max(self._seen))
        self._close()
        self._resolve()
        return sorted(self.findings, key=lambda f: (f.seq, f.kind))


_BATCH_SQL = text(
    "SELECT seq, at, actor_id, action, subject_type, subject_id, before, after, prev_hash, hash"
    " FROM audit_log WHERE tenant_id = :t AND seq > :after AND seq <= :upto ORDER BY seq LIMIT :n"
)
# One statement, one snapshot: rows appended meanwhile moved the head along with them.
_BEYOND = text(
    "SELECT (SELECT max(seq) FROM audit_log WHERE tenant_id = :t) AS top,"
    " (SELECT seq FROM audit_head WHERE tenant_id = :t) AS head"
)
_NO_LIMIT = 2**63 - 1


async def verify_tenant(session: AsyncSession, tenant_id: int, *, batch: int = BATCH,
                        window: int = REORDER_WINDOW) -> list[Finding]:
    """Check one tenant's chain, reading it in keyset-paged batches of `batch` rows."""
    checker = ChainChecker(tenant_id, window)
    # The head first: rows appended while the scan runs lie beyond it and are left alone.
    h = (await session.execute(
        text("SELECT seq, hash FROM audit_head WHERE tenant_id = :t"), {"t": tenant_id})).first()
    upto = h.seq if h else _NO_LIMIT
    after = 0
    while True:
        rows = (await session.execute(
            _BATCH_SQL, {"t": tenant_id, "after": after, "upto": upto, "n": batch})).all()
        for r in rows:
            checker.feed(_Row(r.seq, r.at, r.actor_id, r.action, r.subject_type, r.subject_id,
                              r.before, r.after, r.prev_hash, r.hash))
        if len(rows) < batch:
            break
        after = rows[-1].seq
    findings = checker.finish()
    # The head is what lets a cut tail show: the chain alone cannot tell it from a short one.
    last = checker.last
    if h is None:
        if last is not None:
            findings.append(Finding(tenant_id, last[0], "removed", "the chain's head row (audit_head) is missing"))
    elif last is None or h.seq > last[0]:
        first = (last[0] + 1) if last else 1
        span = f"seq {first}" if first == h.seq else f"seq {first}..{h.seq}"
        findings.append(Finding(tenant_id, first, "removed", f"the head is at seq {h.seq}: {span} missing at the end"))
    elif h.seq == last[0] and h.hash != last[1]:
        findings.append(Finding(tenant_id, h.seq, "altered", "the last row's hash differs from the head's"))
    elif h.seq < last[0]:
        findings.append(Finding(tenant_id, h.seq, "altered", f"the head is at seq {h.seq} but later rows were written"))
    if h is not None:
        beyond = (await session.execute(_BEYOND, {"t": tenant_id})).one()
        if beyond.top is not None and beyond.top > beyond.head:
            findings.append(Finding(tenant_id, beyond.head + 1, "altered",
                                    f"rows up to seq {beyond.top} lie beyond the head (seq {beyond.head}):"
                                    " written without moving it"))
    return sorted(findings, key=lambda f: (f.seq, f.kind))


async def verify(session: AsyncSession, tenant_id: int | None = None, *,
                 batch: int = BATCH) -> list[Finding]:
    """Check every visible tenant's chain (or one); an empty list means the log is intact."""
    if tenant_id is not None:
        tenants = [tenant_id]
    else:
        # The tenant table is small; `SELECT DISTINCT tenant_id FROM audit_log` would read the
        # whole log once more just to learn which chains exist.
        tenants = list((await session.execute(text("SELECT id FROM tenant ORDER BY id"))).scalars())
    findings: list[Finding] = []
    for t in tenants:
        findings.extend(await verify_tenant(session, t, batch=batch))
    return findings
