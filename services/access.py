"""Authorization for domain actions: which principal may act on whose items, and where.

Office roles act within their grants' region subtrees; agency-bound roles (liaisons, unit
heads) act only for their own agency. Everything ends in policies.authz's decision.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.authz import NotAllowed, get_authorizer
from ducha.policies.roles import AGENCY_BOUND_ROLES
from ducha.services.errors import NotFoundError, NotWritable
from ducha.tenants.models import Agency, Tenant
from ducha.tenants.principal import Principal


def _deny(principal: Principal, act: str, obj: str, domain: str) -> NotAllowed:
    return NotAllowed(act, obj, domain, user_id=principal.user_id, roles=principal.roles)


def require(principal: Principal, act: str, obj: str, domain: str, *, roles: frozenset[str] | None = None) -> None:
    """An office-side action at `domain` (a region path); `roles` narrows who may (e.g. the committee)."""
    grants = [g for g in principal.grants if g.role not in AGENCY_BOUND_ROLES]
    if roles is not None:
        grants = [g for g in grants if g.role in roles or g.role == "platform_admin"]
    if not get_authorizer().decide(grants, domain, obj, act):
        raise _deny(principal, act, obj, domain)


def require_for_agency(principal: Principal, act: str, obj: str, agency: Agency,
                       *, roles: frozenset[str] | None = None) -> None:
    """A target-side action for `agency`: by its own agency-bound roles, or an office above it."""
    grants = [
        g for g in principal.grants
        if (g.role not in AGENCY_BOUND_ROLES or g.agency_id == agency.id)
        and (roles is None or g.role in roles or g.role == "platform_admin")
    ]
    if not get_authorizer().decide(grants, agency.region_path, obj, act):
        raise _deny(principal, act, obj, agency.region_path)


async def agency(session: AsyncSession, agency_id: int, field: str = "agencyId") -> Agency:
    a = await session.get(Agency, agency_id)
    if a is None:
        raise NotFoundError("Agency", str(agency_id))
    return a


async def tenant_path(session: AsyncSession, tenant_id: int, *, given: bool = False) -> str:
    """The region path of a tenant, to authorize an action there.

    `given`: the caller named the tenant (NotFound if it cannot see it). Otherwise the tenant
    owns an item the caller can see (a unit sees a higher office's item addressed to it), and
    an invisible owner means the caller may not act for it.
    """
    path = (await session.execute(select(Tenant.region_path).where(Tenant.id == tenant_id))).scalar_one_or_none()
    if path is None:
        if given:
            raise NotFoundError("Tenant", str(tenant_id))
        raise NotWritable("Tenant", str(tenant_id))
    return path


async def load(session: AsyncSession, stmt, what: str, key: object, *, lock: bool = False):  # type: ignore[no-untyped-def]
    """One row by `stmt`: NotFoundError when invisible; with lock, SELECT ... FOR UPDATE.

    Row-level security applies UPDATE policies to FOR UPDATE: a row the caller may see but not
    change comes back empty there, which is NotWritable (a NotAllowed), not NotFound.
    """
    if lock:
        # the lock first: a change (the usual case) costs one statement; only an empty answer asks
        # again without it, to tell a row the caller cannot see from one it may not change
        locked = (await session.execute(stmt.with_for_update().execution_options(populate_existing=True))).scalar_one_or_none()
        if locked is not None:
            return locked
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(what, str(key))
    if lock:
        raise NotWritable(what, str(key))
    return row
