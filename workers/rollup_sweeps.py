"""The roll-ups' day: once the date in China changes, move `rollup_clock` so that problems past
their due date count as overdue (the facts of exactly those problems are refreshed)."""

from __future__ import annotations

import logging

from ducha.db import Database
from ducha.services import calendar_store, rollups
from ducha.workers.scheduler import periodic

log = logging.getLogger(__name__)


@periodic("rollup_clock", 300)
async def rollup_clock(db: Database) -> int:
    """Idempotent: nothing happens until the day changes; then one set-based refresh."""
    async with db.system_session() as s:
        moved = await rollups.set_today(s, calendar_store.today())
    if moved:
        log.info("roll-up clock moved: %s problem(s) refreshed", moved)
    return moved
