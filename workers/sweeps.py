"""Periodic sweeps run by the leading scheduler: the escalation ladder every minute, the
calendar's years once an hour, and the outbox's health (dead letters) as metrics."""

from __future__ import annotations

import logging

from prometheus_client import Gauge
from sqlalchemy import text

from ducha.db import Database
from ducha.services import calendar_store, escalation
from ducha.workers.scheduler import periodic

log = logging.getLogger(__name__)

DEAD_LETTERS = Gauge("ducha_outbox_dead_letters", "Outbox jobs that failed for good (dead letters)")
PENDING = Gauge("ducha_outbox_pending", "Outbox jobs not yet done")
OLDEST_PENDING = Gauge("ducha_outbox_oldest_pending_seconds", "Age of the oldest outbox job not yet done")
ESCALATED = Gauge("ducha_escalation_last_sweep_rungs", "Rungs added by the last escalation sweep")


@periodic("escalation", 60)
async def escalation_sweep(db: Database) -> escalation.SweepResult:
    """Give every deadline whose next rung is due that rung (set-based, batch by batch)."""
    result = await escalation.sweep(db)
    ESCALATED.set(result.issued + result.proposed)
    if result.issued or result.proposed:
        log.info("escalation sweep: %s issued, %s proposed in %s passes", result.issued, result.proposed,
                 result.passes)
    return result


@periodic("calendar", 3600)
async def calendar_years(db: Database) -> list[int]:
    """Keep provisional years stored ahead, and take official ones from an upgraded package."""
    async with db.system_session() as s:
        return await calendar_store.ensure_years(s)


@periodic("outbox_health", 30)
async def outbox_health(db: Database) -> dict[str, float]:
    """Dead letters and backlog as gauges (the `deadLetters` query lists them)."""
    async with db.system_session() as s:
        row = (await s.execute(text(
            "SELECT count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,"
            " count(*) FILTER (WHERE dead_at IS NULL AND done_at IS NULL) AS pending,"
            " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE dead_at IS NULL AND done_at IS NULL)), 0)"
            " AS oldest FROM outbox WHERE done_at IS NULL"))).one()
    DEAD_LETTERS.set(row.dead)
    PENDING.set(row.pending)
    OLDEST_PENDING.set(float(row.oldest))
    return {"dead": row.dead, "pending": row.pending, "oldest_s": float(row.oldest)}
