"""Chaos benchmark: 10,000 overdue items escalated and delivered by 2 Dramatiq worker
processes while random SIGKILLs hit the workers and Redis is flushed once; PostgreSQL then
counts what was lost and what was done twice.

``ducha bench chaos [--items N] [--kills N] [--flush flushall|flushdb]`` against
DATABASE_URL / REDIS_URL (a scratch database is created, migrated, seeded and dropped).
``flushdb`` empties only REDIS_URL's database, for a Redis shared with others; the default
is the issue's FLUSHALL. The last line printed is one JSON object:
``{"bench":"chaos","items":..,"kills":..,"redis_flushes":..,"lost":..,"duplicated":..,"recovery_s":..}``.

How it recovers: the relay re-sends every outbox row that is not done RESEND_AFTER_S after
it was sent (what a flush or a killed worker lost; each further copy waits twice as long); a handler runs inside the transaction
that marks its outbox row done, with the row locked, so a copy finds it done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from sqlalchemy import text

from ducha.bench._scratch import bulk_deadlines, scratch_database

log = logging.getLogger("ducha.bench.chaos")


class Workers:
    """N `dramatiq ducha.workers.actors` processes, each in its own process group."""

    def __init__(self, n: int, threads: int, env: dict[str, str]) -> None:
        self.n, self.threads, self.env = n, threads, env
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n
        self.cwd = tempfile.mkdtemp(prefix="ducha-chaos-")

    def start(self, i: int) -> None:
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "ducha.workers.actors", "--processes", "1",
             "--threads", str(self.threads), "--path", self.cwd],
            env=self.env, cwd=self.cwd, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)  # the dramatiq master and its worker process
            p.wait()

    def stop(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=15)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


async def _counts(db) -> dict[str, int]:  # noqa: ANN001
    async with db.system_session() as s:
        row = (await s.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'issued') AS issued,"
            " count(*) FILTER (WHERE status = 'issued' AND delivered_at IS NULL) AS undelivered,"
            " coalesce(sum(greatest(deliveries - 1, 0)), 0) AS duplicated,"
            " (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL) AS dead,"
            " (SELECT count(*) FROM outbox WHERE done_at IS NULL AND dead_at IS NULL) AS pending,"
            " (SELECT coalesce(sum(send_count), 0) FROM outbox) AS sends,"
            " (SELECT count(*) FROM notification WHERE subject_type = 'escalation') AS notices"
            " FROM escalation"))).one()
    return dict(row._mapping)


async def run(items: int, kills: int, flush: str, threads: int, timeout_s: float) -> dict[str, object]:
    import redis

    async with scratch_database("ducha_bench_chaos") as url:
        from ducha.db import Database
        from ducha.services import calendar_store, escalation
        from ducha.settings import get_settings
        from ducha.workers import relay

        redis_url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
        r = redis.Redis.from_url(redis_url)
        r.flushdb()
        db = Database.from_settings()
        workers = Workers(2, threads, {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url})
        rng = random.Random(2024)
        try:
            today = calendar_store.today()
            async with db.system_session() as s:
                await bulk_deadlines(s, total=items, due=items, today=today, subject_type="chaos.item")
            swept = await escalation.sweep(db, today)
            assert swept.issued == items, swept
            for i in range(2):
                workers.start(i)
            send = relay.dramatiq_sender()
            stop_relay = asyncio.Event()

            async def relay_loop() -> None:
                # small batches, so that the faults fall while work is in flight
                while not stop_relay.is_set():
                    try:
                        await relay.relay_once(db, send, batch=150)
                    except Exception:  # noqa: BLE001 - Redis flushed or away a moment: retry
                        log.warning("relay failed", exc_info=True)
                    await asyncio.sleep(0.25)

            relay_task = asyncio.create_task(relay_loop())
            started = time.monotonic()
            done_kills = 0
            flushes = 0
            flush_at = kills // 2
            while done_kills < kills:
                await asyncio.sleep(rng.uniform(0.4, 1.6))
                victim = rng.randrange(2)
                workers.kill(victim)
                done_kills += 1
                if done_kills == flush_at and flushes == 0:
                    (r.flushall if flush == "flushall" else r.flushdb)()
                    flushes += 1
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                workers.start(victim)
            last_fault = time.monotonic()
            faults_s = last_fault - started
            recovered_at = None
            while time.monotonic() - last_fault < timeout_s:
                c = await _counts(db)
                if c["pending"] == 0:
                    recovered_at = time.monotonic()
                    break
                await asyncio.sleep(0.5)
            stop_relay.set()
            await relay_task
            c = await _counts(db)
        finally:
            workers.stop()
            await db.dispose()
            r.close()
    lost = c["undelivered"] + max(0, items - c["issued"])
    return {
        "bench": "chaos", "items": items, "kills": done_kills, "redis_flushes": flushes, "lost": lost,
        "duplicated": c["duplicated"],
        "recovery_s": round(recovered_at - last_fault, 1) if recovered_at else None,
        "faults_s": round(faults_s, 1), "dead_letters": c["dead"], "sends": c["sends"], "notifications": c["notices"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench chaos")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--kills", type=int, default=24)
    p.add_argument("--flush", choices=("flushall", "flushdb"), default="flushall")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for recovery after the last fault")
    a = p.parse_args(argv or [])
    out = asyncio.run(run(a.items, a.kills, a.flush, a.threads, a.timeout))
    print(json.dumps(out))
    return 0 if out["lost"] == 0 and out["duplicated"] == 0 and out["recovery_s"] is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
