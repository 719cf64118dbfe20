"""Load benchmark: the API under 64 connections for 60 s on the front end's operation mix,
against a bare Starlette endpoint that runs the same SQL per request.

``ducha bench load [--duration 60] [--baseline-duration 60] [--connections 64] [--rounds 3]
[--tool auto|wrk|python] [--profile FILE] [--breakdown ROUNDS]`` (``--profile``: py-spy stacks of the API under the load;
``--breakdown``: no load, the CPU of each operation one request at a time, in-process)
against DATABASE_URL / REDIS_URL (a scratch database is created, migrated, seeded with the demo
province and the demo scenario, and dropped at the end).

1. *Plan*: the mix is the persisted documents of graphql/operations/ (Me, Agencies,
   Inspections, InspectionDetail, ProblemList, ProblemDetail, MyFeedback, Region, and the
   mutations RecordProblem and SignAcceptance sent where they fail typed, so they are safe to
   repeat) as several demo logins, read-heavy, sent by sha256 hash as the production front end
   does. Each request variant runs twice in-process; the second run's SQL (scope set_config,
   SELECTs, savepoints) is recorded with a SQLAlchemy ``before_cursor_execute`` hook.
2. *API*: ``uvicorn ducha.graphql.app:create_app --factory``, one worker process (a 2-core
   machine: the load tool and PostgreSQL need the other core), rate limits off.
3. *Baseline*: ``uvicorn ducha.bench.load:baseline_app --factory``, one worker: per request it
   looks the body up, then replays that variant's recorded statements with asyncpg in one
   transaction as ``ducha_app`` (same role, same RLS, same pool size; the scope statement in
   BEGIN's message, as the API sends it) and returns the rows as JSON. No GraphQL, no auth, no
   ORM: what the same SQL costs over HTTP.
4. *Load*: ``wrk`` with a Lua script that picks variants by weight (an error is a non-200
   status, a body with ``"errors"``, or a socket error); without wrk, a Python asyncio client
   with keep-alive connections in its own process. Both servers run side by side and take the
   load in turns, ``--rounds`` rounds of API then baseline (3 x 20 s each by default): a shared
   machine's speed drifts over minutes, and one minute of each in sequence measured the drift as
   much as the difference (the same code gave ratios 0.43 to 0.54 that way).

The last line printed is one JSON object:
``{"bench":"load","rps":..,"p99_ms":..,"errors":..,"baseline_rps":..,"ratio":..}``
(ratio = rps / baseline_rps; goal >= 0.5 with 0 errors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pickle
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ducha.bench._scratch import scratch_database

PLAN_ENV = "DUCHA_LOAD_PLAN"
PATH = "/graphql"

# Share of requests per operation (percent); spread evenly over the operation's variants.
MIX: dict[str, float] = {
    "Me": 12, "Agencies": 8, "Inspections": 12, "InspectionDetail": 14, "ProblemList": 16, "ProblemDetail": 14,
    "MyFeedback": 10, "Region": 6, "RecordProblem": 4, "SignAcceptance": 4,
}


def _say(msg: str) -> None:
    print(f"[bench load] {msg}", file=sys.stderr, flush=True)


@dataclass
class Variant:
    """One request of the mix: its body and login, and the SQL the API ran for it."""

    operation: str
    login: str
    variables: dict[str, Any]
    body: bytes = b""
    token: str = ""
    weight: float = 0.0
    # (engine, statement, parameters, executemany), engine "app" (ducha_app) or "system"
    statements: list[tuple[str, str, Any, bool]] = field(default_factory=list)
    expect: str = ""  # __typename a mutation must answer (a typed error)


@dataclass
class Plan:
    variants: list[Variant]
    app_dsn: str
    system_dsn: str
    pool_size: int


# --------------------------------------------------------------------------------------------
# The plan: variants found through the API, their SQL recorded.


def _body(operation: str, variables: dict[str, Any]) -> bytes:
    """The request as the production front end sends it: the persisted document's hash."""
    from ducha.graphql import persisted

    h = persisted.names()[f"{operation}.graphql"]
    return json.dumps({"operationName": operation, "variables": variables,
                       "extensions": {"persistedQuery": {"version": 1, "sha256Hash": h}}},
                      separators=(",", ":")).encode()


async def _variants(post: Any) -> list[Variant]:
    """The request variants of the mix, with ids looked up as the demo logins see them."""

    async def ids(login: str, operation: str, variables: dict[str, Any], path: tuple[str, ...]) -> list[str]:
        data = await post(login, operation, variables)
        node = data
        for k in path:
            node = node[k]
        return [e["node"]["id"] for e in node["edges"]]

    jiayu_insp = await ids("jiayu.office", "Inspections", {"first": 20}, ("inspections",))
    xianning_insp = await ids("xianning.office", "Inspections", {"first": 20}, ("inspections",))
    jiayu_probs = await ids("jiayu.office", "ProblemList", {"first": 50}, ("problems",))
    xinjie_probs = await ids("jiayu.xinjie", "ProblemList", {"first": 20}, ("problems",))
    if not (jiayu_insp and xianning_insp and jiayu_probs and xinjie_probs):
        raise SystemExit("the demo scenario is missing: no inspections or problems visible")
    own = sorted(set(xianning_insp) - set(jiayu_insp)) or xianning_insp
    v: list[Variant] = []
    for login in ("jiayu.office", "jiayu.inspector", "jiayu.leader", "jiayu.xinjie", "xianning.office",
                  "hubei.office", "hubei.justice", "jiayu.court"):
        v.append(Variant("Me", login, {}))
    for login, f in (("jiayu.office", {}), ("xianning.office", {"kind": "OFFICE"}), ("hubei.office", {"regionCode": "421221"}),
                     ("jiayu.xinjie", {})):
        v.append(Variant("Agencies", login, {"first": 20, "filter": f}))
    for login, f in (("jiayu.office", {}), ("jiayu.inspector", {"year": 2024}), ("xianning.office", {}),
                     ("hubei.justice", {}), ("jiayu.xinjie", {})):
        v.append(Variant("Inspections", login, {"first": 20, "filter": f}))
    for i in jiayu_insp:
        v.append(Variant("InspectionDetail", "jiayu.office", {"id": i}))
        v.append(Variant("InspectionDetail", "jiayu.inspector", {"id": i}))
    for i in own:
        v.append(Variant("InspectionDetail", "xianning.office", {"id": i}))
    for login, f in (("jiayu.office", {}), ("jiayu.office", {"status": "rectifying"}), ("jiayu.xinjie", {}),
                     ("xianning.office", {}), ("hubei.office", {"year": 2024})):
        v.append(Variant("ProblemList", login, {"first": 20, "filter": f}))
    for i in jiayu_probs[:6]:
        v.append(Variant("ProblemDetail", "jiayu.office", {"id": i}))
    for i in xinjie_probs:
        v.append(Variant("ProblemDetail", "jiayu.xinjie", {"id": i}))
    for login in ("jiayu.xinjie", "jiayu.office", "xianning.office"):
        v.append(Variant("MyFeedback", login, {"first": 10}))
    for login, code in (("jiayu.office", "421221"), ("hubei.office", "420000"), ("xianning.office", "421200")):
        v.append(Variant("Region", login, {"code": code}))
    # Mutations that fail typed and write nothing: a town liaison may not record a problem,
    # nor sign the inspector's acceptance step.
    v.append(Variant("RecordProblem", "jiayu.xinjie", {"input": {
        "inspectionId": jiayu_insp[0], "title": "负载测试问题", "category": "THREE_ENFORCEMENT_SYSTEMS",
        "source": "INSPECTION", "severity": "GENERAL", "agencyIds": []}}, expect="*"))
    for i in xinjie_probs[:2]:
        v.append(Variant("SignAcceptance", "jiayu.xinjie", {"instanceId": i, "round": 1, "step": 1, "decision": "pass",
                                                            "comment": "负载测试"}, expect="*"))
    per_op: dict[str, int] = {}
    for x in v:
        per_op[x.operation] = per_op.get(x.operation, 0) + 1
    for x in v:
        x.weight = MIX[x.operation] / per_op[x.operation]
        x.body = _body(x.operation, x.variables)
    return v


async def make_plan() -> Plan:
    """Run every variant twice in-process against the scratch database; keep the second run's SQL."""
    import httpx
    import structlog
    from sqlalchemy import event

    from ducha.db import app_url, system_url
    from ducha.graphql.app import create_app
    from ducha.settings import get_settings
    from ducha.tenants.auth import issue_dev_token

    s = get_settings()
    app = create_app(s)
    # the in-process app's per-request log lines and httpx's would drown the progress lines
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    db = app.state.runtime.db
    recording: list[tuple[str, str, Any, bool]] | None = None

    def hook(name: str) -> Any:
        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            if recording is not None:
                recording.append((name, statement, parameters, executemany))

        return before

    event.listen(db.app.sync_engine, "before_cursor_execute", hook("app"))
    event.listen(db.system.sync_engine, "before_cursor_execute", hook("system"))
    tokens: dict[str, str] = {}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

        async def send(login: str, body: bytes) -> dict[str, Any]:
            tok = tokens.setdefault(login, issue_dev_token(login, lifetime_s=6 * 3600))
            r = await client.post(PATH, content=body, headers={"Authorization": f"Bearer {tok}",
                                                                "Content-Type": "application/json"})
            out = r.json()
            if r.status_code != 200 or out.get("errors"):
                raise SystemExit(f"plan: {login} {body[:120]!r} answered {r.status_code} {r.text[:400]}")
            return out["data"]  # type: ignore[no-any-return]

        async def post(login: str, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
            return await send(login, _body(operation, variables))

        variants = await _variants(post)
        for x in variants:
            x.token = tokens.setdefault(x.login, issue_dev_token(x.login, lifetime_s=6 * 3600))
            await send(x.login, x.body)  # warm: identity cached, loaders' first use
            recording = []
            data = await send(x.login, x.body)
            x.statements, recording = recording, None
            if x.expect:
                typename = next(iter(data.values()))["__typename"]
                if typename.endswith(("Recorded", "Signed")):
                    raise SystemExit(f"plan: {x.operation} as {x.login} succeeded; the mix needs a typed failure")
                x.expect = typename
    return Plan(variants, app_dsn=_dsn(app_url(s)), system_dsn=_dsn(system_url(s)), pool_size=s.db_pool_size)


def _save(plan: Plan, path: Path) -> None:
    # plain data, so that the plan loads whether this module ran as ducha.bench.load or __main__
    with open(path, "wb") as f:
        pickle.dump({**asdict(plan), "variants": [asdict(v) for v in plan.variants]}, f)


def _load(path: str | Path) -> Plan:
    with open(path, "rb") as f:
        d = pickle.load(f)
    return Plan(**{**d, "variants": [Variant(**v) for v in d["variants"]]})


def _dsn(url: Any) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# The baseline: a bare Starlette endpoint replaying the recorded SQL.


def baseline_app() -> Any:
    """The baseline ASGI app (uvicorn --factory): body -> variant -> its SQL in one transaction."""
    from contextlib import asynccontextmanager

    import asyncpg
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    plan = _load(os.environ[PLAN_ENV])
    by_body = {v.body: v for v in plan.variants}
    pools: dict[str, Any] = {}

    async def init(conn: Any) -> None:
        # as SQLAlchemy's asyncpg dialect does: json/jsonb arrive and leave as text
        for t in ("json", "jsonb"):
            await conn.set_type_codec(t, encoder=str, decoder=json.loads, schema="pg_catalog")

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        size = plan.pool_size
        pools["app"] = await asyncpg.create_pool(plan.app_dsn, min_size=size, max_size=2 * size, init=init,
                                                 server_settings={"application_name": "ducha-baseline"})
        pools["system"] = await asyncpg.create_pool(plan.system_dsn, min_size=1, max_size=size, init=init)
        yield
        for p in pools.values():
            await p.close()

    from ducha.db import _SET_SCOPE, scope_sql_with_literals

    async def run(conn: Any, statements: list[tuple[str, str, Any, bool]]) -> list[Any]:
        out = []
        first = statements[0]
        scope_sql = scope_sql_with_literals(tuple(first[2])) if first[1] == _SET_SCOPE and first[2] else None
        if scope_sql is None:
            async with conn.transaction():
                for _, sql, params, many in statements:
                    if many:
                        await conn.executemany(sql, params)
                    else:
                        out.append([tuple(r) for r in await conn.fetch(sql, *(params or ()))])
            return out
        # the scope travels with BEGIN, one message, as the API sends it (ducha.db.ScopeConnection)
        await conn.execute(f"BEGIN; {scope_sql}")
        try:
            out.append([tuple(first[2])])  # what set_config answers: the values set
            for _, sql, params, many in statements[1:]:
                if many:
                    await conn.executemany(sql, params)
                else:
                    out.append([tuple(r) for r in await conn.fetch(sql, *(params or ()))])
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return out

    async def endpoint(request: Request) -> Response:
        v = by_body.get(await request.body())
        if v is None:
            return Response(b'{"errors":[{"message":"unknown body"}]}', status_code=400, media_type="application/json")
        result: list[Any] = []
        # statements of the system engine (none in steady state) run in their own transaction
        for engine in ("app", "system"):
            stmts = [s for s in v.statements if s[0] == engine]
            if stmts:
                async with pools[engine].acquire() as conn:
                    result += await run(conn, stmts)
        return Response(json.dumps({"data": result}, default=str, ensure_ascii=False).encode(),
                        media_type="application/json")

    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])], lifespan=lifespan)


# --------------------------------------------------------------------------------------------
# Servers and load tools.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One uvicorn process (one worker) serving `factory` on a free port."""

    def __init__(self, factory: str, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--no-access-log", "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def wait_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"server did not come up in {timeout} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _check(server: Server, variants: list[Variant], baseline: bool) -> None:
    """Every variant answers 200 without errors (and mutations with their typed error) over HTTP."""
    import httpx

    with httpx.Client(timeout=30) as c:
        for v in variants:
            r = c.post(server.url, content=v.body, headers={"Authorization": f"Bearer {v.token}",
                                                             "Content-Type": "application/json"})
            body = r.json()
            if r.status_code != 200 or body.get("errors"):
                raise SystemExit(f"{v.operation} as {v.login}: {r.status_code} {r.text[:400]}")
            if v.expect and not baseline:
                got = next(iter(body["data"].values()))["__typename"]
                if got != v.expect:
                    raise SystemExit(f"{v.operation} as {v.login}: {got}, expected {v.expect}")


def _lua(variants: list[Variant]) -> str:
    """wrk script: prebuilt requests chosen by weight; errors counted per thread."""

    def q(s: str) -> str:
        return "[==[" + s + "]==]"

    slots: list[int] = []
    total = sum(v.weight for v in variants)
    for i, v in enumerate(variants, start=1):
        slots += [i] * max(1, round(v.weight / total * 1000))
    reqs = ",\n".join(
        f'  {{body = {q(v.body.decode())}, auth = {q("Bearer " + v.token)}}}' for v in variants)
    return f"""-- generated by ducha.bench.load
local variants = {{
{reqs}
}}
local slots = {{{",".join(map(str, slots))}}}
local threads = {{}}
local built = {{}}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
  bad = ""
  math.randomseed(os.time() * 1000 + id)
  for i, v in ipairs(variants) do
    built[i] = wrk.format("POST", "{PATH}", {{["Content-Type"] = "application/json", ["Authorization"] = v.auth}}, v.body)
  end
end

function request()
  return built[slots[math.random(#slots)]]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if bad == "" then bad = status .. " " .. string.sub(body, 1, 300) end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local n = e.connect + e.read + e.write + e.timeout
  local sample = ""
  for _, t in ipairs(threads) do
    n = n + t:get("errors")
    if sample == "" then sample = t:get("bad") end
  end
  io.write(string.format('{{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"socket_errors":%d,"sample":"%s"}}\\n', summary.requests, summary.duration, n, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout,
    string.gsub(sample, '[%c"\\\\]', "?")))
end
"""


def _wrk(url: str, script: Path, connections: int, duration: float, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    secs = r["duration_us"] / 1e6
    return {"rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "errors": r["errors"], "requests": r["requests"], "sample": r["sample"]}


# The fallback load tool: raw HTTP/1.1 keep-alive over asyncio streams, in its own process.


async def _client(host: str, port: int, requests: list[bytes], slots: list[int], connections: int,
                  duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + duration

    async def one_connection(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.monotonic() < stop_at:
                req = requests[slots[rng.randrange(len(slots))]]
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or b'"errors"' in body:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one_connection(i) for i in range(connections)))
    secs = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return {"rps": len(latencies) / secs, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": latencies[-1] * 1000 if latencies else 0.0, "errors": errors, "requests": len(latencies)}


def _client_main() -> None:
    """Entry of the fallback client process: argv = plan path, port, connections, duration."""
    path, port, connections, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    plan = _load(path)
    requests = [(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {v.token}\r\nContent-Length: {len(v.body)}\r\n\r\n").encode() + v.body
                for v in plan.variants]
    total = sum(v.weight for v in plan.variants)
    slots = [i for i, v in enumerate(plan.variants) for _ in range(max(1, round(v.weight / total * 1000)))]
    print(json.dumps(asyncio.run(_client("127.0.0.1", port, requests, slots, connections, duration))))


def _python_load(plan_path: Path, port: int, connections: int, duration: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", "from ducha.bench.load import _client_main; _client_main()",
                          str(plan_path), str(port), str(connections), str(duration)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------


class Driven:
    """One server under the load tool: started, checked, warmed, then loaded round by round
    (`load`), its figures summed over the rounds (`figures`)."""

    def __init__(self, name: str, factory: str, env: dict[str, str], plan: Plan, work: Path, *, tool: str,
                 connections: int, threads: int, baseline: bool) -> None:
        self.name, self.plan, self.work, self.tool = name, plan, work, tool
        self.connections, self.threads, self.baseline = connections, threads, baseline
        self.server = Server(factory, env, work / f"{name}.log")
        self.rounds: list[dict[str, Any]] = []
        self.cpu_seconds = 0.0
        self.cpu_known = True

    def start(self, warmup: float) -> None:
        self.server.wait_up()
        _check(self.server, self.plan.variants, self.baseline)
        if warmup > 0:
            _say(f"{self.name}: warming up {warmup:.0f} s")
            self._tool(warmup)

    def _tool(self, secs: float) -> dict[str, Any]:
        if self.tool == "wrk":
            return _wrk(self.server.url, self.work / "mix.lua", self.connections, secs, self.threads)
        return _python_load(self.work / "plan.pickle", self.server.port, self.connections, secs)

    def load(self, secs: float, profile: str | None = None) -> None:
        spy = None
        if profile:
            # py-spy samples the server from outside (collapsed stacks, one line per stack)
            exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            if not Path(exe).exists():
                raise SystemExit("--profile needs py-spy (it comes with the dev extra: make install-dev)")
            spy = subprocess.Popen([exe, "record", "-p", str(self.server.proc.pid), "-d", str(max(1, round(secs))),
                                    "-r", "250", "-f", "raw", "-o", profile, "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = _cpu_seconds(self.server.proc.pid)
        r = self._tool(secs)
        cpu1 = _cpu_seconds(self.server.proc.pid)
        if spy is not None:
            spy.wait(timeout=60)
            _say(f"{self.name}: py-spy profile written to {profile}")
        if cpu0 is None or cpu1 is None:
            self.cpu_known = False
        else:
            self.cpu_seconds += cpu1 - cpu0
        r["seconds"] = secs
        self.rounds.append(r)
        _say(f"{self.name} round {len(self.rounds)}: {r['rps']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, "
             f"{r['errors']} errors")
        if r["errors"] and r.get("sample"):
            _say(f"{self.name}: first error: {r['sample']}")

    def figures(self) -> dict[str, Any]:
        """Summed over the rounds: requests over seconds; p99 the worst round's, p50 the median round's."""
        n = sum(r["requests"] for r in self.rounds)
        secs = sum(r["requests"] / r["rps"] if r["rps"] else r["seconds"] for r in self.rounds)
        p50s = sorted(r["p50_ms"] for r in self.rounds)
        out = {"rps": n / secs if secs else 0.0, "requests": n, "errors": sum(r["errors"] for r in self.rounds),
               "p99_ms": max(r["p99_ms"] for r in self.rounds), "p50_ms": p50s[len(p50s) // 2],
               "round_rps": [round(r["rps"], 1) for r in self.rounds]}
        if self.cpu_known and n:
            out["cpu_ms_per_request"] = round(self.cpu_seconds * 1000 / n, 2)
        return out

    def stop(self) -> None:
        self.server.stop()


def _drive_both(api: Driven, base: Driven, *, duration: float, baseline_duration: float, rounds: int,
                warmup: float, profile: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both servers up; then rounds of load, API then baseline, so that a machine whose speed
    drifts over the minutes (a shared VM's does) weighs on both alike."""
    try:
        api.start(warmup)
        base.start(warmup)
        _say(f"{rounds} rounds of {duration / rounds:.0f} s (API) and {baseline_duration / rounds:.0f} s (baseline), "
             f"{api.connections} connections ({api.tool})")
        for i in range(rounds):
            api.load(duration / rounds, profile=profile if i == 0 else None)
            base.load(baseline_duration / rounds)
        a, b = api.figures(), base.figures()
        for d in (api, base):
            f = a if d is api else b
            _say(f"{d.name}: {f['rps']:.0f} req/s, p99 {f['p99_ms']:.1f} ms, {f['errors']} errors, "
                 f"{f.get('cpu_ms_per_request', '?')} ms of server CPU per request")
        return a, b
    finally:
        api.stop()
        base.stop()


async def _prepare(work: Path) -> Plan:
    from ducha.db import Database
    from ducha.services.demo_scenario import seed_scenario

    db = Database.from_settings()
    try:
        async with db.system_session() as s:
            await seed_scenario(s)
    finally:
        await db.dispose()
    _say("demo province and scenario seeded; recording each variant's SQL")
    plan = await make_plan()
    n = sum(len(v.statements) for v in plan.variants)
    system = sum(s[0] == "system" for v in plan.variants for s in v.statements)
    _say(f"{len(plan.variants)} request variants, {n} statements recorded "
         f"({n / len(plan.variants):.1f} per variant, {system} as ducha_system)")
    _save(plan, work / "plan.pickle")
    (work / "mix.lua").write_text(_lua(plan.variants), encoding="utf-8")
    return plan


async def asgi_post(app: Any, body: bytes, token: str) -> tuple[int, bytes]:
    """POST `body` to /graphql straight through the ASGI app, as `token`'s user (no HTTP, no
    client library): the status and the response body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}, "app": app}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the app does not read past the body
        return {"type": "http.disconnect"}

    out: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.append(message["status"])
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return out[0], b"".join(out[1:])


async def _breakdown(plan: Plan, rounds: int) -> dict[str, Any]:
    """CPU per request of each operation, one request at a time, through the ASGI app in this
    process (no HTTP parsing, no load tool): where the API's time goes, operation by operation.
    `{ __typename }` gives the fixed cost every request pays (token, transaction, scope, view)."""
    from ducha.graphql.app import create_app
    from ducha.settings import get_settings

    os.environ["PERSISTED_ONLY"] = "false"  # the __typename probe is not a persisted document
    get_settings.cache_clear()
    app = create_app(get_settings())
    structlog_quiet()

    async def call(body: bytes, token: str) -> None:
        status, _ = await asgi_post(app, body, token)
        if status != 200:
            raise SystemExit(f"breakdown: {body[:80]!r} answered {status}")

    out: dict[str, list[float]] = {}
    probe = json.dumps({"query": "query T { __typename }"}).encode()
    async with app.router.lifespan_context(app):
        cases = [("{ __typename }", probe, plan.variants[0].token)] + [(v.operation, v.body, v.token) for v in plan.variants]
        for _, body, token in cases:  # warm: identities, loaders, statement caches
            for _ in range(5):
                await call(body, token)
        for name, body, token in cases:
            t0 = time.process_time()
            for _ in range(rounds):
                await call(body, token)
            out.setdefault(name, []).append((time.process_time() - t0) * 1000 / rounds)
    per_op = {k: round(sum(v) / len(v), 3) for k, v in out.items()}
    weighted = sum(per_op[v.operation] * v.weight for v in plan.variants) / sum(v.weight for v in plan.variants)
    return {"bench": "load-breakdown", "cpu_ms_per_request": per_op, "mix_cpu_ms": round(weighted, 3),
            "rounds": rounds, "variants": len(plan.variants)}


def structlog_quiet() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def breakdown(rounds: int) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in ("RATE_LIMIT_PER_USER", "RATE_LIMIT_PER_TENANT", "PERSISTED_ONLY")}
    os.environ["RATE_LIMIT_PER_USER"] = "0"
    os.environ["RATE_LIMIT_PER_TENANT"] = "0"
    work = Path(tempfile.mkdtemp(prefix="ducha-load-"))

    async def scratch() -> dict[str, Any]:
        async with scratch_database("ducha_bench_load"):
            plan = await _prepare(work)
            return await _breakdown(plan, rounds)

    try:
        return asyncio.run(scratch())
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(*, duration: float, baseline_duration: float, connections: int, tool: str, warmup: float,
        threads: int, profile: str | None = None, rounds: int = 3) -> dict[str, Any]:
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    rounds = max(1, rounds)
    os.environ["RATE_LIMIT_PER_USER"] = "0"
    os.environ["RATE_LIMIT_PER_TENANT"] = "0"
    work = Path(tempfile.mkdtemp(prefix="ducha-load-"))
    _say(f"work folder {work}; making a scratch database")

    async def scratch() -> dict[str, Any]:
        async with scratch_database("ducha_bench_load") as url:
            plan = await _prepare(work)
            env = {**os.environ, "DATABASE_URL": url, "RATE_LIMIT_PER_USER": "0", "RATE_LIMIT_PER_TENANT": "0",
                   "PERSISTED_ONLY": "true", PLAN_ENV: str(work / "plan.pickle")}
            common = {"tool": tool, "connections": connections, "threads": threads}
            api_d = Driven("api", "ducha.graphql.app:create_app", env, plan, work, baseline=False, **common)
            base_d = Driven("baseline", "ducha.bench.load:baseline_app", env, plan, work, baseline=True, **common)
            api, base = await asyncio.to_thread(_drive_both, api_d, base_d, duration=duration,
                                                baseline_duration=baseline_duration, rounds=rounds, warmup=warmup,
                                                profile=profile)
            mix: dict[str, int] = {}
            for v in plan.variants:
                mix[v.operation] = mix.get(v.operation, 0) + 1
            return {
                "bench": "load", "rps": round(api["rps"], 1), "p99_ms": round(api["p99_ms"], 1),
                "errors": api["errors"], "baseline_rps": round(base["rps"], 1),
                "ratio": round(api["rps"] / base["rps"], 3) if base["rps"] else None,
                "p50_ms": round(api["p50_ms"], 1), "requests": api["requests"],
                "cpu_ms_per_request": api.get("cpu_ms_per_request"),
                "baseline_cpu_ms_per_request": base.get("cpu_ms_per_request"),
                "baseline_p99_ms": round(base["p99_ms"], 1), "baseline_errors": base["errors"],
                "round_rps": api["round_rps"], "baseline_round_rps": base["round_rps"],
                "connections": connections, "duration_s": duration, "baseline_duration_s": baseline_duration,
                "rounds": rounds, "server_workers": 1, "tool": tool, "variants": len(plan.variants),
                "sql_per_request": round(sum(len(v.statements) * v.weight for v in plan.variants)
                                         / sum(v.weight for v in plan.variants), 2),
                "mix_percent": MIX,
            }

    try:
        return asyncio.run(scratch())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench load")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load on the API")
    p.add_argument("--baseline-duration", type=float, default=None, help="seconds on the baseline (default: --duration)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of load on each server before the rounds")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--rounds", type=int, default=3,
                   help="load in this many rounds, API then baseline in turn (each side's duration split evenly)")
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="sample the API with py-spy during its first round (collapsed stacks to FILE; py-spy on PATH)")
    p.add_argument("--breakdown", type=int, metavar="ROUNDS", default=0,
                   help="instead of the load: CPU ms per request of each operation, ROUNDS requests each, in-process")
    a = p.parse_args(argv or [])
    if a.breakdown:
        res = breakdown(a.breakdown)
        print(json.dumps(res, ensure_ascii=False))
        return 0
    out = run(duration=a.duration, baseline_duration=a.baseline_duration or a.duration, connections=a.connections,
              tool=a.tool, warmup=a.warmup, threads=a.threads, profile=a.profile, rounds=a.rounds)
    print(json.dumps(out, ensure_ascii=False))
    return 0 if out["errors"] == 0 and out["baseline_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
