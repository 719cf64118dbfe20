"""Escalation sweep benchmark: 1,000,000 open deadlines, 10,000 of them due; how long until
every due item has its rung record and its notification.

``ducha bench sweep [--open N] [--due N] [--batch N]`` against DATABASE_URL (a scratch
database is created, migrated, seeded and dropped). The last line printed is one JSON
object: ``{"bench":"sweep","open":..,"due":..,"seconds":..}`` (plus details).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from sqlalchemy import text

from ducha.bench._scratch import bulk_deadlines, scratch_database


async def run(open_items: int, due: int, batch: int) -> dict[str, object]:
    async with scratch_database("ducha_bench_sweep"):
        from ducha.db import Database
        from ducha.services import calendar_store, escalation

        db = Database.from_settings()
        try:
            today = calendar_store.today()
            t0 = time.perf_counter()
            async with db.system_session() as s:
                await bulk_deadlines(s, total=open_items, due=due, today=today)
            async with db.system_session() as s:
                await s.execute(text("ANALYZE deadline"))
            setup_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = await escalation.sweep(db, today, batch=batch)
            seconds = time.perf_counter() - t1
            async with db.system_session() as s:
                row = (await s.execute(text(
                    "SELECT (SELECT count(*) FROM escalation) AS rungs,"
                    " (SELECT count(*) FROM notification WHERE subject_type = 'escalation') AS notices,"
                    " (SELECT count(*) FROM outbox WHERE actor = 'escalation.deliver') AS jobs,"
                    " (SELECT count(*) FROM deadline WHERE closed_at IS NULL) AS open,"
                    " (SELECT count(*) FROM deadline d WHERE d.closed_at IS NULL AND d.due_on < :t AND NOT EXISTS"
                    "   (SELECT 1 FROM escalation e WHERE e.tenant_id = d.tenant_id AND e.deadline_id = d.id)) AS missed"),
                    {"t": today})).one()
            t2 = time.perf_counter()
            again = await escalation.sweep(db, today, batch=batch)
            idle_s = time.perf_counter() - t2
        finally:
            await db.dispose()
    return {
        "bench": "sweep", "open": row.open, "due": due, "seconds": round(seconds, 3),
        "rungs": row.rungs, "notifications": row.notices, "jobs": row.jobs, "missed": row.missed,
        "passes": result.passes, "second_sweep_rungs": again.issued + again.proposed,
        "second_sweep_s": round(idle_s, 3), "setup_s": round(setup_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench sweep")
    p.add_argument("--open", type=int, default=1_000_000)
    p.add_argument("--due", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=5_000)
    a = p.parse_args(argv or [])
    out = asyncio.run(run(a.open, a.due, a.batch))
    print(json.dumps(out))
    ok = out["rungs"] == a.due and out["notifications"] == a.due and out["missed"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
