"""Container probes for processes without an HTTP port of their own (worker, scheduler).

``python -m ducha.probe http URL``: exit 0 when URL answers 2xx (the API's /healthz, /readyz;
python:3.11-slim has no curl). ``python -m ducha.probe deps``: exit 0 when PostgreSQL (as the
system role the workers use) and Redis answer within the timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def check_http(url: str, timeout: float) -> str | None:
    """None when `url` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - our own probe URL
            return None if 200 <= r.status < 300 else f"HTTP {r.status}"
    except (urllib.error.URLError, OSError) as e:
        return f"{type(e).__name__}: {e}"


async def check_deps(timeout: float) -> list[str]:
    """What is unreachable of PostgreSQL (system role) and Redis; empty when both answer."""
    import redis.asyncio as aioredis
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from ducha.db import system_url
    from ducha.settings import get_settings

    s = get_settings()
    failed: list[str] = []
    engine = create_async_engine(system_url(s), poolclass=NullPool, connect_args={"timeout": timeout})
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as c:
                await c.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001 - reported
        failed.append(f"postgres: {type(e).__name__}")
    finally:
        await engine.dispose()
    if s.redis_url:
        r = aioredis.Redis.from_url(s.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            await r.ping()
        except Exception as e:  # noqa: BLE001 - reported
            failed.append(f"redis: {type(e).__name__}")
        finally:
            await r.aclose()
    else:
        failed.append("redis: REDIS_URL not set")
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ducha.probe", description=__doc__.splitlines()[0])
    p.add_argument("--timeout", type=float, default=3.0)
    sub = p.add_subparsers(dest="what", required=True)
    h = sub.add_parser("http", help="GET URL, expect 2xx")
    h.add_argument("url")
    sub.add_parser("deps", help="PostgreSQL (system role) and Redis answer")
    args = p.parse_args(argv)
    if args.what == "http":
        problems = [e] if (e := check_http(args.url, args.timeout)) else []
    else:
        problems = asyncio.run(check_deps(args.timeout))
    for line in problems:
        print(f"probe: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
