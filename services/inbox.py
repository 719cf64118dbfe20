"""The inbox as a user reads it: notifications addressed to the user or to one of its agencies,
unread until that user marks them read (a receipt per user, so one liaison reading an
agency's notice does not hide it from the others)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies import filters
from ducha.tenants.scope import Scope

# No RETURNING and no conflict target: the writer often may not read the row it addresses to
# another agency (RLS would refuse RETURNING); the unique dedup_key still makes it idempotent.
_NOTIFY = text(
    "INSERT INTO notification (tenant_id, user_id, agency_id, kind, title, body, subject_type, subject_id, dedup_key)"
    " VALUES (:tenant_id, :user_id, :agency_id, :kind, :title, :body, :subject_type, :subject_id, :dedup_key)"
    " ON CONFLICT DO NOTHING"
)


async def notify(
    session: AsyncSession,
    *,
    tenant_id: int,
    kind: str,
    title: str,
    dedup_key: str,
    body: str = "",
    user_id: int | None = None,
    agency_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
) -> None:
    """Add a notification in the caller's transaction unless its dedup_key exists (idempotent)."""
    await session.execute(
        _NOTIFY,
        {"tenant_id": tenant_id, "user_id": user_id, "agency_id": agency_id, "kind": kind, "title": title[:500],
         "body": body[:4000], "subject_type": subject_type, "subject_id": subject_id, "dedup_key": dedup_key[:300]},
    )


@dataclass(frozen=True)
class Item:
    id: int
    tenant_id: int
    kind: str
    title: str
    body: str
    subject_type: str | None
    subject_id: int | None
    agency_id: int | None
    created_at: datetime
    read_at: datetime | None


def _mine(scope: Scope) -> tuple[str, dict[str, object]]:
    if not filters.enabled():
        return "true", {}
    return ("(n.user_id = :uid OR n.agency_id = ANY(CAST(:aids AS bigint[])))",
            {"uid": scope.user_id, "aids": sorted(scope.agency_ids)})


_READ = ("(SELECT r.read_at FROM notification_read r WHERE r.tenant_id = n.tenant_id"
         " AND r.notification_id = n.id AND r.user_id = :uid)")


async def unread_count(session: AsyncSession, scope: Scope) -> int:
    cond, params = _mine(scope)
    sql = f"SELECT count(*) FROM notification n WHERE {cond} AND {_READ} IS NULL"
    return int((await session.execute(text(sql), {**params, "uid": scope.user_id})).scalar_one())


async def page(session: AsyncSession, scope: Scope, *, first: int, before_id: int | None,
               unread_only: bool) -> tuple[list[Item], bool]:
    """Newest first, `first` at a time, strictly older than `before_id`; (items, has_more)."""
    cond, params = _mine(scope)
    where = [cond]
    if before_id is not None:
        where.append("n.id < :before")
        params["before"] = before_id
    if unread_only:
        where.append(f"{_READ} IS NULL")
    sql = (f"SELECT n.id, n.tenant_id, n.kind, n.title, n.body, n.subject_type, n.subject_id, n.agency_id,"
           f" n.created_at, {_READ} AS read_at FROM notification n WHERE {' AND '.join(where)}"
           f" ORDER BY n.id DESC LIMIT :n")
    rows = (await session.execute(text(sql), {**params, "uid": scope.user_id, "n": first + 1})).all()
    items = [Item(**r._mapping) for r in rows[:first]]
    return items, len(rows) > first


async def count(session: AsyncSession, scope: Scope, *, unread_only: bool) -> int:
    if unread_only:
        return await unread_count(session, scope)
    cond, params = _mine(scope)
    return int((await session.execute(text(f"SELECT count(*) FROM notification n WHERE {cond}"), params)).scalar_one())


async def mark_read(session: AsyncSession, scope: Scope, ids: list[int] | None) -> int:
    """Mark the given notifications (or all, with None) read for the caller; returns how many
    were newly marked. Ids the caller cannot see are ignored."""
    cond, params = _mine(scope)
    where = [cond]
    if ids is not None:
        where.append("n.id = ANY(CAST(:ids AS bigint[]))")
        params["ids"] = ids
    sql = (f"INSERT INTO notification_read (tenant_id, notification_id, user_id)"
           f" SELECT n.tenant_id, n.id, :uid FROM notification n WHERE {' AND '.join(where)}"
           f" ON CONFLICT DO NOTHING")
    return (await session.execute(text(sql), {**params, "uid": scope.user_id})).rowcount  # type: ignore[attr-defined,no-any-return]
