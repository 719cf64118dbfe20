"""The lean path: a JSON POST of a document the full path has already parsed and validated runs
straight on graphql-core, without Strawberry's HTTP view and extension machinery around it.

What the front end sends is a handful of persisted documents, again and again. For each of them
Strawberry's view parses the content type and the body, builds an execution context, instantiates
the schema extensions and runs their hooks around parsing, validation and execution (the parser
and validation caches answer, the limits have nothing left to check), then formats and encodes
the result: about 0.5 ms of a request that does no work of its own, more than the scoped
transaction costs. The lean path keeps only what those steps do for such a request:

- the request's JSON is read as the view reads it and refused the same way (the persisted-hash
  lookup and the allow-list of ``GraphQLEndpoint.parse_http_body`` are the same function);
- a document runs here only once the full path has parsed it, validated it (specified rules,
  depth, aliases, tokens, cost, introspection in production) and reached execution with it for
  the same operation name: `Remember`, an extension of the full path, records it then. Anything
  else (a new document, a validation error, a body the view would refuse, an upload) takes the
  full path, which answers exactly as before;
- execution is graphql-core's `execute` with the same executor class, root value, context,
  variables, operation name and operation extensions as Strawberry passes; a query is run by
  its compiled plan (ducha.graphql.compiled, made when the document is remembered), which
  gives way to that same `execute` wherever a field is on its way to an error;
- afterwards, what the extensions would do: errors logged by the schema's `process_errors`
  (before masking), the request marked failed (`MarkFailed`), the cost put in `extensions`
  (`QueryCost`), errors masked in production (`MaskErrors`), and the body encoded as the view
  encodes it.

It switches itself off when the schema has anything it does not reproduce: an extension other
than those, a resolve hook (the OpenTelemetry extension), directives, field-suggestion removal.
tests/test_lean.py answers the load mix and a set of edge requests both ways and compares bytes.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from graphql import DocumentNode, FieldNode, VariableNode, execute
from graphql.error import GraphQLError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import (
    AddValidationRules, MaskErrors, MaxTokensLimiter, ParserCache, SchemaExtension, ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.types.graphql import OperationType

from ducha.graphql import compiled
from ducha.graphql.compiled import Bail, Plan, Run
from ducha.graphql.cost import PAGE_ARGS, cost
from ducha.graphql.observability import COMPILED_FALLBACKS

if TYPE_CHECKING:
    from collections.abc import Iterator

    import strawberry

ENABLED = True  # tests switch it off to compare
log = logging.getLogger(__name__)

_MAX_PREPARED = 512
_MAX_COSTS = 64  # page-size combinations remembered per document


def encode_json(body: Any) -> bytes:
    """A GraphQL response body as both paths send it: compact JSON in UTF-8 (orjson; the
    standard library's encoder, same output, for what orjson refuses: an int beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document that passed parsing and validation for an operation name (as sent)."""

    document: DocumentNode
    operation_name: str | None  # as Strawberry resolves it: the sent one, else the first operation's
    label: str  # what MarkFailed records as the operation: its name, else its type
    static_cost: int | None  # the cost when no page size comes from a variable
    plan: Plan | None = None  # a query compiled for ducha.graphql.compiled, when it can run one
    page_variables: tuple[str, ...] = ()  # the variables that give page sizes (the cost depends on them alone)
    costs: dict[tuple[Any, ...], int] = field(default_factory=dict)  # cost by those variables' values


class Remember(SchemaExtension):
    """Full path, at execution (so parsing and validation passed): remember the document."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        lean: Lean | None = getattr(ec.schema, "ducha_lean", None)
        if lean is not None and ec.query is not None and ec.graphql_document is not None:
            lean.remember(ec.query, ec._provided_operation_name, ec.operation_name,  # noqa: SLF001
                          ec.operation_type, ec.graphql_document)
        yield


class MarkFailed(SchemaExtension):
    """Any error in `errors` rolls the whole request's transaction back (see the endpoint)."""

    def on_operation(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        ctx = ec.context
        if ctx is None or not hasattr(ctx, "failed"):
            return
        ctx.operation = ec.operation_name or (ec.operation_type.value if ec.graphql_document else None)
        errors = (ec.result.errors if ec.result else None) or ec.pre_execution_errors or []
        if errors:
            ctx.failed = True
            ctx.errors = list(errors)


class QueryCost(SchemaExtension):
    """Puts the operation's cost (see ducha.graphql.cost) into the response's `extensions`."""

    def get_results(self) -> dict[str, int]:
        ec = self.execution_context
        if ec.graphql_document is None:
            return {}
        return {"cost": cost(ec.graphql_document, ec.variables, ec.operation_name)}


# What the lean path reproduces; any other extension keeps every request on the full path.
_REPRODUCED = (ParserCache, ValidationCache, AddValidationRules, MaxTokensLimiter, DisableIntrospection, MaskErrors,
               QueryCost, MarkFailed, Remember)


def _page_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables that page-size arguments (first/last/limit) take."""
    names: dict[str, None] = {}
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode):
            for arg in node.arguments or ():
                if arg.name.value in PAGE_ARGS and isinstance(arg.value, VariableNode):
                    names[arg.value.name.value] = None
        sel = getattr(node, "selection_set", None)
        if sel is not None:
            stack.extend(sel.selections)
    return tuple(names)


class Lean:
    """The prepared documents of one schema and the way to run them."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self.schema = schema
        self.gschema = schema._schema  # noqa: SLF001
        self.executor_class = schema.execution_context_class
        self._prepared: OrderedDict[tuple[str, str | None], Prepared] = OrderedDict()
        exts = list(schema.extensions)
        self.mask: MaskErrors | None = next((e for e in exts if isinstance(e, MaskErrors)), None)
        self.usable = (
            not schema.directives
            and not schema.config.disable_field_suggestions
            and all(isinstance(e, _REPRODUCED) or (isinstance(e, type) and issubclass(e, _REPRODUCED)) for e in exts)
            and not any((e if isinstance(e, SchemaExtension) else e())._implements_resolve() for e in exts)
            and any(e is Remember for e in exts)
        )
        self.costs = any(e is QueryCost for e in exts)
        schema.ducha_lean = self  # type: ignore[attr-defined]

    # -- the documents --------------------------------------------------------------------

    def remember(self, query: str, provided: str | None, name: str | None, op_type: OperationType,
                 document: DocumentNode) -> None:
        key = (query, provided)
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return
        page_variables = _page_variables(document)
        static = None if page_variables else cost(document, None, name)
        plan = None
        if op_type is OperationType.QUERY:
            try:
                plan = Plan.compile(self.gschema, document, name)
            except Exception:  # noqa: BLE001 - a document the compiler cannot take runs on graphql-core
                log.exception("query %s not compiled; it runs on graphql-core", name)
        self._prepared[key] = Prepared(document, name, name or op_type.value, static, plan, page_variables)
        if len(self._prepared) > _MAX_PREPARED:
            self._prepared.popitem(last=False)

    @property
    def on(self) -> bool:
        return ENABLED and self.usable

    def prepared(self, query: str, provided: str | None) -> Prepared | None:
        return self._prepared.get((query, provided))

    # -- a request ------------------------------------------------------------------------

    async def run(self, prepared: Prepared, variables: dict[str, Any] | None, extensions: dict[str, Any] | None,
                  context: Any) -> bytes:
        """Execute, then do what the full path's extensions and view do; the JSON body."""
        if prepared.plan is not None and compiled.ENABLED:
            data = await self._compiled(prepared, variables, extensions, context)
            if data is not None:
                context.operation = prepared.label
                return encode_json(self._body(prepared, variables, data, None))
        try:
            result = execute(self.gschema, prepared.document, root_value=None, context_value=context,
                             variable_values=variables, operation_name=prepared.operation_name,
                             is_awaitable=optimized_is_awaitable, executor_class=self.executor_class,
                             operation_extensions=extensions)
            if optimized_is_awaitable(result):
                result = await result
            data, errors = result.data, result.errors
        except Exception as exc:  # noqa: BLE001 - as Strawberry's execute: a result, not a raise
            data, errors = None, [exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)]
        if errors:
            self.schema._process_errors(errors)  # noqa: SLF001 - logged as the full path logs them
        # MarkFailed
        context.operation = prepared.label
        if errors:
            context.failed = True
            context.errors = list(errors)
        return encode_json(self._body(prepared, variables, data, errors))

    def _body(self, prepared: Prepared, variables: dict[str, Any] | None, data: Any, errors: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"data": data}
        if errors:
            if self.mask is not None:
                errors = self.mask._process_errors(errors)  # noqa: SLF001
            body["errors"] = [e.formatted for e in errors]
        if self.costs:
            body["extensions"] = {"cost": self._cost(prepared, variables)}
        return body

    @staticmethod
    def _cost(prepared: Prepared, variables: dict[str, Any] | None) -> int:
        """The operation's cost; with page sizes from variables, worked out once per set of them
        (ducha.graphql.cost reads a page variable only when it holds an int)."""
        if prepared.static_cost is not None:
            return prepared.static_cost
        given = variables or {}
        key = tuple(v if isinstance(v, int) else None for v in map(given.get, prepared.page_variables))
        n = prepared.costs.get(key)
        if n is None:
            n = cost(prepared.document, variables, prepared.operation_name)
            if len(prepared.costs) >= _MAX_COSTS:
                prepared.costs.clear()
            prepared.costs[key] = n
        return n

    async def _compiled(self, prepared: Prepared, variables: dict[str, Any] | None,
                        extensions: dict[str, Any] | None, context: Any) -> dict[str, Any] | None:
        """The data of a compiled query, or None where graphql-core answers instead (variables it
        refuses, a field on the way to an error: see ducha.graphql.compiled)."""
        executor = self.executor_class.build(
            self.gschema, prepared.document, None, context, variables, prepared.operation_name,
            is_awaitable=optimized_is_awaitable, operation_extensions=extensions)
        if isinstance(executor, list) or not getattr(executor, "_lane_on", False):
            return None
        compiled.STATS["runs"] += 1
        try:
            return await Run(prepared.plan, executor).execute()  # type: ignore[arg-type]
        except Bail:
            compiled.STATS["fallbacks"] += 1
            COMPILED_FALLBACKS.labels(prepared.label).inc()  # a document that keeps giving way runs twice
            return None
