"""Bearer tokens: missing, expired, malformed or wrongly signed get 401; deactivated users 403."""

from __future__ import annotations

import time

import jwt
import pytest
from sqlalchemy import text

from ducha.tenants.auth import AuthError, issue_dev_token

ME = {"query": "{ me { login } }"}


async def _post(client, headers):
    return await client.post("/graphql", json=ME, headers=headers)


async def test_valid_token_is_accepted(client):
    r = await _post(client, {"Authorization": f"Bearer {issue_dev_token('jiayu.office')}"})
    assert r.status_code == 200 and r.json()["data"]["me"]["login"] == "jiayu.office"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Basic abc"}, "Bearer <token>"),
        ({"Authorization": "Bearer "}, "Bearer <token>"),
        ({"Authorization": "Bearer not.a.jwt"}, "malformed"),
        ({"Authorization": "Bearer " + "x" * 5000}, "malformed"),
    ],
)
async def test_missing_or_malformed_tokens_get_401(client, headers, reason):
    r = await _post(client, headers)
    assert r.status_code == 401
    assert reason in r.json()["errors"][0]["message"]
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_expired_token_gets_401(client, settings):
    now = int(time.time())
    tok = jwt.encode({"sub": "jiayu.office", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                      "iat": now - 7200, "exp": now - 3600}, settings.secret_key, algorithm="HS256")
    r = await _post(client, {"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401 and "expired" in r.json()["errors"][0]["message"]


async def test_wrongly_signed_token_gets_401(client, settings):
    now = int(time.time())
    claims = {"sub": "jiayu.office", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now, "exp": now + 60}
    tok = jwt.encode(claims, "another-secret-of-sufficient-length-0123456789", algorithm="HS256")
    r = await _post(client, {"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401 and "signature" in r.json()["errors"][0]["message"]
    # alg=none is never accepted
    unsigned = jwt.encode(claims, None, algorithm="none")
    r = await _post(client, {"Authorization": f"Bearer {unsigned}"})
    assert r.status_code == 401


async def test_unknown_user_gets_401(client):
    r = await _post(client, {"Authorization": f"Bearer {issue_dev_token('nobody.here')}"})
    assert r.status_code == 401 and "unknown user" in r.json()["errors"][0]["message"]


async def test_deactivated_user_gets_403(client, db, app):
    async with db.system_session() as s:
        await s.execute(text("UPDATE app_user SET active = false WHERE login = 'yunxi.justice'"))
    app.state.runtime.identities.invalidate_all()
    try:
        r = await _post(client, {"Authorization": f"Bearer {issue_dev_token('yunxi.justice')}"})
        assert r.status_code == 403 and "deactivated" in r.json()["errors"][0]["message"]
    finally:
        async with db.system_session() as s:
            await s.execute(text("UPDATE app_user SET active = true WHERE login = 'yunxi.justice'"))
        app.state.runtime.identities.invalidate_all()


def test_dev_tokens_are_refused_in_production(settings):
    prod = settings.model_copy(update={"env": "prod"})
    with pytest.raises(AuthError):
        issue_dev_token("jiayu.office", prod)


def test_production_verifies_rs256_against_the_public_key(settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ducha.tenants.auth import decode_token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    prod = settings.model_copy(update={"env": "prod", "jwt_public_key": pem.decode(), "jwt_issuer": "https://idp",
                                       "secret_key": "x" * 40})
    now = int(time.time())
    claims = {"sub": "jiayu.office", "iss": "https://idp", "aud": prod.jwt_audience, "iat": now, "exp": now + 60}
    assert decode_token(jwt.encode(claims, key, algorithm="RS256"), prod) == "jiayu.office"
    # An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    with pytest.raises(AuthError):
        decode_token(jwt.encode(claims, "x" * 40, algorithm="HS256"), prod)


def test_token_command_prints_a_token(settings):
    from ducha.cli import main

    assert main(["token", "jiayu.office"]) == 0
