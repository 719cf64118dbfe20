"""The scheduler: exactly one acts at a time (a PostgreSQL advisory lock held on a dedicated
connection), however many are started; it relays the outbox and runs periodic sweeps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ducha.db import Database
from ducha.workers.relay import dramatiq_sender, relay_once

log = logging.getLogger(__name__)

LOCK_KEY = 0x6475636861  # 'ducha'

Periodic = tuple[str, float, Callable[[Database], Awaitable[object]]]
PERIODIC: list[Periodic] = []  # (name, every seconds, job); sweeps register here


def periodic(name: str, every_s: float) -> Callable[[Callable[[Database], Awaitable[object]]], Callable[[Database], Awaitable[object]]]:
    def register(fn: Callable[[Database], Awaitable[object]]) -> Callable[[Database], Awaitable[object]]:
        PERIODIC.append((name, every_s, fn))
        return fn

    return register


async def try_lead(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar_one())


async def still_leading(conn: AsyncConnection) -> bool:
    """The lock lives as long as the connection; a broken connection means another may lead."""
    try:
        await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


async def run(db: Database, *, relay_every_s: float = 0.5, stop: asyncio.Event | None = None,
              send: Callable[[int, int], None] | None = None) -> None:
    """Run until `stop` is set: wait for leadership, then relay and run periodic jobs."""
    stop = stop or asyncio.Event()
    send = send or dramatiq_sender()
    while not stop.is_set():
        try:
            async with db.system.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                while not stop.is_set() and not await try_lead(conn):
                    await _sleep(stop, 2.0)
                if stop.is_set():
                    return
                log.info("scheduler: leading")
                try:
                    await _lead(db, conn, stop, send, relay_every_s)
                finally:
                    # The lock belongs to the session: a pooled connection would keep it held.
                    try:
                        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    except Exception:  # noqa: BLE001 - broken: never hand it back to the pool
                        await conn.invalidate()
        except Exception:  # noqa: BLE001 - PostgreSQL away: back off and try again
            log.warning("scheduler lost its connection; retrying", exc_info=True)
            await _sleep(stop, 2.0)


async def _lead(db: Database, conn: AsyncConnection, stop: asyncio.Event, send: Callable[[int, int], None],
                relay_every_s: float) -> None:
    last: dict[str, float] = {}
    while not stop.is_set() and await still_leading(conn):
        try:
            await relay_once(db, send)
        except Exception:  # noqa: BLE001 - Redis away: rows stay unsent, retry
            log.warning("relay failed; retrying", exc_info=True)
        now = time.monotonic()
        for name, every, job in PERIODIC:
            if now - last.get(name, 0.0) >= every:
                last[name] = now
                try:
                    await job(db)
                except Exception:  # noqa: BLE001
                    log.exception("periodic job %s failed", name)
        await _sleep(stop, relay_every_s)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


# The sweeps register themselves with @periodic; imported last, as they import `periodic`.
from ducha.workers import sweeps  # noqa: E402,F401
from ducha.workers import rollup_sweeps  # noqa: E402,F401
