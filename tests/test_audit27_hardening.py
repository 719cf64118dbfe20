"""Production hardening claims of issues 2 and 7 that had no test: GraphiQL and introspection
in dev only, masked errors and HSTS in production, the CORS allow-list, the per-tenant rate
limit, chunked oversized bodies, aliases counted through fragments, token lifetime and clock
skew, the production secret."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import token

ORIGIN = "https://ducha.example.invalid"


async def _client_for(settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from ducha.graphql.app import create_app

    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield app, c
    finally:
        await app.state.runtime.redis.aclose()
        await app.state.runtime.db.dispose()


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
async def prod(settings, demo, rsa_key) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app as production runs it (ENV=prod, RS256 tokens) but with ad-hoc documents allowed,
    so that introspection and masking are seen on their own."""
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    s = settings.model_copy(update={"env": "prod", "jwt_public_key": pem, "jwt_issuer": "https://idp",
                                    "secret_key": "p" * 40, "persisted_only": False, "rate_limit_per_user": 0,
                                    "rate_limit_per_tenant": 0, "cors_origins": [ORIGIN]})
    async for pair in _client_for(s):
        yield pair


def _prod_headers(rsa_key: Any, login: str = "jiayu.office") -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": login, "iss": "https://idp", "aud": "ducha", "iat": now, "exp": now + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, rsa_key, algorithm='RS256')}"}


# -- GraphiQL, introspection, masked errors, HSTS ------------------------------------------------


async def test_graphiql_is_served_in_dev_only(client, prod):
    r = await client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()
    _, pc = prod
    r = await pc.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 405 and "graphiql" not in r.text.lower()


async def test_introspection_is_off_in_production(gql, prod, rsa_key):
    q = "{ __schema { queryType { name } } }"
    assert (await gql.data("jiayu.office", q))["__schema"]["queryType"]["name"] == "Query"
    _, pc = prod
    r = await pc.post("/graphql", json={"query": q}, headers=_prod_headers(rsa_key))
    body = r.json()
    assert r.status_code < 500 and body.get("data") is None and body["errors"]
    assert "Query" not in r.text
    r = await pc.post("/graphql", json={"query": '{ __type(name: "Clue") { fields { name } } }'}, headers=_prod_headers(rsa_key))
    assert r.json().get("data") is None and "holder" not in r.text


async def test_production_masks_errors_but_keeps_user_input_errors(prod, rsa_key):
    _, pc = prod
    r = await pc.post("/graphql", json={"query": "{ me { login } }"}, headers=_prod_headers(rsa_key))
    assert r.json()["data"]["me"]["login"] == "jiayu.office"
    # a typed input error keeps its message and code
    r = await pc.post("/graphql", json={"query": "{ agencies(first: 0) { totalCount } }"}, headers=_prod_headers(rsa_key))
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    # anything else says nothing about the schema or the server
    r = await pc.post("/graphql", json={"query": "{ me { passwordHash } }"}, headers=_prod_headers(rsa_key))
    assert r.json()["errors"][0]["message"] == "Unexpected error." and "passwordHash" not in r.text


async def test_dev_tokens_do_not_open_production(prod):
    _, pc = prod
    r = await pc.post("/graphql", json={"query": "{ me { login } }"}, headers={"Authorization": f"Bearer {token('jiayu.office')}"})
    assert r.status_code == 401


async def test_security_headers_and_hsts_in_production(client, prod):
    r = await client.get("/healthz")
    assert "strict-transport-security" not in r.headers  # dev runs on plain http
    _, pc = prod
    r = await pc.get("/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=")
    for name, value in (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"),
                        ("referrer-policy", "no-referrer"), ("cache-control", "no-store")):
        assert r.headers[name] == value, name


# -- CORS ---------------------------------------------------------------------------------------


async def test_cors_allows_only_the_listed_origins(prod, client):
    _, pc = prod
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    r = await pc.options("/graphql", headers={"Origin": ORIGIN, **pre})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    r = await pc.options("/graphql", headers={"Origin": "https://evil.example", **pre})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = await pc.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    # no origin is listed by default
    r = await client.options("/graphql", headers={"Origin": ORIGIN, **pre})
    assert "access-control-allow-origin" not in r.headers


async def test_the_front_end_may_read_retry_after_and_the_request_id(prod, rsa_key):
    _, pc = prod
    r = await pc.post("/graphql", json={"query": "{ me { login } }"}, headers={"Origin": ORIGIN, **_prod_headers(rsa_key)})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-request-id"} <= exposed


# -- rate limits --------------------------------------------------------------------------------


async def _window_start() -> None:
    if time.time() % 60 > 50:  # keep the requests inside one fixed window
        await asyncio.sleep(61 - time.time() % 60)


async def test_per_tenant_rate_limit_answers_429_with_retry_after(app, client, db):
    from sqlalchemy import text

    rt = app.state.runtime
    s = rt.settings
    async with db.system_session() as ss:
        jiayu = (await ss.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        yunxi = (await ss.execute(text("SELECT id FROM tenant WHERE region_code = '420322'"))).scalar_one()
    await _window_start()
    async for key in rt.redis.scan_iter(f"ducha:rl:t:{jiayu}:*"):
        await rt.redis.delete(key)
    old = (s.rate_limit_per_user, s.rate_limit_per_tenant)
    s.rate_limit_per_user, s.rate_limit_per_tenant = 1000, 4
    try:
        codes = []
        for login in ("jiayu.office", "jiayu.leader", "jiayu.inspector", "jiayu.court", "jiayu.office", "jiayu.xinjie"):
            r = await client.post("/graphql", json={"query": "{ me { login } }"},
                                  headers={"Authorization": f"Bearer {token(login)}"})
            codes.append(r.status_code)
            if r.status_code == 429:
                last = r
        assert codes == [200, 200, 200, 200, 429, 429], codes  # four users, one tenant's budget
        assert 1 <= int(last.headers["retry-after"]) <= 60
        assert last.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "scope": "tenant"}
        # another tenant is not held back (its own budget starts empty: earlier tests in this
        # minute may have spent some of it)
        async for key in rt.redis.scan_iter(f"ducha:rl:t:{yunxi}:*"):
            await rt.redis.delete(key)
        r = await client.post("/graphql", json={"query": "{ me { login } }"},
                              headers={"Authorization": f"Bearer {token('yunxi.office')}"})
        assert r.status_code == 200
    finally:
        s.rate_limit_per_user, s.rate_limit_per_tenant = old
        for tid in (jiayu, yunxi):
            async for key in rt.redis.scan_iter(f"ducha:rl:t:{tid}:*"):
                await rt.redis.delete(key)


# -- request size, aliases through fragments ----------------------------------------------------


async def test_a_chunked_body_without_length_is_cut_at_the_limit(client, settings):
    async def chunks():
        yield b'{"query": "{ me { login } }", "variables": {"x": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}}'

    r = await client.post("/graphql", content=chunks(), headers={"Authorization": f"Bearer {token('jiayu.office')}",
                                                                   "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_small_length_beside_a_transfer_encoding_does_not_skip_the_count(app, settings):
    """A body whose Content-Length is small but which also says Transfer-Encoding (a server may
    frame it by the latter) is counted as it arrives, as a body without a length is."""
    big = b'{"query": "{ me { login } }", "variables": {"x": "' + b"y" * (settings.max_body_bytes + 10) + b'"}}'
    pieces = [big[i:i + 65_536] for i in range(0, len(big), 65_536)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"t"), (b"content-type", b"application/json"), (b"content-length", b"10"),
                         (b"transfer-encoding", b"chunked"),
                         (b"authorization", f"Bearer {token('jiayu.office')}".encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}

    async def receive() -> dict:
        body = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_aliases_are_counted_through_fragments(gql, settings):
    per_fragment = 8
    frag = "fragment F on Query { " + " ".join(f"a{i}: me {{ login }}" for i in range(per_fragment)) + " }"
    ok = "{ ...F ...F ...F } " + frag  # 24 aliases
    assert not (await gql("jiayu.office", ok)).get("errors")
    spreads = settings.max_aliases // per_fragment + 1  # over the limit only when each spread counts
    body = await gql("jiayu.office", "{ " + " ".join(["...F"] * spreads) + " } " + frag)
    assert body["errors"] and "aliases" in body["errors"][0]["message"]


async def test_batches_are_refused(client):
    r = await client.post("/graphql", json=[{"query": "{ me { login } }"}] * 2,
                          headers={"Authorization": f"Bearer {token('jiayu.office')}"})
    assert r.status_code == 400 and "batch" in r.text.lower()


# -- tokens: lifetime and clock skew ------------------------------------------------------------


def _hs(settings: Any, **claims: Any) -> str:
    base = {"sub": "jiayu.office", "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    return jwt.encode({**base, **claims}, settings.secret_key, algorithm="HS256")


def test_clock_skew_is_the_configured_leeway(settings):
    from ducha.tenants.auth import AuthError, decode_token

    now = int(time.time())
    skew = settings.clock_skew_s
    # expired a little less than the skew ago, or issued a little ahead: accepted
    assert decode_token(_hs(settings, iat=now - 600, exp=now - skew + 5), settings) == "jiayu.office"
    assert decode_token(_hs(settings, iat=now + skew - 5, exp=now + 600), settings) == "jiayu.office"
    with pytest.raises(AuthError, match="expired"):
        decode_token(_hs(settings, iat=now - 600, exp=now - skew - 5), settings)
    with pytest.raises(AuthError):
        decode_token(_hs(settings, iat=now + skew + 60, exp=now + 900), settings)
    strict = settings.model_copy(update={"clock_skew_s": 0})
    with pytest.raises(AuthError, match="expired"):
        decode_token(_hs(strict, iat=now - 600, exp=now - 5), strict)


def test_token_lifetime_bounds_what_is_accepted(settings):
    from ducha.tenants.auth import AuthError, decode_token, issue_dev_token

    now = int(time.time())
    life = settings.token_lifetime_s
    assert decode_token(_hs(settings, iat=now, exp=now + life), settings) == "jiayu.office"
    with pytest.raises(AuthError, match="lifetime"):
        decode_token(_hs(settings, iat=now, exp=now + life + settings.clock_skew_s + 60), settings)
    short = settings.model_copy(update={"token_lifetime_s": 600})
    with pytest.raises(AuthError, match="lifetime"):
        decode_token(_hs(short, iat=now, exp=now + 3600), short)
    claims = jwt.decode(issue_dev_token("jiayu.office", short), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    with pytest.raises(AuthError):
        issue_dev_token("jiayu.office", short, lifetime_s=601)


def test_production_refuses_the_dev_secret_and_short_secrets(monkeypatch):
    from ducha.settings import DEV_SECRET, get_settings

    monkeypatch.setenv("ENV", "prod")
    try:
        for secret in (DEV_SECRET, "short-secret"):
            monkeypatch.setenv("SECRET_KEY", secret)
            get_settings.cache_clear()
            with pytest.raises(RuntimeError, match="SECRET_KEY"):
                get_settings()
        monkeypatch.setenv("SECRET_KEY", "k" * 48)
        get_settings.cache_clear()
        assert get_settings().is_prod
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# -- /metrics: not on the public API port in production ------------------------------------------


async def test_metrics_are_served_on_the_metrics_port_or_with_the_token_only_in_production(settings, demo):
    s = settings.model_copy(update={"env": "prod", "secret_key": "p" * 40, "metrics_port": 9100,
                                    "metrics_token": "m" * 40})
    from ducha.graphql.app import create_app

    app = create_app(s)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api:8000") as api, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pod:9100") as scrape:
            r = await api.get("/metrics")
            assert r.status_code == 404 and "ducha_" not in r.text
            r = await api.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})
            assert r.status_code == 404
            r = await api.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
            assert r.status_code == 200 and "ducha_queue_depth" in r.text
            r = await scrape.get("/metrics")
            assert r.status_code == 200 and "ducha_overdue_items" in r.text
            # the rest of the API is not on the metrics port's terms: same auth as anywhere
            assert (await scrape.post("/graphql", json={"query": "{ me { login } }"})).status_code == 401
    finally:
        await app.state.runtime.redis.aclose()
        await app.state.runtime.db.dispose()


def test_serve_listens_on_the_api_and_the_metrics_port(settings, demo):
    """`ducha serve` binds both ports; /metrics answers on the metrics port in production."""
    import os
    import socket
    import subprocess
    import sys

    def free() -> int:
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            return int(sk.getsockname()[1])

    api_port, metrics_port = free(), free()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "ENV": "prod",
           "SECRET_KEY": "q" * 40, "METRICS_PORT": str(metrics_port), "HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "ducha.cli", "serve", "--port", str(api_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                assert time.monotonic() < deadline, "ducha serve did not come up"
                time.sleep(0.3)
        assert r.status_code == 200 and "ducha_graphql_request_seconds" in r.text
        assert httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5).status_code == 404
        assert httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
