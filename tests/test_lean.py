"""The lean path (ducha.graphql.lean) answers a document seen before without Strawberry's view
and extension machinery; it must answer exactly as the full path does: the same status, the
same bytes, the same recorded operation and errors (metrics, rollback), the same masking in
production. Every request here is sent three times: the full path (lean off), then lean on
twice (the first remembers the document, the second runs lean, which is checked)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ducha.graphql import lean, persisted
from tests.conftest import token
from tests.test_audit27_hardening import _prod_headers, prod, rsa_key  # noqa: F401 - fixtures
from tests.test_executor import EXTRA, _mix, scenario  # noqa: F401 - fixture

DOCS = {name.removesuffix(".graphql"): persisted.manifest()[h] for name, h in persisted.names().items()}

EDGE: list[tuple[str, dict[str, Any]]] = [
    # variables the operation cannot coerce: an execution error on a validated document
    ("jiayu.office", {"query": DOCS["ProblemList"], "variables": {"first": "twenty", "filter": {}}}),
    ("jiayu.office", {"query": DOCS["ProblemList"], "variables": {"filter": {}}}),
    # a page over the limit: a typed GraphQL error from the resolver
    ("jiayu.office", {"query": "query P($n: Int!) { problems(first: $n) { totalCount } }", "variables": {"n": 100000}}),
    # by persisted hash, with and without an operation name
    ("jiayu.office", {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": persisted.sha256(DOCS["Me"])}}}),
    ("jiayu.office", {"operationName": "Me",
                      "extensions": {"persistedQuery": {"version": 1, "sha256Hash": persisted.sha256(DOCS["Me"])}}}),
    # two operations: by name, and without a name (Strawberry runs the first)
    ("jiayu.office", {"query": "query A { me { login } } query B { me { id } }", "operationName": "B"}),
    ("jiayu.office", {"query": "query A { me { login } } query B { me { id } }"}),
    # anonymous query; mutation failing typed (the load mix's RecordProblem)
    ("jiayu.inspector", {"query": "{ me { login roles { role } } }"}),
    ("jiayu.xinjie", {"query": DOCS["RecordProblem"], "variables": {"input": {
        "inspectionId": "1", "title": "t", "description": "d", "category": "x", "severity": "GENERAL",
        "basis": "b", "rectificationDays": 30, "targetAgencyIds": ["1"]}}}),
    # the same document with other page sizes: the cost follows them (worked out once per set)
    ("jiayu.office", {"query": DOCS["ProblemList"], "variables": {"first": 5, "filter": {}}}),
    ("jiayu.office", {"query": DOCS["ProblemList"], "variables": {"first": 50, "filter": {}}}),
    ("jiayu.office", {"query": DOCS["ProblemList"], "variables": {"first": 5, "filter": {}}}),
    # operation extensions passed through, unknown ones ignored
    ("jiayu.office", {"query": DOCS["Region"], "variables": {"code": "421221"}, "extensions": {"x": 1}}),
]


def _lean_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    runs = [0]
    orig = lean.Lean.run

    async def counting(self: Any, *a: Any, **kw: Any) -> bytes:
        runs[0] += 1
        return await orig(self, *a, **kw)

    monkeypatch.setattr(lean.Lean, "run", counting)
    return runs


def _observed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    from ducha.graphql import app as app_module

    seen: list[tuple[str, list[str]]] = []
    orig = app_module.observe_operation

    def record(operation: str, seconds: float, errors: list[Any] | None) -> None:
        seen.append((operation, [e.message for e in errors or ()]))
        orig(operation, seconds, errors)

    monkeypatch.setattr(app_module, "observe_operation", record)
    return seen


async def _three_ways(client: Any, login_headers: Any, requests: list[tuple[str, dict[str, Any]]],
                      monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    runs = _lean_counter(monkeypatch)
    seen = _observed(monkeypatch)
    out = []
    for login, body in requests:
        answers = []
        for on in (False, True, True):
            lean.ENABLED = on
            before = runs[0]
            try:
                r = await client.post("/graphql", content=json.dumps(body), headers={
                    **login_headers(login), "Content-Type": "application/json"})
            finally:
                lean.ENABLED = True
            answers.append((r.status_code, r.content, seen[-1] if seen else None, runs[0] - before))
        out.append((login, body, answers))
    return out


def _same(results: list[tuple[Any, ...]]) -> int:
    lean_runs = 0
    for login, body, ((s0, b0, o0, n0), (s1, b1, o1, _), (s2, b2, o2, n2)) in results:
        where = (login, json.dumps(body)[:120])
        assert n0 == 0, where
        assert s0 == s1 == s2, (where, s0, s1, s2)
        assert b0 == b1 == b2, (where, b0[:300], b2[:300])
        assert o0 == o1 == o2, (where, o0, o2)
        lean_runs += n2
    return lean_runs


async def test_the_lean_path_answers_the_load_mix_and_edge_requests_as_the_full_path(
        app, client, gql, scenario, monkeypatch):
    mix = [(login, {"query": doc, "variables": variables}) for login, doc, variables in await _mix(gql)]
    requests = mix + EDGE
    results = await _three_ways(client, lambda login: {"Authorization": f"Bearer {token(login)}"}, requests,
                                monkeypatch)
    assert _same(results) == len(requests), "every one of these ran lean the second time"
    statuses = {s for _, _, ((s, *_), *_) in results}
    assert statuses == {200}
    bodies = [b for _, _, ((_, b, *_), *_) in results]
    assert sum(b'"errors"' in b for b in bodies) >= 4, "the error cases answered without errors"
    assert all(b'"extensions":{"cost":' in b for b in bodies)


async def test_requests_the_view_refuses_or_has_not_validated_take_the_full_path(app, client, demo, monkeypatch):
    runs = _lean_counter(monkeypatch)
    h = {"Authorization": f"Bearer {token('jiayu.office')}", "Content-Type": "application/json"}
    me = json.dumps({"query": "{ me { login } }"})
    assert (await client.post("/graphql", content=me, headers=h)).status_code == 200
    assert (await client.post("/graphql", content=me, headers=h)).status_code == 200
    assert runs[0] == 1  # remembered by the first, lean the second
    refused = [
        json.dumps({"query": "{ me { nosuchfield } }"}),  # validation error: never remembered
        json.dumps({"query": "{ me { nosuchfield } }"}),
        json.dumps([{"query": "{ me { login } }"}]),  # a batch
        json.dumps({"query": "{ me { login } }", "variables": []}),  # variables not an object
        json.dumps({"query": "{ me { login } }", "variables": {"x": "a\u0000b"}}),  # NUL
        json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}),
        "{not json",
    ]
    for body in refused:
        r = await client.post("/graphql", content=body, headers=h)
        assert r.status_code in (200, 400), r.text
        assert "errors" in r.json()
    assert runs[0] == 1, "a request the full path refuses or has not validated ran lean"
    # another content type (as the view reads it) is the full path's to answer
    r = await client.post("/graphql", content=me, headers={**h, "Content-Type": "text/plain"})
    assert r.status_code == 400
    assert runs[0] == 1


async def test_a_lean_request_with_errors_is_marked_failed_so_the_endpoint_rolls_it_back(app, client, demo,
                                                                                        monkeypatch):
    """The endpoint rolls back a request whose context is marked failed (any error in `errors`);
    the lean path marks it as MarkFailed does on the full path."""
    marked: list[tuple[bool, str | None]] = []
    orig = lean.Lean.run

    async def spy(self: Any, prepared: Any, variables: Any, extensions: Any, context: Any) -> bytes:
        out = await orig(self, prepared, variables, extensions, context)
        marked.append((context.failed, context.operation))
        return out

    monkeypatch.setattr(lean.Lean, "run", spy)
    h = {"Authorization": f"Bearer {token('jiayu.office')}"}
    doc = "query P($n: Int!) { problems(first: $n) { totalCount } }"
    for n in (5, 5, 100000):
        r = await client.post("/graphql", json={"query": doc, "variables": {"n": n}}, headers=h)
        assert r.status_code == 200
    assert r.json()["errors"]
    assert marked[-2:] == [(False, "P"), (True, "P")]


async def test_production_masks_the_same_on_the_lean_path(prod, rsa_key, monkeypatch):  # noqa: F811
    _, pc = prod
    requests = [
        ("jiayu.office", {"query": "query P($f: Int!) { problems(first: $f) { totalCount } }", "variables": {"f": "x"}}),
        ("jiayu.office", {"query": "{ agencies(first: 0) { totalCount } }"}),
        ("jiayu.office", {"query": "{ me { login } }"}),
    ]
    results = await _three_ways(pc, lambda login: _prod_headers(rsa_key, login), requests, monkeypatch)
    assert _same(results) == len(requests)
    masked = results[0][2][0][1]
    assert b"Unexpected error." in masked and b"twenty" not in masked


def test_responses_are_compact_utf8_json_whatever_encoder_takes_them():
    from ducha.graphql.lean import encode_json

    body = {"data": {"t": "督察 \u2028 \"x\"\n", "n": 1.5, "ok": True, "none": None}}
    assert encode_json(body) == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    big = {"data": {"n": 2**70, "t": "督察"}}  # beyond orjson's 64 bits: the standard encoder, same form
    assert encode_json(big) == b'{"data":{"n":1180591620717411303424,"t":"\xe7\x9d\xa3\xe5\xaf\x9f"}}'
