"""Shared by the roll-up and list benchmarks: a scratch database with `ducha gen` data, and the
API served by uvicorn in a subprocess on a free port against it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from ducha.bench._scratch import scratch_database


@asynccontextmanager
async def generated(prefix: str, problems: int, *, inspections: int | None = None,
                    clues: int | None = None) -> AsyncIterator[tuple[str, dict[str, int], float]]:
    """(database URL, row counts, generation seconds) of a scratch database filled by `ducha gen`.

    With DUCHA_BENCH_DB set (the URL of a database already filled by `ducha gen`, migrated to
    head), that database is used as it is and kept: iterating on a query need not regenerate."""
    from ducha import gen

    reuse = os.environ.get("DUCHA_BENCH_DB")
    if reuse:
        import asyncpg

        conn = await asyncpg.connect(gen.dsn_of(reuse))
        try:
            counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608 - fixed names
                      for t in ("inspection", "problem", "problem_instance", "measure", "clue", "rollup_fact",
                                "rollup_summary")}
        finally:
            await conn.close()
        yield reuse, counts, 0.0
        return
    async with scratch_database(prefix) as url:
        t0 = time.perf_counter()
        counts = await gen.generate(gen.dsn_of(url), problems=problems,
                                    inspections=inspections or max(200, problems // 50),
                                    clues=clues or max(1000, problems // 10), quiet=not sys.stderr.isatty())
        yield url, counts, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(url: str) -> Iterator[str]:
    """Run the API (uvicorn, one process) against `url`; yield its base URL; stop it after."""
    import httpx

    import tempfile

    port = free_port()
    # the benchmark measures the figures, not the per-user request limit
    env = {**os.environ, "DATABASE_URL": url, "ENV": "test", "PORT": str(port), "RATE_LIMIT_PER_USER": "0",
           "RATE_LIMIT_PER_TENANT": "0"}
    log = tempfile.TemporaryFile()  # a pipe nobody reads would fill up and stall the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ducha.graphql.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the API did not start: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not become healthy within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
