"""OpenTelemetry tracing: an optional extra (`pip install 'ducha[otel]'`), off unless OTEL_ENABLED.

With it on, the API opens a SERVER span per HTTP request (continuing the caller's W3C
`traceparent`), Strawberry adds the operation, parsing, validation and resolver spans under it
(resolver arguments are never recorded: they hold case material), and every Dramatiq job gets
a span of its own. The trace id goes into the structured log lines as `trace_id`. Spans are
exported over OTLP/HTTP to the collector named by the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) variables; `OTEL_SERVICE_NAME` overrides the service
name. Without the extra installed, OTEL_ENABLED=true stops the process at start with a clear
message; with OTEL_ENABLED unset nothing of OpenTelemetry is imported.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ducha.settings import Settings

__all__ = ["TraceRequests", "configure", "enabled", "job_span", "schema_extension"]

_provider: Any = None


def _require() -> None:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("OTEL_ENABLED is set but OpenTelemetry is not installed: "
                           "pip install 'ducha[otel]' (or set OTEL_ENABLED=false)") from e


def enabled() -> bool:
    return _provider is not None


def configure(settings: Settings, service: str, *, exporter: Any = None) -> bool:
    """Install the process's tracer provider once (False when tracing is off). `exporter`
    (tests) is added with a synchronous processor; otherwise spans go out over OTLP/HTTP."""
    global _provider
    if not settings.otel_enabled:
        return False
    _require()
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if _provider is None:
        name = os.environ.get("OTEL_SERVICE_NAME") or service
        _provider = TracerProvider(resource=Resource.create({"service.name": name, "deployment.environment": settings.env}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    return True


def _no_args(args: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


def schema_extension() -> Callable[[], Any]:
    """A factory of Strawberry's OpenTelemetry extension (a fresh one per request), recording
    no resolver arguments."""
    _require()
    from strawberry.extensions.tracing import OpenTelemetryExtension

    def make() -> Any:
        return OpenTelemetryExtension(arg_filter=_no_args, tracer_provider=_provider)

    return make


class TraceRequests:
    """A SERVER span around each HTTP request, continuing an incoming `traceparent`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or _provider is None:
            return self.app(scope, receive, send)  # untraced: the inner coroutine, no frame of its own
        return self._traced(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        parent = propagate.extract(carrier)
        tracer = trace.get_tracer("ducha.api", tracer_provider=_provider)
        method, path = scope.get("method", ""), scope.get("path", "")
        span = tracer.start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER,
                                 attributes={"http.request.method": method, "url.path": path})
        token = context.attach(trace.set_span_in_context(span, parent))
        structlog.contextvars.bind_contextvars(trace_id=format(span.get_span_context().trace_id, "032x"))

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                span.set_attribute("http.response.status_code", message["status"])
                if message["status"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as e:
            span.record_exception(e)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            context.detach(token)
            span.end()


@contextmanager
def job_span(name: str, **attributes: Any) -> Iterator[None]:
    """A span around one background job (nothing when tracing is off)."""
    if _provider is None:
        yield
        return
    from opentelemetry import trace

    with trace.get_tracer("ducha.workers", tracer_provider=_provider).start_as_current_span(
            name, kind=trace.SpanKind.CONSUMER, attributes=attributes):
        yield
