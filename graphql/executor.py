"""The execution context: graphql-core's, with a fast lane for plain leaf fields.

Most of a response is plain attributes of a resolved object (`id`, `status`, `dueOn`, a
nested `agency { id name }`): no resolver, no arguments, a scalar or enum result. For each
of them graphql-core builds a `Path`, a resolve-info object, calls Strawberry's default
resolver, checks twice for awaitables and coerces the value, a few microseconds a field and
hundreds of fields a page. The fast lane reads the attribute and coerces it directly.

It takes a field only when the result is certain to be the same as the general path's:

- the field is a Strawberry *basic* field (no resolver, no field extensions, no exception
  handlers), so its resolver is `getattr(source, python_name)`;
- its type, under any non-null wrapper, is a scalar or enum (coerced with the same
  `coerce_output_value` call graphql-core makes);
- no schema extension wraps resolvers (a `resolve` hook, e.g. the OpenTelemetry one, turns
  the lane off for the request);
- the value is not null, not an exception and coerces to a value. Anything else (a null in a
  non-null field, a value the scalar refuses) goes the general way, which raises and locates
  the error exactly as before.

A second shortcut, `lean_resolvers`, is applied once to the built schema: a resolver field
with no field extensions or exception handlers gets a resolve function that calls it directly,
instead of Strawberry's chain (the extension reduce, two partials, the async re-wrapping, and
the argument conversion that looks every argument's name and type up again on each call: here
an argument plan made once per field converts them, see `_argument_plan`). graphql-core still
calls it, so errors, paths, null propagation and schema-extension middleware are as before.

tests/test_executor.py checks the load mix and a set of edge documents answer the same with
both on and both off.
"""

from __future__ import annotations

from dataclasses import MISSING
from operator import attrgetter
from typing import Any

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# (parent type, field name) -> (getter, coerce, nullable) for fields the lane takes, None for the rest.
# Keyed by the type objects of one schema; a process builds a handful of schemas at most.
_Lane = tuple[Any, Any, bool] | None
_lanes: dict[tuple[Any, str], _Lane] = {}

ENABLED = True  # tests switch it off to compare


def _lane(schema: Any, parent_type: Any, name: str) -> _Lane:
    key = (parent_type, name)
    try:
        return _lanes[key]
    except KeyError:
        pass
    lane: _Lane = None
    field_def = schema.get_field(parent_type, name)
    if field_def is not None and not field_def.args and getattr(field_def.resolve, "_is_default", False):
        sfield = (field_def.extensions or {}).get("strawberry-definition")
        inner = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
        if (sfield is not None and sfield.is_basic_field and isinstance(inner, (GraphQLScalarType, GraphQLEnumType))
                and sfield.default_resolver is getattr):
            lane = (attrgetter(sfield.python_name), inner.coerce_output_value, inner is field_def.type)
    _lanes[key] = lane
    return lane


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor as Strawberry configures it, plus the plain-leaf lane."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executors = getattr(self.context_value, "executors", None)
        if executors is not None:  # Context.close() breaks the executor's cycle when the request ends
            executors.append(self)
        mm = self.middleware_manager
        self._lane_on = ENABLED and (mm is None or getattr(mm, "_middleware_resolvers", None) is None)

    def execute_fields(self, parent_type: Any, source_value: Any, path: Path | None, grouped_field_set: Any,
                       position_context: Any) -> Any:
        if not self._lane_on:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        schema = self.schema
        try:
            for response_name, field_details_list in grouped_field_set.items():
                lane = _lane(schema, parent_type, field_details_list[0].node.name.value)
                if lane is not None:
                    try:
                        value = lane[0](source_value)
                    except AttributeError:
                        value = Undefined
                    if value is None and lane[2]:
                        results[response_name] = None
                        continue
                    if value is not None and value is not Undefined and not isinstance(value, Exception):
                        try:
                            coerced = lane[1](value)
                        except Exception:  # noqa: BLE001 - the general path raises it, located
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            results[response_name] = coerced
                            continue
                result = self.execute_field(parent_type, source_value, field_details_list,
                                            Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._await_fields(results, awaitable_fields)

    async def _await_fields(self, results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        if len(awaitable_fields) == 1:
            f = awaitable_fields[0]
            results[f] = await results[f]
        else:
            results.update(zip(awaitable_fields, await gather_with_cancel(*(results[f] for f in awaitable_fields)),
                               strict=True))
        return results


def lean_resolvers(schema: Any) -> int:
    """Give resolver fields a direct resolve function (see the module's text). Returns how many
    fields were given one; the originals stay on `_ducha_strawberry_resolve`."""
    if getattr(schema.schema_converter, "_exception_handler_specs", None):
        return 0  # exception handlers wrap resolvers; keep Strawberry's chain
    info_class = schema.config.info_class
    registry = schema.schema_converter.scalar_registry
    config = schema.config
    count = 0
    for gtype in schema._schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for fdef in gtype.fields.values():
            sfield = (fdef.extensions or {}).get("strawberry-definition")
            resolver = getattr(sfield, "base_resolver", None)
            if (resolver is None or sfield.extensions or resolver.root_parameter or resolver.parent_parameter
                    or not callable(resolver.wrapped_func)):
                continue
            plan = _argument_plan(sfield, registry, config) if fdef.args else ()
            if plan is None:
                continue  # an argument type the plan does not cover: Strawberry converts it
            lean = _lean(resolver.wrapped_func, resolver.self_parameter is not None,
                         resolver.info_parameter.name if resolver.info_parameter else None, sfield, info_class,
                         plan)
            fdef._ducha_strawberry_resolve = fdef.resolve  # type: ignore[attr-defined]
            fdef.resolve = lean
            count += 1
    return count


# -- arguments ----------------------------------------------------------------------------------
# Strawberry converts a field's arguments on every call (strawberry.types.arguments.convert_argument):
# it finds each argument's GraphQL name, resolves its type and walks it, input objects field by
# field. The plan does that walk once per field when the schema is built; the conversion it
# does per call is the same: optional types pass through, None and UNSET stay, lists of leaves
# are copied, leaves (scalars, enums, already parsed by graphql-core) are kept, input objects
# are built from their fields (absent nullable fields None, absent fields with defaults left out).
# Types the plan does not cover (Maybe, GlobalID, input types with their own from_input) leave
# the field to Strawberry. tests/test_executor.py compares both conversions on generated values.

_Convert = Any  # Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _argument_plan(sfield: Any, registry: Any, config: Any) -> tuple[tuple[str, str, _Convert], ...] | None:
    plan = []
    for argument in sfield.arguments:
        convert = _converter(argument.type, registry, config)
        if convert is None or not argument.python_name:
            return None
        plan.append((config.name_converter.from_argument(argument), argument.python_name, convert))
    return tuple(plan)


def _converter(type_: Any, registry: Any, config: Any) -> _Convert | None:
    from strawberry.relay.types import GlobalID
    from strawberry.types.arguments import _is_leaf_type, _is_optional_leaf_type
    from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional, has_object_definition
    from strawberry.types.enum import has_enum_definition
    from strawberry.types.lazy_type import LazyType
    from strawberry.types.unset import UNSET

    if isinstance(type_, StrawberryMaybe):
        return None
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, registry, config)
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        if (_is_leaf_type(item, registry, skip_classes=(GlobalID,))
                or _is_optional_leaf_type(item, registry, skip_classes=(GlobalID,))):
            def copy_list(value: Any) -> Any:
                # copied, as Strawberry does: graphql-core hands every request the same default list
                return value if value is None or value is UNSET else list(value)
            return copy_list
        inner = _converter(item, registry, config)
        if inner is None:
            return None

        def each(value: Any) -> Any:
            return value if value is None or value is UNSET else [inner(x) for x in value]
        return each
    if type_ is GlobalID:
        return None
    if _is_leaf_type(type_, registry):
        return _same
    if isinstance(type_, LazyType):
        return _converter(type_.resolve_type(), registry, config)
    if has_enum_definition(type_):
        return _converter(type_.__strawberry_definition__, registry, config)
    if not has_object_definition(type_):
        return None
    definition = type_.__strawberry_definition__
    if definition.from_input is not None:
        return None
    defaults = {f.python_name: None for f in definition.fields
                if f.default_value is MISSING and f.default_factory is MISSING} if definition.is_input else {}
    fields = []
    for f in definition.fields:
        convert = _converter(f.resolve_type(type_definition=definition), registry, config)
        if convert is None:
            return None
        fields.append((config.name_converter.from_field(f), f.python_name, convert))
    cls = type_

    def build(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        kwargs = dict(defaults)
        for name, python_name, convert in fields:
            if name in value:
                kwargs[python_name] = convert(value[name])
        return cls(**kwargs)
    return build


def _lean(fn: Any, takes_self: bool, info_name: str | None, sfield: Any, info_class: Any,
          plan: tuple[tuple[str, str, _Convert], ...] = ()) -> Any:
    if plan:
        def resolve_args(source: Any, info: Any, **args: Any) -> Any:
            kwargs = {python_name: convert(args[name]) for name, python_name, convert in plan if name in args}
            if info_name:
                kwargs[info_name] = info_class(_raw_info=info, _field=sfield)
            return fn(source, **kwargs) if takes_self else fn(**kwargs)
        resolve = resolve_args
    elif takes_self and info_name:
        def resolve(source: Any, info: Any) -> Any:
            return fn(source, **{info_name: info_class(_raw_info=info, _field=sfield)})
    elif takes_self:
        def resolve(source: Any, info: Any) -> Any:
            return fn(source)
    elif info_name:
        def resolve(source: Any, info: Any) -> Any:
            return fn(**{info_name: info_class(_raw_info=info, _field=sfield)})
    else:
        def resolve(source: Any, info: Any) -> Any:
            return fn()
    resolve._ducha_takes_info = bool(info_name)  # type: ignore[attr-defined] # compiled plans skip building it
    return resolve


def restore_resolvers(schema: Any) -> None:
    """Undo lean_resolvers (tests compare answers both ways)."""
    for gtype in schema._schema.type_map.values():
        if isinstance(gtype, GraphQLObjectType):
            for fdef in gtype.fields.values():
                orig = getattr(fdef, "_ducha_strawberry_resolve", None)
                if orig is not None:
                    fdef.resolve = orig
                    del fdef._ducha_strawberry_resolve
