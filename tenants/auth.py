"""Authentication: bearer JWTs to a Principal and its Scope, cached per process.

Dev signs and verifies HS256 with SECRET_KEY; production verifies RS256/ES256 against the
organisation's OIDC provider (a JWKS URL or a PEM public key) and never issues tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.roles import AGENCY_BOUND_ROLES, ROLES
from ducha.settings import Settings, get_settings
from ducha.tenants.principal import Principal, RoleGrant
from ducha.tenants.scope import Scope


class AuthError(Exception):
    """Authentication failed: `status` is 401 (who are you?) or 403 (known, but not let in)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def issue_dev_token(login: str, settings: Settings | None = None, lifetime_s: int | None = None) -> str:
    """A dev token for `login`, HS256 with SECRET_KEY. Refused in production."""
    s = settings or get_settings()
    if s.is_prod:
        raise AuthError(403, "dev tokens are not issued in production; sign in through the OIDC provider")
    if lifetime_s is not None and lifetime_s > s.token_lifetime_s:
        raise AuthError(400, f"a token may live at most TOKEN_LIFETIME_S = {s.token_lifetime_s} s")
    now = int(time.time())
    claims = {
        "sub": login,
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": now,
        "exp": now + (lifetime_s if lifetime_s is not None else s.token_lifetime_s),
    }
    return jwt.encode(claims, s.secret_key, algorithm="HS256")


_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def _verification_key(token: str, s: Settings) -> tuple[Any, list[str]]:
    if not s.is_prod:
        return s.secret_key, ["HS256"]
    if s.jwt_jwks_url:
        client = _jwks_clients.setdefault(s.jwt_jwks_url, jwt.PyJWKClient(s.jwt_jwks_url, cache_keys=True))
        return client.get_signing_key_from_jwt(token).key, list(s.jwt_algorithms)
    if s.jwt_public_key:
        return s.jwt_public_key, list(s.jwt_algorithms)
    raise AuthError(401, "the server has no JWT verification key configured (JWT_JWKS_URL or JWT_PUBLIC_KEY)")


# Verified tokens: a front end sends the same bearer token on every request, and verifying a
# signature costs more than the rest of a small request's CPU. An entry lives until the token's
# own expiry and at most VERIFIED_TTL_S (so a rotated JWKS key is looked at again soon).
VERIFIED_TTL_S = 300
_VERIFIED_MAX = 20_000
_verified: dict[tuple[Any, ...], tuple[str, float]] = {}


def decode_token(token: str, settings: Settings | None = None) -> str:
    """Verify a bearer token and return the login it names; AuthError(401) with a clear reason otherwise."""
    s = settings or get_settings()
    key = _cache_key(token, s)
    hit = _verified.get(key)
    now = time.time()
    if hit is not None:
        if now < hit[1]:
            return hit[0]
        _verified.pop(key, None)
    return _decode(token, s)


def _remember(token: str, s: Settings, login: str, exp: Any) -> None:
    if not isinstance(exp, (int, float)):
        return
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    until = min(float(exp), time.time() + VERIFIED_TTL_S)
    _verified[_cache_key(token, s)] = (login, until)


def _cache_key(token: str, s: Settings) -> tuple[Any, ...]:
    """The token and everything its verification depended on."""
    return (token, s.is_prod, s.secret_key, s.jwt_public_key, s.jwt_jwks_url, s.jwt_audience, s.jwt_issuer,
            s.jwt_login_claim, tuple(s.jwt_algorithms))


def _decode(token: str, s: Settings) -> str:
    try:
        key, algorithms = _verification_key(token, s)
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=s.jwt_audience,
            issuer=s.jwt_issuer,
            leeway=s.clock_skew_s,
            options={"require": ["exp", "iat", s.jwt_login_claim]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token expired; sign in again") from None
    except jwt.InvalidSignatureError:
        raise AuthError(401, "token signature is invalid") from None
    except jwt.MissingRequiredClaimError as e:
        raise AuthError(401, f"token lacks the required claim {e.claim!r}") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as e:
        raise AuthError(401, f"token was not issued for this service: {e}") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(401, "token is signed with an algorithm this server does not accept") from None
    except jwt.PyJWKClientError as e:
        raise AuthError(401, f"token key could not be found: {e}") from None
    except jwt.DecodeError:
        raise AuthError(401, "token is malformed") from None
    except jwt.InvalidTokenError as e:
        raise AuthError(401, f"token is invalid: {e}") from None
    # TOKEN_LIFETIME_S bounds what is accepted, not only what dev issues: a provider's token
    # valid for longer (a leaked one lives that long) is refused.
    if int(claims["exp"]) - int(claims["iat"]) > s.token_lifetime_s + s.clock_skew_s:
        raise AuthError(401, f"token lifetime exceeds the {s.token_lifetime_s} s this service accepts")
    login = claims.get(s.jwt_login_claim)
    if not isinstance(login, str) or not login:
        raise AuthError(401, "token names no user")
    _remember(token, s, login, claims.get("exp"))
    return login


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError(401, "missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "Authorization header must be 'Bearer <token>'")
    return token.strip()


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    scope: Scope


_USER = text(
    "SELECT u.id, u.login, u.name, u.tenant_id, u.agency_id, u.active, u.grants_version, a.region_path"
    " FROM app_user u JOIN agency a ON a.id = u.agency_id WHERE u.login = :login"
)
_GRANTS = text(
    "SELECT role, region_code, region_path, tenant_id, agency_id FROM role_assignment"
    " WHERE user_id = :uid ORDER BY region_path, role"
)
_TENANTS = text("SELECT id, region_path FROM tenant")
_AGENCIES_UNDER = text(
    "SELECT id FROM agency WHERE (region_path || '/') LIKE ANY (CAST(:likes AS text[]))"
)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


async def load_identity(session: AsyncSession, login: str) -> Identity:
    """Build the principal and its scope from the directory (a system session: sign-in spans tenants)."""
    row = (await session.execute(_USER, {"login": login})).first()
    if row is None:
        raise AuthError(401, f"unknown user {login!r}")
    if not row.active:
        raise AuthError(403, f"user {login!r} is deactivated")
    grants = tuple(
        RoleGrant(role=g.role, region_code=g.region_code, region_path=g.region_path,
                  tenant_id=g.tenant_id, agency_id=g.agency_id)
        for g in (await session.execute(_GRANTS, {"uid": row.id})).all()
        if g.role in ROLES  # a role retired from the catalogue grants nothing
    )
    principal = Principal(
        user_id=row.id, login=row.login, name=row.name, tenant_id=row.tenant_id,
        agency_id=row.agency_id, region_path=row.region_path, grants=grants,
        grants_version=row.grants_version,
    )
    tenants = (await session.execute(_TENANTS)).all()
    tenant_paths = {t.region_path for t in tenants}
    tenant_ids: set[int] = set()
    agency_ids: set[int] = {row.agency_id}
    prefixes: set[str] = {row.region_path}
    sub_tenant_prefixes: list[str] = []
    for g in grants:
        if g.role in AGENCY_BOUND_ROLES:
            if g.agency_id is not None:
                agency_ids.add(g.agency_id)
            continue
        prefixes.add(g.region_path)
        tenant_ids.update(t.id for t in tenants if _under(t.region_path, g.region_path))
        if g.region_path not in tenant_paths:
            # An office role granted below a tenant's own region (a town): it sees that
            # subtree's agencies, not the whole tenant.
            sub_tenant_prefixes.append(g.region_path)
    if sub_tenant_prefixes:
        likes = [p + "/%" for p in sub_tenant_prefixes]
        agency_ids.update(a for (a,) in (await session.execute(_AGENCIES_UNDER, {"likes": likes})).all())
    read_only = not any(g.role != "overseer" for g in grants)
    scope = Scope(
        user_id=row.id, home_tenant_id=row.tenant_id, tenant_ids=frozenset(tenant_ids),
        agency_ids=frozenset(agency_ids), region_prefixes=frozenset(prefixes), read_only=read_only,
    )
    return Identity(principal, scope)


class IdentityCache:
    """Per-process cache of identities by login, dropped on grant/revoke (via the policy watcher).

    While the watcher is unhealthy (Redis unreachable), entries live at most `untrusted_ttl_s`.
    """

    def __init__(self, trusted: Callable[[], bool], ttl_s: float = 300.0, untrusted_ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self.untrusted_ttl_s = untrusted_ttl_s
        self._trusted = trusted  # the policy watcher's health: is every invalidation heard?
        self._by_login: dict[str, tuple[float, Identity]] = {}

    def get(self, login: str) -> Identity | None:
        hit = self._by_login.get(login)
        if hit is None:
            return None
        ttl = self.ttl_s if self._trusted() else self.untrusted_ttl_s
        if time.monotonic() - hit[0] > ttl:
            self._by_login.pop(login, None)
            return None
        return hit[1]

    def put(self, login: str, identity: Identity) -> None:
        if len(self._by_login) > 50_000:
            self._by_login.clear()
        self._by_login[login] = (time.monotonic(), identity)

    def invalidate_user(self, user_id: int | None) -> None:
        if user_id is None:
            self._by_login.clear()
            return
        for login, (_, ident) in list(self._by_login.items()):
            if ident.principal.user_id == user_id:
                self._by_login.pop(login, None)

    def invalidate_all(self) -> None:
        self._by_login.clear()
