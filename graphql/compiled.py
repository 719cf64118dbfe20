"""Compiled execution of persisted queries: a plan per document, run in one coroutine.

graphql-core executes a document by walking it anew for every request and every object: it
collects each object's fields from the selection set, builds a `Path` and a resolve-info
object for each field, dispatches on the field's type through `complete_value` and its
helpers, and gathers the awaitables of each object's fields and of each list's items, which
turns every coroutine there into a task (another for the abort-signal wrapper). The front end
sends the same few persisted queries again and again, so all of that except the values can be
worked out once per document: which fields an object of a given type answers, with which
resolver, arguments and completion. `Plan` holds that, built the first time a document runs on
the lean path and kept with it.

A run (`Run`) then walks the plan: each object's fields are resolved in order, plain leaves
read and coerced directly (as graphql/executor.py's lane does), everything else through the
field's resolve function with the same resolve info and arguments graphql-core would pass.
What comes back pending (a dataloader's future, a coroutine) goes on a work list; once the
whole tree reachable now has been walked, and so every dataloader key it needs has been
registered, the work list is awaited in order and each value completed in its place, which
walks further. All of this runs in the request's own coroutine: no task per field or list
item, only one per coroutine resolver when several are pending at once (as graphql-core's
gather would, so their loads still batch together).

The plan runs only queries (mutations keep graphql-core's serial execution), and only
documents without directives, without introspection fields and without fragment variables.
And it takes only the straight road. Anything that would end in a GraphQL error (a resolver
raising, a null in a non-null position, a value a scalar refuses, an abstract type resolving
to no possible type, a list that is not a list) abandons the run: the pending work is settled
and the operation is executed again by graphql-core, in the same transaction and with the
same dataloaders, so errors, their paths and their order, and null propagation are exactly
graphql-core's. Queries only read, so running their resolvers again changes nothing.

tests/test_compiled.py answers the load mix, documents with fragments, unions and lists, and
failing documents both ways and compares the results.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from operator import attrgetter
from typing import Any

from graphql import (
    FieldNode, FragmentDefinitionNode, GraphQLAbstractType, GraphQLEnumType, GraphQLList,
    GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, OperationDefinitionNode, OperationType,
)
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_fields, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.language import DirectiveNode, VariableNode, Visitor, visit
from graphql.pyutils import Path, Undefined
from strawberry.execution.is_awaitable import optimized_is_awaitable

from ducha.graphql.loading import retrieve

ENABLED = True  # tests switch it off to compare
STATS = {"runs": 0, "fallbacks": 0}  # tests read how often a run gave way to graphql-core

_NN, _LIST, _LEAF, _OBJ, _ABSTRACT = range(5)


class Bail(Exception):  # noqa: N818 - not an error: the run gives way to graphql-core
    """The straight road ends here; graphql-core executes the operation."""


def _strawberry_is_type_of(fn: Any) -> bool:
    """Strawberry's generated is_type_of ignores the resolve info it is given."""
    return getattr(fn, "__qualname__", "").startswith("GraphQLCoreConverter.from_object.")


class ObjectPlan:
    """The fields an object of one concrete type answers for one set of field nodes."""

    __slots__ = ("fields", "is_type_of", "type")

    def __init__(self, gtype: GraphQLObjectType) -> None:
        self.type = gtype
        self.fields: list[FieldPlan] = []
        self.is_type_of = gtype.is_type_of


class FieldPlan:
    """One response key of an object: how to resolve it and complete its value."""

    __slots__ = ("args", "details", "field_def", "key", "kind", "lane", "needs_info", "nodes", "resolve",
                 "static_args", "typename")

    def __init__(self, key: str) -> None:
        self.key = key
        self.typename = False
        self.lane: tuple[Any, Any, bool] | None = None
        self.field_def: Any = None
        self.details: list[FieldDetails] = []
        self.nodes: list[FieldNode] = []
        self.resolve: Any = None
        self.needs_info = True
        self.static_args: dict[str, Any] | None = None  # the arguments when no variable feeds them
        self.args = False  # does the field take arguments at all
        self.kind: Any = None


class Plan:
    """A document's query, compiled; `compile` returns None for what it does not run."""

    __slots__ = ("fragments", "operation", "root", "schema")

    def __init__(self, schema: Any, operation: OperationDefinitionNode, fragments: dict[str, FragmentDetails]) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.root: ObjectPlan | None = None

    @classmethod
    def compile(cls, schema: Any, document: Any, operation_name: str | None) -> Plan | None:
        operation = None
        fragments: dict[str, FragmentDetails] = {}
        for d in document.definitions:
            if isinstance(d, OperationDefinitionNode):
                if operation_name is None or (d.name is not None and d.name.value == operation_name):
                    if operation is not None and operation_name is None:
                        return None  # ambiguous: graphql-core answers that
                    operation = d
            elif isinstance(d, FragmentDefinitionNode):
                if d.variable_definitions:
                    return None
                fragments[d.name.value] = FragmentDetails(d, None)
        if operation is None or operation.operation is not OperationType.QUERY or _contains([document], DirectiveNode):
            return None
        plan = cls(schema, operation, fragments)
        root_type = schema.query_type
        if root_type is None:
            return None
        grouped = collect_fields(schema, fragments, None, root_type, operation).grouped_field_set
        root = plan._object(root_type, grouped)
        if root is None:
            return None
        plan.root = root
        return plan

    # -- building ----------------------------------------------------------------------------

    def _object(self, gtype: GraphQLObjectType, grouped: dict[str, list[FieldDetails]]) -> ObjectPlan | None:
        op = ObjectPlan(gtype)
        for key, details in grouped.items():
            fp = self._field(gtype, key, details)
            if fp is None:
                return None
            op.fields.append(fp)
        return op

    def _field(self, parent: GraphQLObjectType, key: str, details: list[FieldDetails]) -> FieldPlan | None:
        from ducha.graphql.executor import _lane

        node = details[0].node
        name = node.name.value
        fp = FieldPlan(key)
        if name == "__typename":
            fp.typename = True
            return fp
        if name.startswith("__"):
            return None  # introspection: graphql-core's
        if any(d.fragment_variable_values is not None for d in details):
            return None
        field_def = self.schema.get_field(parent, name)
        if field_def is None:
            return None
        fp.field_def, fp.details, fp.nodes = field_def, details, [d.node for d in details]
        lane = _lane(self.schema, parent, name)
        if lane is not None:
            fp.lane = lane
            return fp
        resolve = field_def.resolve
        if resolve is None:
            return None  # graphql-core's default field resolver: not used by this schema
        if getattr(resolve, "_is_default", False):
            sfield = (field_def.extensions or {}).get("strawberry-definition")
            if sfield is None or not sfield.is_basic_field or sfield.default_resolver is not getattr:
                return None
            getter = attrgetter(sfield.python_name)
            fp.resolve = lambda source, _info, _g=getter: _g(source)
            fp.needs_info = False
        else:
            fp.resolve = resolve
            fp.needs_info = getattr(resolve, "_ducha_takes_info", True)
        fp.args = bool(field_def.args or node.arguments)
        if fp.args and not _contains(node.arguments or (), VariableNode):
            args = get_argument_values(field_def, node, None)
            if _immutable(args):  # shared by every call: only values no resolver can change
                fp.static_args = args
        kind = self._kind(field_def.type, details, fp)
        if kind is None:
            return None
        fp.kind = kind
        return fp

    def _kind(self, gtype: Any, details: list[FieldDetails], fp: FieldPlan) -> Any:
        if isinstance(gtype, GraphQLNonNull):
            inner = self._kind(gtype.of_type, details, fp)
            return None if inner is None else (_NN, inner)
        if isinstance(gtype, GraphQLList):
            inner = self._kind(gtype.of_type, details, fp)
            return None if inner is None else (_LIST, inner)
        if isinstance(gtype, (GraphQLScalarType, GraphQLEnumType)):
            return (_LEAF, gtype.coerce_output_value)
        if isinstance(gtype, GraphQLObjectType):
            sub = self._object(gtype, self._subfields(gtype, details))
            if sub is None:
                return None
            if sub.is_type_of is not None and not _strawberry_is_type_of(sub.is_type_of):
                fp.needs_info = True
            return (_OBJ, sub)
        if isinstance(gtype, GraphQLAbstractType):
            fp.needs_info = True  # resolve_type is given the field's resolve info
            return (_ABSTRACT, gtype, {}, details)
        return None

    def _subfields(self, gtype: GraphQLObjectType, details: list[FieldDetails]) -> dict[str, list[FieldDetails]]:
        return collect_subfields(self.schema, self.fragments, None, self.operation, gtype, details).grouped_field_set

    def runtime_plan(self, kind: Any, runtime: GraphQLObjectType) -> ObjectPlan:
        """The plan of an abstract field's value once its runtime type is known (cached)."""
        plans = kind[2]
        op = plans.get(runtime)
        if op is None:
            op = self._object(runtime, self._subfields(runtime, kind[3]))
            if op is None:
                raise Bail
            plans[runtime] = op
        return op


def _contains(nodes: Any, kind: type) -> bool:
    """Does any of these AST nodes hold a node of `kind` (a directive, a variable)?"""
    found = False

    class Find(Visitor):
        def enter(self, node: Any, *_: Any) -> Any:
            nonlocal found
            if isinstance(node, kind):
                found = True
                return Visitor.BREAK
            return None

    for n in nodes:
        visit(n, Find())
        if found:
            break
    return found


def _immutable(args: dict[str, Any]) -> bool:
    return all(v is None or isinstance(v, (str, int, float, Enum)) for v in args.values())


def _check_type(ok: Any) -> None:
    if ok is True:
        return
    if asyncio.iscoroutine(ok):
        ok.close()  # an async is_type_of: graphql-core awaits it
        raise Bail
    if not ok or optimized_is_awaitable(ok):
        raise Bail


class Run:
    """One execution of a plan (see the module's text)."""

    __slots__ = ("batch", "executor", "plan", "tasks", "var_args", "work")

    def __init__(self, plan: Plan, executor: Any) -> None:
        self.plan = plan
        self.executor = executor
        self.work: list[tuple[Any, Any, FieldPlan, Path, Any, Any, Any]] = []
        self.batch: list[tuple[Any, Any, FieldPlan, Path, Any, Any, Any]] = []
        self.tasks: list[asyncio.Future[Any]] = []
        self.var_args: dict[int, dict[str, Any]] = {}

    async def execute(self) -> dict[str, Any]:
        """The data; raises Bail where graphql-core must answer instead."""
        root = self.plan.root
        assert root is not None
        try:
            data = self.fields(root, self.executor.root_value, None)
            await self.drain()
        except Bail:
            await self.settle()
            raise
        except Exception as e:
            await self.settle()
            raise Bail from e
        except BaseException:  # cancelled (the client went away, a timeout): so is what it started
            for t in self.tasks:
                t.cancel()
            raise
        return data

    async def settle(self) -> None:
        """Let what the abandoned run started finish (its errors are graphql-core's to report
        when it runs the operation again), so no two resolvers of the request overlap."""
        left = [item[0] for item in (*self.batch, *self.work)]
        self.batch, self.work = [], []
        for aw in left:
            if asyncio.iscoroutine(aw):
                aw.close()  # never started: nothing to undo
            elif isinstance(aw, asyncio.Future):
                aw.add_done_callback(retrieve)  # its error is graphql-core's to report
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for t in self.tasks:
            retrieve(t)
        self.tasks.clear()

    # -- walking -------------------------------------------------------------------------------

    def fields(self, op: ObjectPlan, source: Any, path: Path | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        tname = op.type.name
        for fp in op.fields:
            lane = fp.lane
            if lane is not None:
                try:
                    value = lane[0](source)
                except AttributeError:
                    raise Bail from None
                if value is None:
                    if lane[2]:
                        out[fp.key] = None
                        continue
                    raise Bail
                coerced = lane[1](value)
                if coerced is None or coerced is Undefined:
                    raise Bail
                out[fp.key] = coerced
                continue
            if fp.typename:
                out[fp.key] = tname
                continue
            fpath = Path(path, fp.key, tname)
            ex = self.executor
            info = ex.build_resolve_info(fp.field_def, fp.nodes, op.type, fpath) if fp.needs_info else None
            if not fp.args:
                value = fp.resolve(source, info)
            else:
                args = fp.static_args
                if args is None:
                    args = self.var_args.get(id(fp))
                    if args is None:
                        d = fp.details[0]
                        args = get_argument_values(fp.field_def, d.node, ex.variable_values, d.fragment_variable_values,
                                                   ex.hide_suggestions)
                        if _immutable(args):  # the same for every object of this request
                            self.var_args[id(fp)] = args
                value = fp.resolve(source, info, **args)
            if optimized_is_awaitable(value):
                out[fp.key] = None
                self.work.append((value, fp.kind, fp, fpath, out, fp.key, info))
            else:
                out[fp.key] = self.complete(fp.kind, fp, fpath, value, info)
        return out

    def complete(self, kind: Any, fp: FieldPlan, path: Path, value: Any, info: Any) -> Any:
        if isinstance(value, Exception):
            raise Bail
        tag = kind[0]
        if tag == _NN:
            if value is None or value is Undefined:
                raise Bail
            kind = kind[1]
            tag = kind[0]
        elif value is None or value is Undefined:
            return None
        if tag == _LEAF:
            coerced = kind[1](value)
            if coerced is None or coerced is Undefined:
                raise Bail
            return coerced
        if tag == _OBJ:
            op = kind[1]
            if op.is_type_of is not None:
                _check_type(op.is_type_of(value, info))
            return self.fields(op, value, path)
        if tag == _LIST:
            if not isinstance(value, (list, tuple)):
                raise Bail
            inner = kind[1]
            out: list[Any] = [None] * len(value)
            for i, item in enumerate(value):
                ipath = Path(path, i, None)
                if optimized_is_awaitable(item):
                    self.work.append((item, inner, fp, ipath, out, i, info))
                else:
                    out[i] = self.complete(inner, fp, ipath, item, info)
            return out
        # abstract
        rtype = kind[1]
        resolver = rtype.resolve_type or self.executor.type_resolver
        name = resolver(value, info, rtype)
        if asyncio.iscoroutine(name):
            name.close()  # an async resolve_type: graphql-core awaits it
            raise Bail
        schema = self.plan.schema
        runtime = schema.get_type(name) if isinstance(name, str) else None
        if not isinstance(runtime, GraphQLObjectType) or not schema.is_sub_type(rtype, runtime):
            raise Bail
        op = self.plan.runtime_plan(kind, runtime)
        if op.is_type_of is not None:
            _check_type(op.is_type_of(value, info))
        return self.fields(op, value, path)

    async def drain(self) -> None:
        """Await the work list: start every coroutine on it as a task (as graphql-core's gather
        does, so the dataloader keys they register batch together), then complete every value
        that has arrived, in one sweep, before waiting for the next; a value completed now may
        register keys that then go in the same batch as its neighbours'."""
        pending = self.batch
        while True:
            work = self.work
            if work:
                self.work = []
                if len(work) == 1 and not pending and not isinstance(work[0][0], asyncio.Future):
                    aw, kind, fp, path, container, key, info = work[0]  # alone: no task needed
                    container[key] = self.complete(kind, fp, path, await aw, info)
                    continue
                loop = asyncio.get_running_loop()
                for j, item in enumerate(work):
                    aw = item[0]
                    if not isinstance(aw, asyncio.Future):
                        task = loop.create_task(aw) if asyncio.iscoroutine(aw) else asyncio.ensure_future(aw)
                        self.tasks.append(task)
                        work[j] = (task, *item[1:])
                pending.extend(work)
            if not pending:
                return
            rest = []
            for item in pending:
                aw = item[0]
                if aw.done():
                    aw, kind, fp, path, container, key, info = item
                    container[key] = self.complete(kind, fp, path, aw.result(), info)
                else:
                    rest.append(item)
            pending[:] = rest
            if pending and not self.work:
                first = pending[0][0]
                try:
                    await first  # its value is taken by the next sweep, with the others that arrived
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if first.cancelled() and not (task is not None and task.cancelling()):
                        raise Bail from None  # a resolver's future was cancelled, not this request
                    raise
