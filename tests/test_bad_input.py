"""Bad input gets typed errors or a 4xx with a clear message: never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import token


async def _raw(client, body, login="jiayu.office", **kw):
    return await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token(login)}"}, **kw)


@pytest.mark.parametrize("code", ["999999", "123", "abcdef", "4212211041", "", "42122110'; DROP TABLE region;--"])
async def test_unknown_or_malformed_region_codes_are_typed_errors(gql, code):
    d = await gql.data("jiayu.office", "query($c: String!) { region(code: $c) { __typename ... on UserError { code message } } }",
                       {"c": code})
    assert d["region"]["__typename"] in ("NotFound", "ValidationError")


@pytest.mark.parametrize(
    ("args", "field"),
    [("first: 0", "first"), ("first: 101", "first"), ("first: -5", "first"), ('after: "%%%"', "after"),
     ('after: "YWdlbmN5Onh4"', "after"), ('filter: {tenantId: "abc"}', "filter.tenantId"),
     ('filter: {regionCode: "12"}', "filter.regionCode")],
)
async def test_bad_page_arguments_are_user_errors(gql, args, field):
    body = await gql("jiayu.office", "{ agencies(" + args + ") { totalCount } }")
    err = body["errors"][0]
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_deep_query_is_refused(client):
    deep = "{ me { agency { tenant " + "{ parent " * 20 + "{ name }" + " }" * 20 + " } } }"
    r = await _raw(client, {"query": deep})
    assert r.status_code in (200, 400)
    assert "exceeds maximum operation depth" in r.text


async def test_too_many_aliases_are_refused(client):
    q = "{ " + " ".join(f"a{i}: me {{ login }}" for i in range(40)) + " }"
    r = await _raw(client, {"query": q})
    assert r.status_code in (200, 400) and "aliases" in r.text


async def test_too_many_tokens_are_refused(client):
    q = "{ me { " + " ".join(["login"] * 6000) + " } }"
    r = await _raw(client, {"query": q})
    assert r.status_code in (200, 400) and "token" in r.text.lower()


async def test_oversized_body_gets_413(client):
    r = await _raw(client, {"query": "{ me { login } }", "variables": {"x": "y" * 2_000_000}})
    assert r.status_code == 413


@pytest.mark.parametrize("body", [{"query": "{ nope }"}, {"query": "{ me { login "}, {"query": 5}, {}, {"query": "{ me { login } }", "variables": "x"}])
async def test_invalid_documents_are_4xx_or_errors(client, body):
    r = await _raw(client, body)
    assert r.status_code < 500
    assert r.status_code >= 400 or r.json().get("errors")


async def test_not_json_is_4xx(client):
    r = await client.post("/graphql", content=b"\xff\xfe", headers={"Authorization": f"Bearer {token('jiayu.office')}",
                                                                      "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500


async def test_get_is_not_for_operations(client):
    r = await client.get("/graphql?query={me{login}}")
    assert r.status_code == 405
