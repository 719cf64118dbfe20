"""The API answers who the caller is."""

from __future__ import annotations


async def test_me_names_the_caller_agency_and_roles(gql):
    d = await gql.data("jiayu.office", "{ me { login name readOnly agency { name kind } tenant { name } roles { role regionCode } } }")
    me = d["me"]
    assert me["login"] == "jiayu.office"
    assert me["agency"]["name"] == "中共嘉鱼县委全面依法治县委员会办公室"
    assert me["tenant"]["name"] == "嘉鱼县"
    assert me["roles"] == [{"role": "OFFICE_ADMIN", "regionCode": "421221"}]
    assert me["readOnly"] is False


async def test_health_readiness_and_metrics(client, gql):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    await gql.data("jiayu.office", "query Dashboard { me { login } }")
    text = (await client.get("/metrics")).text
    assert 'ducha_graphql_request_seconds_count{operation="Dashboard"}' in text
    for name in ("ducha_outbox_pending_jobs", "ducha_outbox_lag_seconds", "ducha_dead_letters", "ducha_overdue_items",
                 'ducha_queue_depth{queue="ducha"}'):
        assert name in text


async def test_responses_carry_request_id_security_headers_and_cost(client):
    from tests.conftest import token

    r = await client.post("/graphql", json={"query": "{ agencies(first: 10) { edges { node { name region { name } } } } }"},
                          headers={"Authorization": f"Bearer {token('jiayu.office')}", "X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    # agencies + 10 × (edges + node + name + region + its name)
    assert r.json()["extensions"]["cost"] == 1 + 10 * (1 + 1 + 1 + 2)


async def test_costly_queries_are_refused_before_running(gql):
    one = "agencies(first: 100) { edges { node { id name shortName kind kindLabel regionCode region { code name level path } } } }"
    q = "{ " + " ".join(f"a{i}: {one}" for i in range(25)) + " }"  # 25 × 100 × 14 = 35,000
    body = await gql("jiayu.office", q)
    assert body["data"] and body["extensions"]["cost"] == 25 * (1 + 100 * 13) and not body.get("errors")
    # 29 × (1 + 100 × 19) = 55,129 > 50,000
    q = "{ " + " ".join(f"a{i}: {one.replace('path', 'path tenant { id name kind parent { name } }')}" for i in range(29)) + " }"
    body = await gql("jiayu.office", q)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY" and body["data"] is None


async def test_rate_limit_answers_429_with_retry_after(app, client):
    from tests.conftest import token

    import asyncio
    import time

    rt = app.state.runtime
    s = rt.settings
    old = s.rate_limit_per_user
    if time.time() % 60 > 55:  # keep the five requests inside one window
        await asyncio.sleep(61 - time.time() % 60)
    uid = (await client.post("/graphql", json={"query": "{ me { id } }"},
                             headers={"Authorization": f"Bearer {token('yunxi.office')}"})).json()["data"]["me"]["id"]
    async for key in rt.redis.scan_iter(f"ducha:rl:u:{uid}:*"):
        await rt.redis.delete(key)
    s.rate_limit_per_user = 3
    try:
        codes = []
        for _ in range(5):
            r = await client.post("/graphql", json={"query": "{ me { login } }"},
                                  headers={"Authorization": f"Bearer {token('yunxi.office')}"})
            codes.append(r.status_code)
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        s.rate_limit_per_user = old


async def test_persisted_operations(app, client):
    from ducha.graphql import persisted
    from tests.conftest import token

    h = {"Authorization": f"Bearer {token('jiayu.office')}"}
    me = next(k for k, v in persisted.manifest().items() if v.startswith("query Me"))
    r = await client.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": me}}}, headers=h)
    assert r.status_code == 200 and r.json()["data"]["me"]["login"] == "jiayu.office"
    r = await client.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}, headers=h)
    assert r.status_code == 400 and "PersistedQueryNotFound" in r.text
    s = app.state.runtime.settings
    s.persisted_only = True
    try:
        r = await client.post("/graphql", json={"query": "{ me { login } }"}, headers=h)
        assert r.status_code == 400 and "only persisted operations" in r.text
        r = await client.post("/graphql", json={"query": persisted.manifest()[me]}, headers=h)
        assert r.status_code == 200
    finally:
        s.persisted_only = None
