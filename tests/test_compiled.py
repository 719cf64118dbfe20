"""Compiled queries (ducha.graphql.compiled) answer exactly as graphql-core does.

Every request is sent on the lean path twice with the compiler off (the first remembers the
document, the second runs it on graphql-core) and once with it on; status, bytes and the
recorded operation must match, with no more SQL. The load mix, documents with fragments,
aliases, unions, lists, variables and typed errors run compiled without giving way; documents
on which a field fails (a resolver raising in a list, a null in a non-null field, a page over
the limit, variables graphql-core refuses) give way to graphql-core, whose answer (partial
data, errors with their paths, null propagation) is the one sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import parse
from sqlalchemy import event

from ducha.graphql import compiled, executor, persisted
from tests.conftest import token
from tests.test_executor import EXTRA, _mix, scenario  # noqa: F401 - fixture

DOCS = {name.removesuffix(".graphql"): persisted.manifest()[h] for name, h in persisted.names().items()}

SHAPES = [
    # a union answered through inline fragments, __typename on both sides, aliases of one field
    ("jiayu.office", """query U($id: ID!) { a: inspection(id: $id) { __typename ... on Inspection { id t: title title }
        ... on UserError { code message } } b: inspection(id: "999999999") { __typename ... on UserError { code } } }""",
     {"id": "1"}),
    # a named fragment spread twice at different depths, a nested list, a nullable leaf that is null
    ("jiayu.office", """query F { inspections(first: 5) { edges { cursor node { ...I targets { ...T } } }
        pageInfo { hasNextPage endCursor } totalCount } }
        fragment I on Inspection { id title status kind tenant { id name parent { id name } } }
        fragment T on Agency { id name shortName region { code name } }""", {}),
    # the same field under two parents, one of them through an interface-free fragment
    ("jiayu.xinjie", """{ me { login roles { role } agency { id name tenant { name } } ...M } }
        fragment M on Me { agency { kind } }""", {}),
]


def _schema(app: Any) -> Any:
    return next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql").schema


def test_every_persisted_query_compiles(app):
    gschema = _schema(app)._schema
    queries = not_compiled = 0
    for name, doc in DOCS.items():
        document = parse(doc)
        op = next(d for d in document.definitions if getattr(d, "operation", None) is not None)
        if op.operation.value != "query":
            assert compiled.Plan.compile(gschema, document, None) is None, name  # mutations stay graphql-core's
            continue
        queries += 1
        if compiled.Plan.compile(gschema, document, None) is None:
            not_compiled += 1
            pytest.fail(f"{name} does not compile")
    assert queries >= 40 and not_compiled == 0


def test_what_the_plan_does_not_take_is_left_to_graphql_core(app):
    gschema = _schema(app)._schema
    for doc in ("query ($s: Boolean!) { me { login @skip(if: $s) } }",  # directives
                "{ __schema { queryType { name } } }",  # introspection
                "mutation { markAllNotificationsRead { __typename } }",
                "query A { me { login } } query B { me { id } }"):  # two operations, no name
        assert compiled.Plan.compile(gschema, parse(doc), None) is None, doc
    assert compiled.Plan.compile(gschema, parse("query A { me { login } } query B { me { id } }"), "B") is not None


async def _both_ways(app: Any, client: Any, requests: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    engine = app.state.runtime.db.app.sync_engine
    count = 0

    def counting(*_: Any) -> None:
        nonlocal count
        count += 1

    out = []
    event.listen(engine, "before_cursor_execute", counting)
    try:
        for login, doc, variables in requests:
            body = json.dumps({"query": doc, "variables": variables})
            h = {"Authorization": f"Bearer {token(login)}", "Content-Type": "application/json"}
            answers = []
            for on in (False, False, True):
                compiled.ENABLED = on
                runs, fallbacks = compiled.STATS["runs"], compiled.STATS["fallbacks"]
                count = 0
                try:
                    r = await client.post("/graphql", content=body, headers=h)
                finally:
                    compiled.ENABLED = True
                answers.append((r.status_code, r.content, count, compiled.STATS["runs"] - runs,
                                compiled.STATS["fallbacks"] - fallbacks))
            (s0, b0, _, r0, _), (s1, b1, sql1, r1, _), (s2, b2, sql2, r2, f2) = answers
            where = (login, doc[:100], variables)
            assert r0 == r1 == 0, where
            assert s1 == s2 and b1 == b2, (where, b1[:400], b2[:400])
            assert s0 == s1, where
            if not f2:  # a run that gave way has run part of the SQL twice
                assert sql2 <= sql1, (where, sql1, sql2)
            out.append({"status": s2, "body": b2, "compiled": r2, "fallback": f2})
    finally:
        event.remove(engine, "before_cursor_execute", counting)
    return out


async def test_the_load_mix_and_shapes_run_compiled_and_answer_as_graphql_core(app, client, gql, scenario):
    requests = [r for r in await _mix(gql) if "@skip" not in r[1]] + SHAPES
    results = await _both_ways(app, client, requests)
    assert all(r["status"] == 200 for r in results)
    assert all(r["compiled"] == 1 and r["fallback"] == 0 for r in results), \
        [(req[1][:60], r["compiled"], r["fallback"]) for req, r in zip(requests, results, strict=True)
         if r["compiled"] != 1 or r["fallback"]]
    assert sum(b'"id":' in r["body"] for r in results) >= len(results) // 2, "mostly empty answers prove little"
    assert b'"__typename":"NotFound"' in results[-3]["body"] and b'"__typename":"Inspection"' in results[-3]["body"]


async def test_directives_run_on_graphql_core(app, client, gql, scenario):
    requests = [r for r in EXTRA if "@skip" in r[1]]
    assert requests
    results = await _both_ways(app, client, requests)
    assert all(r["compiled"] == 0 for r in results)


async def test_failing_fields_give_way_to_graphql_core(app, client, scenario, monkeypatch):
    """Errors, their paths and order, partial data and null propagation are graphql-core's."""
    gschema = _schema(app)._schema
    agency = gschema.type_map["Agency"]
    region_resolve, name_resolve = agency.fields["region"].resolve, agency.fields["name"].resolve

    def region(source: Any, info: Any, **kw: Any) -> Any:  # some agencies' regions fail
        if int(source.id) % 3 == 1:
            raise ValueError("region unavailable")
        return region_resolve(source, info, **kw)

    def name(source: Any, info: Any, **kw: Any) -> Any:  # a non-null field comes back null
        if int(source.id) % 3 == 2:
            return None
        return (name_resolve or (lambda s, _i: s.name))(source, info, **kw)

    monkeypatch.setattr(agency.fields["region"], "resolve", region)
    monkeypatch.setattr(agency.fields["name"], "resolve", name)
    monkeypatch.setattr(executor, "_lanes", {})  # `name` is no longer a plain leaf: lanes found again
    requests = [
        # new documents (plans are made with the patched resolvers)
        ("xianning.office", "query R1 { agencies(first: 5) { edges { node { id region { code } } } } }", {}),
        ("xianning.office", "query R2 { agencies(first: 5) { edges { node { id name } } } }", {}),
        # a typed error from a resolver, and variables graphql-core refuses
        ("jiayu.office", "query P($n: Int!) { problems(first: $n) { totalCount } }", {"n": 100000}),
        ("jiayu.office", DOCS["ProblemList"], {"first": "twenty", "filter": {}}),
    ]
    from ducha.graphql.observability import COMPILED_FALLBACKS

    before = COMPILED_FALLBACKS.labels("R1")._value.get()
    results = await _both_ways(app, client, requests)
    assert COMPILED_FALLBACKS.labels("R1")._value.get() == before + 1  # operators see documents that give way
    bodies = [json.loads(r["body"]) for r in results]
    assert all("errors" in b for b in bodies), bodies
    assert results[0]["fallback"] == results[1]["fallback"] == results[2]["fallback"] == 1
    assert results[3]["compiled"] == 0  # refused before execution: graphql-core's
    edges = bodies[0]["data"]["agencies"]["edges"]
    failed = [i for i, e in enumerate(edges) if int(e["node"]["id"]) % 3 == 1]
    assert failed and len(failed) < len(edges)
    assert [e["path"] for e in bodies[0]["errors"]] == [["agencies", "edges", i, "node", "region"] for i in failed]
    assert all(edges[i]["node"]["region"] is None for i in failed)
    assert bodies[1]["errors"][0]["message"].startswith("Cannot return null for non-nullable field Agency.name")
