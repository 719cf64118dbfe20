"""Observability claims of issue 7 that had no test: JSON log lines carry the request id, tenant
and user; /metrics counts errors by operation and reads the queue depths; OpenTelemetry (the
optional `otel` extra) traces a request under the caller's trace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_json_log_lines_carry_request_id_tenant_and_user(settings, demo):
    code = """
import asyncio, httpx
from ducha.graphql.app import create_app
from ducha.tenants.auth import issue_dev_token
async def main():
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://t') as c:
        r = await c.post('/graphql', json={'query': 'query Me { me { login } }'},
                         headers={'Authorization': 'Bearer ' + issue_dev_token('jiayu.office'), 'X-Request-ID': 'audit27-rid'})
        assert r.status_code == 200, r.text
        r = await c.post('/graphql', json={'query': '{ me { login } }'})
        assert r.status_code == 401
    await app.state.runtime.redis.aclose()
    await app.state.runtime.db.dispose()
asyncio.run(main())
"""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "JSON_LOGS": "true"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    requests = [x for x in lines if x.get("event") == "request" and x.get("path") == "/graphql"]
    assert len(requests) == 2, r.stderr[-2000:]
    ok, refused = requests
    assert ok["request_id"] == "audit27-rid" and ok["user"] == "jiayu.office" and isinstance(ok["tenant_id"], int)
    assert ok["status"] == 200 and ok["level"] == "info" and "timestamp" in ok
    # a request without a caller gets a fresh id and no user from the previous one
    assert re.fullmatch(r"[0-9a-f]{32}", refused["request_id"]) and "user" not in refused and refused["status"] == 401


async def test_metrics_count_errors_by_operation_and_read_queue_depths(client, gql, settings):
    from ducha.workers.actors import run_outbox
    from ducha.workers.broker import get_broker

    body = await gql("jiayu.office", "query Audit27Oops { me { nope } }")
    assert body["errors"]
    broker = get_broker()
    broker.flush("ducha")
    for _ in range(3):
        run_outbox.send(0, 0)
    try:
        text = (await client.get("/metrics")).text
    finally:
        broker.flush("ducha")
    assert re.search(r'ducha_graphql_errors_total\{kind="[^"]+",operation="Audit27Oops"\} 1\.0', text), text[:3000]
    assert 'ducha_queue_depth{queue="ducha"} 3.0' in text
    assert 'ducha_queue_depth{queue="ducha.delayed"}' in text and 'ducha_queue_depth{queue="ducha.dead"}' in text
    assert re.search(r"^ducha_outbox_lag_seconds [0-9.e+-]+$", text, re.M)
    assert re.search(r"^ducha_overdue_items [0-9.e+-]+$", text, re.M)


async def test_opentelemetry_traces_a_request_under_the_callers_trace(settings, demo):
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra (make test installs it)")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    import httpx

    from ducha import tracing
    from ducha.graphql.app import create_app
    from tests.conftest import token

    s = settings.model_copy(update={"otel_enabled": True})
    assert not tracing.configure(settings, "off")  # off unless OTEL_ENABLED
    exporter = InMemorySpanExporter()
    assert tracing.configure(s, "ducha-test", exporter=exporter)
    app = create_app(s)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.post("/graphql", json={"query": 'query Region { region(code: "421221") { ... on Region { name } } }'},
                             headers={"Authorization": f"Bearer {token('jiayu.office')}",
                                      "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
            assert r.json()["data"]["region"]["name"] == "嘉鱼县"
        with tracing.job_span("outbox job", **{"ducha.outbox_id": 7}):
            pass
    finally:
        await app.state.runtime.redis.aclose()
        await app.state.runtime.db.dispose()
        tracing._provider = None  # the rest of the session runs untraced
    spans = exporter.get_finished_spans()
    server = [x for x in spans if x.name == "POST /graphql"]
    assert len(server) == 1 and server[0].kind == SpanKind.SERVER
    assert format(server[0].context.trace_id, "032x") == trace_id  # continues the caller's trace
    assert server[0].attributes["http.response.status_code"] == 200
    op = [x for x in spans if x.name == "GraphQL Query: Region"]
    assert len(op) == 1 and op[0].parent.span_id == server[0].context.span_id
    resolvers = [x for x in spans if x.name == "GraphQL Resolving: region"]
    assert resolvers and not any(k.startswith("graphql.param") for x in resolvers for k in x.attributes)
    job = [x for x in spans if x.name == "outbox job"]
    assert len(job) == 1 and job[0].attributes["ducha.outbox_id"] == 7
