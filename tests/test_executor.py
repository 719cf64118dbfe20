"""The fast lane and lean resolvers (ducha.graphql.executor) and look-ahead loading (ducha.graphql.loading)
change how an answer is computed, never the answer: every request of the load mix (the front
end's list and detail screens as offices, inspectors, units and the province) and a set of
documents with aliases, fragments, directives, nulls and typed errors answer byte for byte
the same with both on and both off, and never with more SQL."""

from __future__ import annotations

import json
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


def test_lean_resolvers_cover_the_argument_less_resolver_fields_and_keep_the_rest(app):
    schema = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema
    lean = {(t.name, n) for t in schema._schema.type_map.values() if hasattr(t, "fields") and not t.name.startswith("__")
            for n, f in t.fields.items() if hasattr(f, "_ducha_strawberry_resolve")}
    assert {("ProblemInstance", "agency"), ("ProblemInstance", "overdue"), ("Inspection", "targets"),
            ("Agency", "tenant"), ("Query", "me")} <= lean
    # fields with arguments keep Strawberry's argument conversion
    assert ("Query", "problems") not in lean and ("Query", "inspection") not in lean
