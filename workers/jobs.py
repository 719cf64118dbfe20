"""Running one outbox job exactly once in effect, and recording failures and dead letters."""

from __future__ import annotations

import logging

from sqlalchemy import text

from ducha.db import Database
from ducha.workers import escalation_handlers  # noqa: F401 - registers the ladder's handlers
from ducha.workers import document_handlers  # noqa: F401 - registers the document and export handlers
from ducha.workers.handlers import HANDLERS

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class UnknownJob(Exception):
    pass


async def run_job(db: Database, tenant_id: int, outbox_id: int) -> str:
    """Apply an outbox row once: 'done', 'skipped' (already done or dead), or raise to retry."""
    try:
        async with db.system_session() as s:
            row = (
                await s.execute(
                    text("SELECT actor, payload, done_at, dead_at FROM outbox"
                         " WHERE tenant_id = :t AND id = :i FOR UPDATE"),
                    {"t": tenant_id, "i": outbox_id},
                )
            ).first()
            if row is None or row.done_at is not None or row.dead_at is not None:
                return "skipped"
            fn = HANDLERS.get(row.actor)
            if fn is None:
                raise UnknownJob(f"no handler for outbox actor {row.actor!r}")
            await fn(s, tenant_id, outbox_id, row.payload)
            await s.execute(
                text("UPDATE outbox SET done_at = now(), attempts = attempts + 1, last_error = NULL"
                     " WHERE tenant_id = :t AND id = :i"),
                {"t": tenant_id, "i": outbox_id},
            )
        return "done"
    except Exception as e:
        async with db.system_session() as s:
            await s.execute(
                text("UPDATE outbox SET attempts = attempts + 1, last_error = :err,"
                     " dead_at = CASE WHEN attempts + 1 >= :max OR :unknown THEN now() END"
                     " WHERE tenant_id = :t AND id = :i AND done_at IS NULL"),
                {"t": tenant_id, "i": outbox_id, "err": f"{type(e).__name__}: {e}"[:2000],
                 "max": MAX_ATTEMPTS, "unknown": isinstance(e, UnknownJob)},
            )
        log.warning("outbox job %s/%s failed: %s", tenant_id, outbox_id, e)
        if isinstance(e, UnknownJob):
            return "dead"
        raise
