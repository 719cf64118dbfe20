"""The ASGI application: /graphql, /healthz, /readyz and /metrics on Starlette."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from cross_web import HTTPException  # what strawberry raises for unusable requests

from ducha import tracing
from ducha.db import Database
from ducha.graphql import limits, persisted
from ducha.graphql.context import Context
from ducha.graphql.observability import RATE_LIMITED, RequestLog, configure_logging, metrics, observe_operation
from ducha.graphql.documents.download import download
from ducha.graphql.lean import Lean, Prepared, encode_json
from ducha.graphql.schema import build_schema
from ducha.policies.authz import get_authorizer
from ducha.policies.watcher import PolicyWatcher
from ducha.settings import Settings, get_settings
from ducha.tenants.auth import AuthError, IdentityCache, bearer_token, decode_token, load_identity

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the process holds for its lifetime: engines, Redis, watcher, identity cache."""

    settings: Settings
    db: Database
    redis: Any
    watcher: PolicyWatcher | None
    identities: IdentityCache


class BodyLimit:
    """Refuse request bodies over the configured size with 413 before reading them whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A pass-through returns the inner app's coroutine rather than awaiting it: one frame
        # fewer for every resumption of the request's coroutine (it waits on PostgreSQL 7-8 times).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_bytes:
                return _too_large(self.max_bytes)(scope, receive, send)
            if b"transfer-encoding" not in headers:
                return self.app(scope, receive, send)  # the server reads exactly Content-Length bytes
        return self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a length (chunked): counted as it arrives."""
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.max_bytes)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(n: int) -> Response:
    return JSONResponse({"errors": [{"message": f"request body over {n} bytes", "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]},
                        status_code=413)


def _auth_failed(e: AuthError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if e.status == 401 else {}
    return JSONResponse(
        {"errors": [{"message": e.message, "extensions": {"code": "UNAUTHENTICATED" if e.status == 401 else "FORBIDDEN"}}]},
        status_code=e.status, headers=headers,
    )


def _unstorable(value: Any, depth: int = 0) -> str | None:
    """NUL characters and unpaired surrogates: valid JSON, but no text column can hold them."""
    if depth > 64:
        return "values nested too deeply"
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "an unpaired surrogate"
        return None
    if isinstance(value, dict):
        items: Any = list(value.keys()) + list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for v in items:
        found = _unstorable(v, depth + 1)
        if found:
            return found
    return None


class GraphQLEndpoint(GraphQL):
    """Strawberry's view, with the caller authenticated and one scoped transaction per request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        super().__init__(
            build_schema(runtime.settings),
            graphql_ide=None if runtime.settings.is_prod else "graphiql",
            allow_queries_via_get=False,
        )
        self.lean: Lean = self.schema.ducha_lean  # type: ignore[attr-defined]

    def encode_json(self, data: object) -> bytes:
        """The response body, encoded as the lean path encodes it (compact, UTF-8)."""
        return encode_json(data)

    async def parse_http_body(self, request: Any) -> Any:
        """Persisted operations: a hash alone runs its stored document; with the allow-list on,
        any other document is refused."""
        try:
            data = await super().parse_http_body(request)
        except RecursionError:
            raise HTTPException(400, "request body is nested too deeply") from None
        if not isinstance(data, list):
            problem = _unstorable(data.variables) or _unstorable(data.query)
            if problem:
                raise HTTPException(400, f"request holds {problem}, which text fields cannot store")
        if isinstance(data, list):
            raise HTTPException(400, "batched operations are not accepted; send one operation per request")
        data.query = self.document(data.query, data.extensions)
        return data

    def document(self, query: str | None, extensions: Any) -> str | None:
        """The document to run: the persisted one a hash names, or the one sent (refused when
        only persisted operations may run and it is not one of them)."""
        ext = extensions or {}
        pq = ext.get("persistedQuery") if isinstance(ext, dict) else None
        wanted = pq.get("sha256Hash") if isinstance(pq, dict) else None
        known = persisted.manifest()
        if query is None and isinstance(wanted, str):
            if wanted not in known:
                raise HTTPException(400, "PersistedQueryNotFound: no persisted operation has this sha256Hash")
            return known[wanted]
        if self.runtime.settings.allow_list_only and (query is None or persisted.sha256(query) not in known):
            raise HTTPException(400, "only persisted operations run here: send extensions.persistedQuery.sha256Hash "
                                     "of a document in graphql/operations/")
        return query

    async def lean_request(self, request: Request) -> tuple[Prepared, Any, Any] | None:
        """The request, if the lean path can answer it exactly as the full path would (see
        ducha.graphql.lean): a plain JSON POST of a well-formed operation whose document has been
        validated before. None sends it the full way, which also gives every refusal."""
        if not self.lean.on:
            return None
        headers = request.headers
        if headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return None
        accept = headers.get("accept", "")
        if "multipart/mixed" in accept or "text/event-stream" in accept:
            return None  # a streaming transport: Strawberry's
        try:
            # orjson refuses what the standard parser takes (lone surrogates, NaN, ints beyond 64
            # bits, nesting past 1024): such a request goes the full way, which answers it
            data = orjson.loads(await request.body())
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        query, variables, name, ext = (data.get("query"), data.get("variables"), data.get("operationName"),
                                       data.get("extensions"))
        if (not isinstance(query, (str, type(None))) or not isinstance(variables, (dict, type(None)))
                or not isinstance(ext, (dict, type(None))) or not isinstance(name, (str, type(None)))
                or _unstorable(variables) or _unstorable(query)):
            return None
        try:
            query = self.document(query, ext)
        except HTTPException:
            return None
        prepared = self.lean.prepared(query, name) if query is not None else None
        return None if prepared is None else (prepared, variables, ext)

    async def identify(self, request: Request) -> Any:
        rt = self.runtime
        login = decode_token(bearer_token(request.headers.get("authorization")), rt.settings)
        ident = rt.identities.get(login)
        if ident is None:
            async with rt.db.system_session() as s:
                ident = await load_identity(s, login)
            rt.identities.put(login, ident)
        return ident

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and self.graphql_ide and "text/html" in request.headers.get("accept", ""):
            await (await self.render_graphql_ide(request))(scope, receive, send)
            return
        if request.method != "POST":
            await PlainTextResponse("use POST for GraphQL", status_code=405, headers={"Allow": "POST"})(
                scope, receive, send
            )
            return
        try:
            await self._serve(request, scope, receive, send)
        except (DBAPIError, OSError, ConnectionError) as e:
            if isinstance(e, DBAPIError) and not (e.connection_invalidated or isinstance(e, (InterfaceError, OperationalError))):
                raise
            # PostgreSQL away: a clean 503 keeps the client's connection usable; the pool
            # pre-pings and reconnects by itself once it is back.
            log.warning("database unavailable: %s", type(e).__name__)
            await JSONResponse({"errors": [{"message": "the database is unavailable; retry shortly",
                                            "extensions": {"code": "UNAVAILABLE"}}]},
                               status_code=503, headers={"Retry-After": "1"})(scope, receive, send)

    async def _serve(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            ident = await self.identify(request)
        except AuthError as e:
            await _auth_failed(e)(scope, receive, send)
            return
        rt = self.runtime
        p = ident.principal
        structlog.contextvars.bind_contextvars(user=p.login, tenant_id=p.tenant_id)
        refusal = await limits.check(rt.redis, user_id=p.user_id, tenant_id=p.tenant_id,
                                     per_user=rt.settings.rate_limit_per_user, per_tenant=rt.settings.rate_limit_per_tenant)
        if refusal is not None:
            RATE_LIMITED.labels(refusal.scope).inc()
            await JSONResponse(
                {"errors": [{"message": f"too many requests for this {refusal.scope} ({refusal.limit} a minute); "
                                        f"retry after {refusal.retry_after} s",
                             "extensions": {"code": "RATE_LIMITED", "scope": refusal.scope}}]},
                status_code=429, headers={"Retry-After": str(refusal.retry_after)})(scope, receive, send)
            return
        started = time.perf_counter()
        async with rt.db.scoped(ident.scope) as session:
            ctx = Context(request=request, settings=rt.settings, db=rt.db, session=session, identity=ident,
                          redis=rt.redis)
            try:
                lean = await self.lean_request(request)
                if lean is not None:
                    response = Response(await self.lean.run(*lean, ctx), media_type="application/json")
                else:
                    response = await self.run(request, context=ctx)
            except HTTPException as e:  # unparsable body, wrong content type, ...
                ctx.failed = True
                response = JSONResponse({"errors": [{"message": e.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                                        status_code=e.status_code)
            finally:
                await ctx.close()
            if ctx.failed:
                await session.rollback()
        if not ctx.failed:
            for hook in ctx.after_commit:
                await hook()
        observe_operation(ctx.operation or "unknown", time.perf_counter() - started, ctx.errors)
        await response(scope, receive, send)




async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        async with rt.db.app.connect() as c:
            await c.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as e:  # noqa: BLE001 - reported, not raised
        checks["postgres"] = f"down: {type(e).__name__}"
    try:
        await rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as e:  # noqa: BLE001
        checks["redis"] = f"down: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


class SecurityHeaders:
    """Headers every response carries (an API: no framing, no sniffing, no referrer)."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"), (b"cross-origin-resource-policy", b"same-origin"),
               (b"cache-control", b"no-store")]

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.extra = [(b"strict-transport-security", b"max-age=31536000; includeSubDomains")] if hsts else []

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in self.HEADERS + self.extra if k not in names]]
            await send(message)

        return self.app(scope, receive, with_headers)  # the inner coroutine, not awaited here (see BodyLimit)


class App(Starlette):
    """Starlette, with POST /graphql (nearly every request) taken straight to the endpoint
    through the same middleware: Starlette's error and exception layers and router add a
    coroutine and a `send` wrapper each and a path match for a route known in advance.
    The endpoint answers its own errors (auth, 4xx, 503); an exception it raises still reaches
    uvicorn, which answers 500, and RequestLog logs it as 500 as before."""

    graphql_post: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.graphql_post is not None and scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] == "/graphql"):
            scope["app"] = self
            await self.graphql_post(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _wrap(app: ASGIApp, middleware: list[Middleware]) -> ASGIApp:
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app


GC_GEN0_THRESHOLD = 10_000  # allocations net of frees between generation-0 collections (CPython's default: 700)


def create_app(settings: Settings | None = None) -> Starlette:
    s = settings or get_settings()
    configure_logging(s.json_logs)
    tracing.configure(s, "ducha-api")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt: Runtime = app.state.runtime
        if rt.watcher is not None and s.redis_url:
            await rt.watcher.start(s.redis_url)
        # Everything loaded so far (schema, mappers, policies) lives as long as the process:
        # moved out of the collector's generations, a full collection no longer walks it. Without
        # this, gen-2 collections over that heap put 100 ms stalls into the p95 of large pages.
        gc.collect()
        gc.freeze()
        # A request leaves no cyclic garbage (Context.close breaks its cycles), so what it built is
        # freed by reference counting; generation-0 collections then only ever find the live objects
        # of the requests in flight and push them into the older generations. A higher threshold
        # makes them rare (measured under the load mix: collector time per request 0.22 -> 0.01 ms).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_GEN0_THRESHOLD), *thresholds[1:])
        yield
        gc.set_threshold(*thresholds)
        if rt.watcher is not None:
            await rt.watcher.stop()
        await rt.redis.aclose()
        await rt.db.dispose()

    authorizer = get_authorizer()
    identities = IdentityCache(trusted=lambda: authorizer.cache.trusted)
    authorizer.cache.add_listener(identities.invalidate_user)
    runtime = Runtime(
        settings=s,
        db=Database.from_settings(s),
        redis=aioredis.Redis.from_url(s.redis_url or "redis://127.0.0.1:6379/0", socket_timeout=2),
        watcher=PolicyWatcher(authorizer),
        identities=identities,
    )
    endpoint = GraphQLEndpoint(runtime)
    app = App(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/files/{token}", download, methods=["GET"]),
        ],
        middleware=(middleware := [
            Middleware(RequestLog),
            Middleware(tracing.TraceRequests),
            Middleware(SecurityHeaders, hsts=s.is_prod),
            Middleware(BodyLimit, max_bytes=s.max_body_bytes),
            # only the listed origins; the front end may read Retry-After (429/503) and the request id
            Middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["POST", "GET"],
                       allow_headers=["authorization", "content-type", "x-request-id", "traceparent"],
                       expose_headers=["retry-after", "x-request-id"], max_age=600),
        ]),
        lifespan=lifespan,
    )
    app.graphql_post = _wrap(endpoint, middleware)
    app.state.runtime = runtime
    return app
