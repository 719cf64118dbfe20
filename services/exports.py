"""Exports as background jobs: `request` files an `export_job` and its outbox row in the
caller's transaction; a worker `produce`s the .xlsx, stores it with its SHA-256 and marks
the job done; a download goes through a short-lived signed link (services/links.py).

Who may have the file: whoever may see every row in it. At request time the rows the
params choose are summed up as coverage keys (ledgers.Source.keys, on a system session)
and the requester's scope must see them all, or the request is refused (NotAllowed) - an
export is never silently trimmed to what one sees. The requester's scope and its
fingerprint are stored; the worker re-reads the rows and checks them against that scope
again (rows added meanwhile that the requester may not see fail the job); each download
re-checks the downloader's scope, as it is then, against the stored coverage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base
from ducha.policies.authz import NotAllowed
from ducha.services import access, audit, coverage, files, ledgers, links
from ducha.services.errors import InvalidInput, NotFoundError
from ducha.tenants.auth import load_identity
from ducha.tenants.principal import Principal
from ducha.tenants.scope import Scope

log = logging.getLogger(__name__)

PRODUCE = "export.produce"  # the outbox job
KINDS = tuple(ledgers.SOURCES)
MAX_ATTEMPTS = 5  # as workers.jobs: the last failing attempt marks the job failed


class ExportJob(Base):
    __tablename__ = "export_job"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str]
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(default="queued")
    progress: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int | None]
    requested_by: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    scope_fingerprint: Mapped[str]
    coverage: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    file_id: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None]
    error: Mapped[str | None]
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class NotCovered(NotAllowed):
    """The caller may export such data, but not see every row of this export."""


async def request(session: AsyncSession, system: Callable[[], Any], principal: Principal, scope: Scope, kind: str,
                  raw_params: dict[str, Any]) -> ExportJob:
    """File an export job for the caller, who must be able to see every row it will hold.

    `session` is the caller's (RLS-bound) transaction; `system()` opens a system session for
    summing up the rows beyond the caller's reach."""
    if kind not in ledgers.SOURCES:
        raise InvalidInput("kind", f"one of {', '.join(KINDS)}")
    source = ledgers.SOURCES[kind]
    async with system() as s:
        params = await ledgers.resolve(s, raw_params)
        ledgers.check_options(kind, params)
        access.require(principal, "export", source.resource, params.region_path)
        keys, total = await source.keys(s, params, scope)
    hidden = coverage.uncovered(scope, keys)
    if hidden:
        raise NotCovered("export", source.resource, params.region_path, user_id=principal.user_id,
                         roles=principal.roles)
    job = ExportJob(tenant_id=principal.tenant_id, kind=kind, params=params.stored(), status="queued", progress=0,
                    rows_total=total, requested_by=principal.user_id, scope=coverage.snapshot(scope),
                    scope_fingerprint=coverage.fingerprint(scope), coverage=coverage.pack(keys))
    session.add(job)
    await session.flush()
    # No RETURNING: the read-only overseer may add this one kind of outbox row (migration 0005).
    await session.execute(
        text("INSERT INTO outbox (tenant_id, actor, payload, dedup_key) VALUES (:t, :a, CAST(:p AS jsonb), :k)"),
        {"t": job.tenant_id, "a": PRODUCE, "p": f'{{"export_id": {job.id}}}', "k": f"{PRODUCE}:{job.id}"})
    await audit.record(session, tenant_id=job.tenant_id, actor_id=principal.user_id, action="export.request",
                       subject_type="export_job", subject_id=job.id, before=None,
                       after={"kind": kind, "params": job.params, "rows": total, "scope_fingerprint": job.scope_fingerprint})
    return job


async def _side(session: AsyncSession, sql: str, params: dict[str, Any]) -> None:
    """Write progress in a transaction of its own, so that it shows while the job runs."""
    async with AsyncSession(session.bind) as s, s.begin():
        await s.execute(text(sql), params)


def file_name(job: ExportJob, label: str, when: datetime) -> str:
    region = job.params.get("regionCode") or ""
    year = job.params.get("year")
    return f"{label}_{region}{'_' + str(year) if year else ''}_{when:%Y%m%d}_{job.id}.xlsx"


async def produce(session: AsyncSession, tenant_id: int, export_id: int) -> ExportJob | None:
    """Write the file of a job (a system session; the outbox row serializes runs of one job)."""
    job = (await session.execute(select(ExportJob).where(ExportJob.tenant_id == tenant_id,
                                                         ExportJob.id == export_id))).scalar_one_or_none()
    if job is None or job.status in ("done", "failed"):
        return job
    key = {"t": tenant_id, "i": export_id}
    await _side(session, "UPDATE export_job SET status = 'running', progress = 5, attempts = attempts + 1,"
                         " started_at = coalesce(started_at, now()), error = NULL WHERE tenant_id = :t AND id = :i", key)
    attempt = job.attempts + 1
    try:
        source = ledgers.SOURCES[job.kind]
        params = await ledgers.resolve(session, job.params)
        scope = coverage.scope_of(job.scope)
        who = None
        if source.per_requester:
            # figures counted as the requester sees them: as it is now, and only if unchanged
            login = (await session.execute(text("SELECT login FROM app_user WHERE id = :u"),
                                           {"u": job.requested_by})).scalar_one()
            ident = await load_identity(session, login)
            if coverage.fingerprint(ident.scope) != job.scope_fingerprint:
                return await _finish_failed(session, job, "the requester's reach changed since the request; ask again")
            who = (ident.principal, ident.scope)
        keys, _ = await source.keys(session, params, scope)
        if coverage.uncovered(scope, keys):
            return await _finish_failed(session, job, "rows were added since the request that its requester may not "
                                                      "see; ask again")

        async def progress(pct: int) -> None:
            await _side(session, "UPDATE export_job SET progress = :p WHERE tenant_id = :t AND id = :i",
                        {**key, "p": max(5, min(pct, 95))})

        sheets = await source.sheets(session, params, progress, who)
        total = len(sheets[0].rows) if sheets else 0
        await progress(85)
        requester = (await session.execute(text("SELECT name FROM app_user WHERE id = :u"),
                                           {"u": job.requested_by})).scalar_one()
        data = ledgers.write_xlsx(sheets, title=source.label, creator=requester)
        now = ledgers.now_utc()
        stored = await files.store(session, tenant_id=job.tenant_id, uploaded_by=job.requested_by,
                                   name=file_name(job, source.label, now), content_type=ledgers.XLSX, data=data)
        await session.execute(text(
            "UPDATE export_job SET status = 'done', progress = 100, rows_total = :n, coverage = CAST(:c AS jsonb),"
            " file_id = :f, sha256 = :s, size_bytes = :b, file_name = :name, finished_at = now(), error = NULL"
            " WHERE tenant_id = :t AND id = :i"),
            {**key, "n": total, "c": audit_json(coverage.pack(keys)), "f": stored.id, "s": stored.sha256,
             "b": stored.size_bytes, "name": stored.name})
    except InvalidInput as e:
        return await _finish_failed(session, job, e.message)
    except Exception as e:
        # a transient failure: the outbox retries; the last attempt leaves the job failed
        status = "failed" if attempt >= MAX_ATTEMPTS else "queued"
        await _side(session, "UPDATE export_job SET status = :s, error = :e,"
                             " finished_at = CASE WHEN :s = 'failed' THEN now() END WHERE tenant_id = :t AND id = :i",
                    {**key, "s": status, "e": f"{type(e).__name__}: {e}"[:1000]})
        raise
    return await get_system(session, tenant_id, export_id)


def audit_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _finish_failed(session: AsyncSession, job: ExportJob, reason: str) -> ExportJob | None:
    await session.execute(text("UPDATE export_job SET status = 'failed', error = :e, finished_at = now()"
                               " WHERE tenant_id = :t AND id = :i"), {"t": job.tenant_id, "i": job.id, "e": reason[:1000]})
    return await get_system(session, job.tenant_id, job.id)


async def get_system(session: AsyncSession, tenant_id: int, export_id: int) -> ExportJob | None:
    stmt = select(ExportJob).where(ExportJob.tenant_id == tenant_id, ExportJob.id == export_id)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def get(session: AsyncSession, export_id: int) -> ExportJob:
    job = (await session.execute(select(ExportJob).where(ExportJob.id == export_id)
                                 .execution_options(populate_existing=True))).scalar_one_or_none()
    if job is None:
        raise NotFoundError("ExportJob", str(export_id))
    return job


def may_download(scope: Scope, stored_coverage: Any, fingerprint: str | None = None) -> bool:
    """The downloader's scope, as it is now, sees every row (or is the scope the rows were checked for)."""
    if fingerprint is not None and fingerprint == coverage.fingerprint(scope):
        return True
    return coverage.covers(scope, stored_coverage)


def link(kind: str, tenant_id: int, id: int, login: str) -> str:
    return links.url(links.sign(kind, tenant_id, id, login))

