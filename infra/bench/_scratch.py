"""A scratch database for a benchmark: created, migrated and seeded with the demo province on
the server of DATABASE_URL, dropped at the end; plus bulk deadlines for the sweeps."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def base_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL (and REDIS_URL) to the servers to benchmark against")
    return url


@asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """Yield the URL of a fresh, migrated, demo-seeded database; drop it afterwards."""
    import asyncio

    admin = make_url(base_url()).set(drivername="postgresql+asyncpg")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    eng = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with eng.connect() as c:
        await c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    from ducha.settings import get_settings

    get_settings.cache_clear()
    try:
        from ducha.migrate import upgrade

        await asyncio.to_thread(upgrade, make_url(url))
        from ducha.db import Database
        from ducha.tenants.demo import seed_demo

        db = Database.from_settings()
        try:
            async with db.system_session() as s:
                await seed_demo(s)
        finally:
            await db.dispose()
        yield url
    finally:
        if old is not None:
            os.environ["DATABASE_URL"] = old
        get_settings.cache_clear()
        async with eng.connect() as c:
            await c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await eng.dispose()


# Spread items over every agency of the demo province; one INSERT ... SELECT, with the next
# rung's day looked up once per distinct due date rather than once per row.
_BULK = text("""
WITH ag AS (
  SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, tenant_id FROM agency
), n AS (SELECT count(*) AS c FROM ag),
items AS (
  SELECT g, CASE WHEN g <= :due THEN CAST(:due_on AS date)
                 ELSE CAST(:later AS date) + CAST((CAST(g AS bigint) * 7919) % 300 AS integer) END AS due_on
  FROM generate_series(1, :total) g
), firsts AS (
  SELECT due_on, ducha_add_working_days(due_on, 1) AS nxt FROM (SELECT DISTINCT due_on FROM items) x
)
INSERT INTO deadline (tenant_id, subject_type, subject_id, title, agency_id, agency_tenant_id, rule, basis_on,
                      due_on, escalate_from)
SELECT ag.tenant_id, :subject_type, i.g, '基准测试事项 ' || i.g, ag.id, ag.tenant_id, 'fixed', i.due_on, i.due_on,
       f.nxt
FROM items i JOIN n ON true JOIN ag ON ag.k = i.g % n.c JOIN firsts f ON f.due_on = i.due_on
""")


async def bulk_deadlines(session, *, total: int, due: int, today: date, subject_type: str = "bench.item") -> None:
    """`total` open deadlines, the first `due` of them one working day overdue on `today`."""
    from datetime import timedelta

    from ducha.services import calendar_store

    cal = await calendar_store.working_calendar(session)
    # two working days back: the first rung (1 working day past due) is due today, whatever
    # day of the week today is, and the second (3) is not yet
    due_on = cal.add_working_days(today, -2)[0]
    await session.execute(_BULK, {"due": due, "total": total, "due_on": due_on, "later": today + timedelta(days=30),
                                  "subject_type": subject_type})
