"""Dramatiq actors; each calls into services through an outbox row. `ducha worker` loads this."""

from __future__ import annotations

import asyncio

import dramatiq

from ducha import tracing
from ducha.db import Database
from ducha.settings import get_settings
from ducha.workers.broker import get_broker
from ducha.workers.jobs import run_job

get_broker()
tracing.configure(get_settings(), "ducha-worker")
_db: Database | None = None
_db_loop: asyncio.AbstractEventLoop | None = None


def _database() -> Database:
    # asyncpg connections belong to the loop that opened them: a worker started again in the
    # same process (a new AsyncIO middleware loop) must not reuse the old loop's pool.
    global _db, _db_loop
    loop = asyncio.get_running_loop()
    if _db is None or _db_loop is not loop:
        _db, _db_loop = Database.from_settings(), loop
    return _db


@dramatiq.actor(queue_name="ducha", max_retries=5, min_backoff=500, max_backoff=30_000)
async def run_outbox(tenant_id: int, outbox_id: int) -> None:
    """Apply one outbox row (idempotent: a duplicate delivery finds it done)."""
    with tracing.job_span("outbox job", **{"ducha.tenant_id": tenant_id, "ducha.outbox_id": outbox_id}):
        await run_job(_database(), tenant_id, outbox_id)
