"""The `ducha` command: migrate, seed, serve, work, schedule, demo, tokens, benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from ducha.settings import get_settings

log = logging.getLogger("ducha")
_embedded: Any = None  # keeps the embedded servers alive for this process's lifetime


def ensure_servers(*, need_redis: bool = True) -> None:
    """Start the embedded PostgreSQL/Redis where no URL is configured; export their URLs."""
    global _embedded
    s = get_settings()
    # The API and workers of a deployment get only their own logins' URLs, never the owner's.
    have_db = bool(s.database_url or (s.app_database_url and s.system_database_url))
    if have_db and (s.redis_url or not need_redis):
        return
    from ducha import embedded

    data = s.data_dir
    if not have_db:
        url, pg = embedded.start_postgres(data)
        os.environ["DATABASE_URL"] = url
        _embedded = (_embedded or ()) + (pg,)
    if need_redis and not s.redis_url:
        url, r = embedded.start_redis(data)
        os.environ["REDIS_URL"] = url
        _embedded = (_embedded or ()) + (r,)
    get_settings.cache_clear()


def cmd_migrate(args: argparse.Namespace) -> int:
    ensure_servers(need_redis=False)
    from ducha.migrate import upgrade

    upgrade()
    print("migrated to head")
    return 0


async def _seed_demo() -> bool:
    from ducha.db import Database
    from ducha.services.demo_scenario import seed_scenario
    from ducha.tenants.demo import seed_demo

    db = Database.from_settings()
    try:
        async with db.system_session() as s:
            added = await seed_demo(s)
        async with db.system_session() as s:
            await seed_scenario(s)
        return added
    finally:
        await db.dispose()


def cmd_seed_demo(args: argparse.Namespace) -> int:
    ensure_servers(need_redis=False)
    print("demo province loaded" if asyncio.run(_seed_demo()) else "demo province already there")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from ducha.tenants.auth import AuthError, issue_dev_token

    try:
        print(issue_dev_token(args.login, lifetime_s=args.lifetime))
    except AuthError as e:
        print(f"ducha token: {e.message}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    ensure_servers()
    s = get_settings()
    port = args.port or s.port
    config = uvicorn.Config("ducha.graphql.app:create_app", factory=True, host=s.host, port=port, log_level="info",
                            access_log=False)
    sockets = [_listen(s.host, port)]
    # /metrics for Prometheus on its own port, which the Service and ingress do not publish
    if s.metrics_port and s.metrics_port != port:
        try:
            sockets.append(_listen(s.host, s.metrics_port))
        except SystemExit as e:  # the API still serves; Prometheus can use METRICS_TOKEN instead
            print(f"{e} (metrics stay on the API port: dev mode, or METRICS_TOKEN)", file=sys.stderr)
    uvicorn.Server(config).run(sockets=sockets)
    return 0


def _listen(host: str, port: int) -> Any:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise SystemExit(f"ducha serve: cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def cmd_worker(args: argparse.Namespace) -> int:
    ensure_servers()
    from dramatiq.cli import main as dramatiq_main

    sys.argv = ["dramatiq", "ducha.workers.actors", "--processes", str(args.processes),
                "--threads", str(args.threads), "--worker-shutdown-timeout", str(args.shutdown_timeout_ms)]
    return int(dramatiq_main() or 0)


def cmd_scheduler(args: argparse.Namespace) -> int:
    ensure_servers()
    from ducha import tracing
    from ducha.db import Database
    from ducha.workers import scheduler

    tracing.configure(get_settings(), "ducha-scheduler")

    async def main() -> None:
        db = Database.from_settings()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await scheduler.run(db, stop=stop)
        finally:
            await db.dispose()

    asyncio.run(main())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything at once: servers, schema, demo data, API + worker + scheduler."""
    ensure_servers()
    cmd_migrate(args)
    cmd_seed_demo(args)
    s = get_settings()
    port = args.port or s.port
    env = {**os.environ, "PORT": str(port)}
    exe = [sys.executable, "-m", "ducha.cli"]
    procs = [
        subprocess.Popen([*exe, "serve", "--port", str(port)], env=env),
        subprocess.Popen([*exe, "worker", "--processes", "1", "--threads", "4", "--shutdown-timeout-ms", "10000"],
                         env=env),
        subprocess.Popen([*exe, "scheduler"], env=env),
    ]
    from ducha.tenants.auth import issue_dev_token

    token = issue_dev_token("jiayu.office")
    print(
        f"\nducha demo: http://{s.host}:{port}/graphql (GraphiQL in a browser)\n"
        f"demo token for jiayu.office (more: `.venv/bin/ducha token LOGIN`):\n{token}\n"
        f"try: curl -s http://{s.host}:{port}/graphql -H 'Authorization: Bearer {token[:12]}...' "
        "-H 'Content-Type: application/json' -d '{\"query\":\"{ me { login name } }\"}'\n",
        flush=True,
    )

    # One stop signal per child, never two: Dramatiq's worker process takes a second SIGTERM as
    # "exit now", and exiting with its consumer threads still running leaves it hanging, orphaned.
    # Ctrl-C has already signalled the whole process group (the embedded servers' handlers may
    # keep it from raising here), so when a child ends by itself the others get time to end too.
    signalled = False

    def stop(*_: object) -> None:
        nonlocal signalled
        if not signalled:
            signalled = True
            for p in procs:
                if p.poll() is None:
                    p.terminate()

    def wait_all(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass

    signal.signal(signal.SIGTERM, stop)
    try:
        while not signalled and all(p.poll() is None for p in procs):
            try:
                procs[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if not signalled:
            wait_all(15)  # a child ended: on Ctrl-C they all are ending, give them the time
    except KeyboardInterrupt:
        wait_all(15)
    finally:
        stop()
        wait_all(20)
        for p in procs:
            if p.poll() is None:
                p.kill()
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ducha.graphql.schema import sdl

    text = sdl()
    if args.breaking_against:
        from pathlib import Path

        from ducha.graphql.breaking import check_against

        code, report = check_against(args.breaking_against, Path.cwd(), text)
        print(report)
        return code
    if args.write:
        from pathlib import Path

        path = Path(args.write)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the audit log's hash chains as ducha_system; exit 1 on any finding."""
    ensure_servers(need_redis=False)
    from ducha.db import Database
    from ducha.services.audit import verify

    async def run() -> list[Any]:
        db = Database.from_settings()
        try:
            async with db.system_session() as s:
                return await verify(s, args.tenant)
        finally:
            await db.dispose()

    findings = asyncio.run(run())
    for f in findings:
        print(f)
    print(f"audit log: {len(findings)} finding(s)" if findings else "audit log: intact")
    return 1 if findings else 0


def cmd_gen(args: argparse.Namespace) -> int:
    ensure_servers(need_redis=False)
    from ducha import gen

    return gen.main([f"--problems={args.problems}", f"--inspections={args.inspections}", f"--clues={args.clues}",
                     f"--years={args.years}", f"--seed={args.seed}", *(["--quiet"] if args.quiet else [])])


def cmd_rollup(args: argparse.Namespace) -> int:
    """Roll-up maintenance as ducha_system: check (exit 1 on any difference), rebuild, today."""
    ensure_servers(need_redis=False)
    from datetime import date

    from ducha.db import Database
    from ducha.services import rollups

    async def run() -> int:
        db = Database.from_settings()
        try:
            async with db.system_session() as s:
                if args.rollup_command == "rebuild":
                    await rollups.rebuild(s)
                    print("roll-ups rebuilt from the base tables")
                    return 0
                if args.rollup_command == "today":
                    from ducha.services import calendar_store

                    day = date.fromisoformat(args.day) if args.day else calendar_store.today()
                    n = await rollups.set_today(s, day)
                    print(f"roll-up today moved; {n} problem(s) refreshed")
                    return 0
                diffs = await rollups.check(s, limit=args.limit)
        finally:
            await db.dispose()
        for d in diffs:
            print(d)
        print(f"roll-ups: {len(diffs)} difference(s) from the base tables" if diffs
              else "roll-ups: summary and facts equal the GROUP BY truth")
        return 1 if diffs else 0

    return asyncio.run(run())


def cmd_operations(args: argparse.Namespace) -> int:
    """The persisted-operation manifest for the front end's build: {file: sha256}."""
    import json

    from ducha.graphql import persisted

    print(json.dumps(persisted.names(), indent=2, ensure_ascii=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    mod = importlib.import_module(f"ducha.bench.{args.name}")
    return int(mod.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ducha", description="法治督察 platform back end")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (as the owner)").set_defaults(fn=cmd_migrate)
    sub.add_parser("seed-demo", help="load the demo province").set_defaults(fn=cmd_seed_demo)
    t = sub.add_parser("token", help="print a dev token for LOGIN (refused in prod)")
    t.add_argument("login")
    t.add_argument("--lifetime", type=int, default=None, help="seconds")
    t.set_defaults(fn=cmd_token)
    sv = sub.add_parser("serve", help="run the API")
    sv.add_argument("--port", type=int, default=None)
    sv.set_defaults(fn=cmd_serve)
    w = sub.add_parser("worker", help="run Dramatiq workers")
    w.add_argument("--processes", type=int, default=2)
    w.add_argument("--threads", type=int, default=4)
    w.add_argument("--shutdown-timeout-ms", type=int, default=600_000,
                   help="how long a stopping worker waits for messages in flight (Dramatiq's default: 10 min)")
    w.set_defaults(fn=cmd_worker)
    sub.add_parser("scheduler", help="run the scheduler (one leads at a time)").set_defaults(fn=cmd_scheduler)
    d = sub.add_parser("demo", help="embedded servers + migrate + demo data + API, worker, scheduler")
    d.add_argument("--port", type=int, default=None)
    d.set_defaults(fn=cmd_demo)
    sc = sub.add_parser("schema", help="print the GraphQL SDL (or --write PATH)")
    sc.add_argument("--write", default=None)
    sc.add_argument("--breaking-against", default=None, metavar="REF",
                    help="fail on breaking changes of the SDL against git revision REF")
    sc.set_defaults(fn=cmd_schema)
    au = sub.add_parser("audit", help="audit log tools").add_subparsers(dest="audit_command", required=True)
    av = au.add_parser("verify", help="check the hash chains; exit 1 if a row was altered, removed or moved")
    av.add_argument("--tenant", type=int, default=None, help="one tenant's chain only")
    av.set_defaults(fn=cmd_audit_verify)
    g = sub.add_parser("gen", help="scale data on the 湖北 tree, by COPY, roll-ups rebuilt (a migrated, demo-seeded DB)")
    g.add_argument("--problems", type=int, default=1_000_000)
    g.add_argument("--inspections", type=int, default=20_000)
    g.add_argument("--clues", type=int, default=100_000)
    g.add_argument("--years", type=int, default=5)
    g.add_argument("--seed", type=int, default=2024)
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(fn=cmd_gen)
    ru = sub.add_parser("rollup", help="roll-up summary rows").add_subparsers(dest="rollup_command", required=True)
    rc = ru.add_parser("check", help="compare the summary rows with the GROUP BY truth; exit 1 on a difference")
    rc.add_argument("--limit", type=int, default=50)
    rc.set_defaults(fn=cmd_rollup)
    ru.add_parser("rebuild", help="recompute facts and summary rows from the base tables").set_defaults(fn=cmd_rollup)
    rt = ru.add_parser("today", help="move the day 'overdue' is counted on (default: today in China)")
    rt.add_argument("day", nargs="?", default=None)
    rt.set_defaults(fn=cmd_rollup)
    sub.add_parser("operations", help="print the persisted-operation manifest (file -> sha256)").set_defaults(
        fn=cmd_operations)
    b = sub.add_parser("bench", help="run a benchmark: ducha bench NAME")
    b.add_argument("name")
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(fn=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
