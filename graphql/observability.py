"""Structured JSON logs (structlog) and Prometheus metrics for the API."""

from __future__ import annotations

import hmac
import json
import logging
import sys
import time
import uuid
from typing import Any

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Histogram("ducha_graphql_request_seconds", "GraphQL request latency by operation", ["operation"],
                     registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ERRORS = Counter("ducha_graphql_errors_total", "GraphQL requests with errors, by operation and kind",
                 ["operation", "kind"], registry=REGISTRY)
HTTP = Counter("ducha_http_responses_total", "HTTP responses by status", ["status"], registry=REGISTRY)
COMPILED_FALLBACKS = Counter("ducha_compiled_fallbacks_total",
                             "Compiled query runs that gave way to graphql-core (a field on its way to an error)",
                             ["operation"], registry=REGISTRY)
RATE_LIMITED = Counter("ducha_rate_limited_total", "Requests refused by the rate limits", ["scope"], registry=REGISTRY)
OUTBOX_PENDING = Gauge("ducha_outbox_pending_jobs", "Outbox jobs not done yet", registry=REGISTRY)
OUTBOX_LAG = Gauge("ducha_outbox_lag_seconds", "Age of the oldest outbox job not done yet", registry=REGISTRY)
DEAD_LETTERS = Gauge("ducha_dead_letters", "Outbox jobs that failed for good", registry=REGISTRY)
OVERDUE = Gauge("ducha_overdue_items", "Open deadlines past their due date", registry=REGISTRY)
QUEUE_DEPTH = Gauge("ducha_queue_depth", "Messages waiting in the Dramatiq queue (Redis)", ["queue"], registry=REGISTRY)


def _json_line(event: dict[str, Any], **kw: Any) -> bytes:
    """A log event as one line of UTF-8 JSON: orjson (about half the cost of the standard encoder,
    which the API pays once per request); the standard encoder for what orjson refuses (an int
    beyond 64 bits); anything else not JSON by its repr, as structlog's default."""
    try:
        return orjson.dumps(event, default=kw.get("default", repr))
    except TypeError:
        return json.dumps(event, ensure_ascii=False, default=kw.get("default", repr)).encode()


def configure_logging(json_logs: bool = True) -> None:
    """structlog to stderr as JSON lines (key-value in a terminal when json_logs is False)."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if json_logs:
        processors.append(structlog.processors.JSONRenderer(serializer=_json_line))
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        processors.append(structlog.dev.ConsoleRenderer())
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(processors=processors, logger_factory=factory,
                        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO), cache_logger_on_first_use=True)


log = structlog.get_logger("ducha.api")


class RequestLog:
    """One JSON line per request: request id (X-Request-ID kept or made), status, duration;
    resolvers bind tenant, user and operation into the same context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            HTTP.labels(str(status)).inc()
            if scope.get("path") != "/metrics":
                log.info("request", method=scope.get("method"), path=scope.get("path"), status=status,
                         ms=round((time.perf_counter() - start) * 1000, 2))


def observe_operation(operation: str, seconds: float, errors: list[Any] | None) -> None:
    REQUESTS.labels(operation).observe(seconds)
    for e in errors or ():
        code = ((getattr(e, "extensions", None) or {}).get("code")) or type(getattr(e, "original_error", e)).__name__
        ERRORS.labels(operation, str(code)).inc()


GAUGE_TTL_S = 5.0
_gauges_read_at = 0.0


def metrics_allowed(request: Request) -> bool:
    """Who may scrape: a request that arrived on METRICS_PORT (a port the cluster does not
    publish), or one carrying `Bearer METRICS_TOKEN`; in dev mode also the API port."""
    s = request.app.state.runtime.settings
    server = request.scope.get("server") or (None, None)
    if s.metrics_port and server[1] == s.metrics_port:
        return True
    if s.metrics_token:
        got = request.headers.get("authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {s.metrics_token}".encode())
    return not s.is_prod


async def metrics(request: Request) -> Response:
    """Prometheus scrape: process metrics plus gauges read from PostgreSQL and Redis, at most
    once every GAUGE_TTL_S seconds whoever scrapes. Anywhere but the metrics port it answers
    404 in production unless METRICS_TOKEN is presented (see metrics_allowed)."""
    global _gauges_read_at
    if not metrics_allowed(request):
        return Response("not found", status_code=404, media_type="text/plain")
    rt = request.app.state.runtime
    if time.monotonic() - _gauges_read_at >= GAUGE_TTL_S:
        _gauges_read_at = time.monotonic()
        await _read_database_gauges(rt)
    try:  # three HLENs: cheap enough for every scrape
        QUEUE_DEPTH.labels("ducha").set(await rt.redis.hlen("ducha:ducha.msgs"))
        QUEUE_DEPTH.labels("ducha.delayed").set(await rt.redis.hlen("ducha:ducha.DQ.msgs"))  # retries in backoff
        QUEUE_DEPTH.labels("ducha.dead").set(await rt.redis.hlen("ducha:ducha.XQ.msgs"))
    except Exception:  # noqa: BLE001
        log.warning("metrics: queue depth unavailable")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _read_database_gauges(rt: Any) -> None:
    try:
        async with rt.db.system_session() as s:
            row = (await s.execute(text(
                "SELECT count(*) FILTER (WHERE done_at IS NULL AND dead_at IS NULL),"
                " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE done_at IS NULL AND dead_at IS NULL)), 0),"
                " count(*) FILTER (WHERE dead_at IS NOT NULL) FROM outbox"))).one()
            OUTBOX_PENDING.set(row[0])
            OUTBOX_LAG.set(float(row[1]))
            DEAD_LETTERS.set(row[2])
            OVERDUE.set((await s.execute(text(
                "SELECT count(*) FROM deadline WHERE closed_at IS NULL AND due_on < current_date"))).scalar_one())
    except Exception:  # noqa: BLE001 - a scrape must answer even with the database away
        log.warning("metrics: database gauges unavailable")
