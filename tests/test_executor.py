"""The fast lane and lean resolvers (ducha.graphql.executor) and look-ahead loading (ducha.graphql.loading)
change how an answer is computed, never the answer: every request of the load mix (the front
end's list and detail screens as offices, inspectors, units and the province) and a set of
documents with aliases, fragments, directives, nulls and typed errors answer byte for byte
the same with both on and both off, and never with more SQL."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import event, select

from ducha.graphql import executor, loading
from tests.conftest import token

EXTRA = [
    # aliases of the same plain field, fragments on the concrete and the abstract type, __typename
    ("jiayu.office", """query A($f: Int!) { a: problems(first: $f) { edges { node { x: id id status ...P
        agency { ... on Agency { name n2: name } } } } } }
        fragment P on ProblemInstance { dueOn overdue problem { title severity isCommon } }""", {"f": 5}),
    ("jiayu.office", """query B($skip: Boolean!) { inspections(first: 3) { edges { node { id title @skip(if: $skip)
        kind @include(if: $skip) tenant { name } targets { id name kindLabel } } } } }""", {"skip": True}),
    ("jiayu.office", """query B2($skip: Boolean!) { inspections(first: 3) { edges { node { id title @skip(if: $skip)
        kind @include(if: $skip) tenant { name } targets { id name kindLabel } } } } }""", {"skip": False}),
    # a node that does not exist and one of another tenant: typed errors, nulls
    ("jiayu.office", """{ i1: inspection(id: "999999999") { __typename ... on UserError { code message } }
        p1: problemInstance(id: "x") { __typename ... on UserError { code message } } }""", {}),
    ("xianning.office", """{ agencies(first: 50) { totalCount edges { node { id name shortName kind region { code }
        tenant { id name parent { name } region { level path } } } } pageInfo { hasNextPage endCursor } } }""", {}),
    ("jiayu.xinjie", """{ me { id roles { role region { name } } agency { name tenant { name } } } }""", {}),
]


async def _mix(gql: Any) -> list[tuple[str, str, dict[str, Any]]]:
    from ducha.bench.load import _variants
    from ducha.graphql import persisted

    docs = {name.removesuffix(".graphql"): persisted.manifest()[h] for name, h in persisted.names().items()}

    async def post(login: str, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        return await gql.data(login, docs[operation], variables)

    out = [(v.login, docs[v.operation], v.variables) for v in await _variants(post) if not v.expect]
    return out + EXTRA


@pytest.fixture
async def scenario(db, demo):
    from ducha.services import models as sm
    from ducha.services.demo_scenario import seed_scenario

    async with db.system_session() as s:
        if not (await s.execute(select(sm.ProblemInstance.id).limit(1))).first():
            await seed_scenario(s)


async def test_answers_are_the_same_with_the_lane_and_look_ahead_off(app, client, gql, scenario):
    requests = await _mix(gql)
    assert len(requests) >= 40
    engine = app.state.runtime.db.app.sync_engine
    count = 0

    def counting(*_: Any) -> None:
        nonlocal count
        count += 1

    schema = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema

    async def run(on: bool) -> list[tuple[str, int]]:
        nonlocal count
        executor.ENABLED = loading.LOOKAHEAD = on
        if not on:
            executor.restore_resolvers(schema)
        answers = []
        try:
            for login, doc, variables in requests:
                count = 0
                r = await client.post("/graphql", json={"query": doc, "variables": variables},
                                      headers={"Authorization": f"Bearer {token(login)}"})
                assert r.status_code == 200, r.text
                answers.append((json.dumps(r.json(), ensure_ascii=False, sort_keys=False), count))
        finally:
            executor.ENABLED = loading.LOOKAHEAD = True
            executor.lean_resolvers(schema)
        return answers

    event.listen(engine, "before_cursor_execute", counting)
    try:
        await run(True)  # warm caches (identity) so both runs see the same statements
        fast = await run(True)
        plain = await run(False)
    finally:
        event.remove(engine, "before_cursor_execute", counting)
    nonempty = 0
    for (login, doc, variables), (f_body, f_sql), (p_body, p_sql) in zip(requests, fast, plain, strict=True):
        assert f_body == p_body, (login, doc[:80], variables)
        assert f_sql <= p_sql, (login, doc[:80], f_sql, p_sql)
        nonempty += '"edges": [{' in f_body or '"id":' in f_body
    assert nonempty >= len(requests) // 2, "most answers were empty: the comparison proved little"


async def test_a_page_selecting_agency_problem_and_measures_loads_each_in_one_batch(app, client, gql, scenario):
    """A page of items, four looked-ahead fields: the scope, the page statement and one batch per
    loader (agencies; measures serve two fields; problems come primed with the page): never a
    statement per item."""
    engine = app.state.runtime.db.app.sync_engine
    statements: list[str] = []

    def record(conn, cursor, statement, *_: Any) -> None:
        statements.append(statement)

    doc = """query { problems(first: 20) { edges { node { id agency { name } problem { title }
             latestMeasure { content } measures { id } } } } }"""
    await gql.data("jiayu.office", doc)
    event.listen(engine, "before_cursor_execute", record)
    try:
        data = await gql.data("jiayu.office", doc)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(data["problems"]["edges"]) >= 10
    assert all(e["node"]["agency"]["name"] and e["node"]["problem"]["title"] for e in data["problems"]["edges"])
    assert len(statements) <= 5, statements


def test_selected_follows_fragments_and_inline_fragments():
    from graphql import parse

    from ducha.graphql.loading import selected

    doc = parse("""query { problems { edges { node { id ...F ... on ProblemInstance { agency { name } } } } } }
                   fragment F on ProblemInstance { problem { title } ...G } fragment G on ProblemInstance { status }""")
    op = doc.definitions[0]
    frags = {d.name.value: d for d in doc.definitions[1:]}

    class Raw:
        field_nodes = [op.selection_set.selections[0]]
        fragments = frags

    assert selected(Raw(), "edges", "node") == {"id", "problem", "agency", "status"}
    assert selected(Raw(), "edges") == {"node"}
    assert selected(Raw(), "nothing") == frozenset()


def test_lean_resolvers_cover_the_resolver_fields(app):
    schema = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema
    lean = {(t.name, n) for t in schema._schema.type_map.values() if hasattr(t, "fields") and not t.name.startswith("__")
            for n, f in t.fields.items() if hasattr(f, "_ducha_strawberry_resolve")}
    assert {("ProblemInstance", "agency"), ("ProblemInstance", "overdue"), ("Inspection", "targets"),
            ("Agency", "tenant"), ("Query", "me"), ("Query", "problems"), ("Query", "inspection"),
            ("Mutation", "recordProblem")} <= lean


def _argument_value(gtype: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of a GraphQL input type as graphql-core hands it to a resolver (coerced: enums
    as their Python values, input objects as dicts by field name), null where nullable now and then."""
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull

    if isinstance(gtype, GraphQLNonNull):
        return _argument_value(gtype.of_type, rng, depth)
    if rng.random() < 0.15:
        return None
    if isinstance(gtype, GraphQLList):
        return [_argument_value(gtype.of_type, rng, depth + 1) for _ in range(rng.randrange(4))]
    if isinstance(gtype, GraphQLEnumType):
        return rng.choice([v.value for v in gtype.values.values()])
    if isinstance(gtype, GraphQLInputObjectType):
        return {name: _argument_value(f.type, rng, depth + 1) for name, f in gtype.fields.items()
                if isinstance(f.type, GraphQLNonNull) or (depth < 3 and rng.random() < 0.6)}
    return rng.choice([0, 7, -1, "x", "四", "", True, 2.5, object()])


def test_lean_argument_conversion_is_strawberrys(app):
    """Every resolver field with arguments: the plan's conversion of generated argument values
    equals Strawberry's convert_arguments (same input objects, lists copied, nulls and absences
    kept), or both raise the same error."""
    from strawberry.types.arguments import convert_arguments

    schema = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema
    registry, config = schema.schema_converter.scalar_registry, schema.config
    rng = random.Random(20261207)
    fields = 0
    for gtype in schema._schema.type_map.values():
        if not hasattr(gtype, "fields") or gtype.name.startswith("__") or not hasattr(gtype, "interfaces"):
            continue
        for fdef in gtype.fields.values():
            if not fdef.args or not hasattr(fdef, "_ducha_strawberry_resolve"):
                continue
            sfield = fdef.extensions["strawberry-definition"]
            plan = executor._argument_plan(sfield, registry, config)
            assert plan is not None
            fields += 1
            for _ in range(25):
                args = {name: _argument_value(a.type, rng) for name, a in fdef.args.items()
                        if "NonNull" in type(a.type).__name__ or rng.random() < 0.8}
                try:
                    theirs: Any = convert_arguments(dict(args), sfield.arguments, scalar_registry=registry, config=config)
                except Exception as e:  # noqa: BLE001 - compared below
                    theirs = ("raised", type(e), str(e))
                try:
                    ours: Any = {p: c(args[n]) for n, p, c in plan if n in args}
                except Exception as e:  # noqa: BLE001
                    ours = ("raised", type(e), str(e))
                assert ours == theirs, (gtype.name, fdef.ast_node and fdef.ast_node.name.value, args)
                if isinstance(ours, dict):
                    for n, p, _ in plan:
                        if isinstance(args.get(n), list):
                            assert ours[p] is not args[n], "a list argument must be copied"
    assert fields >= 50


async def test_the_lean_loader_batches_caches_and_primes_as_strawberrys():
    """loading.Loader's `load` (no done-callback per key) keeps DataLoader's behaviour."""
    from strawberry.dataloader import DataLoader

    for cls in (DataLoader, loading.Loader):
        calls: list[list[int]] = []

        async def load(keys: list[int], calls: list[list[int]] = calls) -> list[Any]:
            calls.append(list(keys))
            return [ValueError("seven") if k == 7 else k * 10 for k in keys]

        loader = cls(load_fn=load)
        a, b, a2 = loader.load(1), loader.load(2), loader.load(1)
        assert a is a2
        assert await a == 10 and await b == 20
        loader.prime(3, 33)
        assert await loader.load(3) == 33 and loading.settled(loader, 3) == (True, 33)
        assert await loading.settle_all([loader.load(4), loader.load(5)]) == [40, 50]
        with pytest.raises(ValueError, match="seven"):
            await loader.load(7)
        await loading.prefetch(loader, [1, 6, 6, 8])
        assert loading.settled(loader, 6) == (True, 60) and loading.settled(loader, 8) == (True, 80)
        assert calls == [[1, 2], [4, 5], [7], [6, 8]], cls
