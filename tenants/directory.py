"""The directory: regions, tenants, agencies, users and role grants. The one way to change them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services.errors import InvalidInput
from ducha.tenants.models import AGENCY_KINDS, Agency, Region, RoleAssignment, Tenant, User
from ducha.tenants.regions_data import RegionRow, region_path


class DirectoryError(InvalidInput):
    """A directory change that breaks a rule; `field` names the offending input."""

    def __init__(self, message: str, field: str = "input") -> None:
        super().__init__(field, message)


async def load_regions(session: AsyncSession, rows: Iterable[RegionRow], *, synthetic: bool = False) -> int:
    """Insert regions (parents before children) that are not there yet; returns how many were added."""
    rows = list(rows)
    existing = {c for (c,) in (await session.execute(select(Region.code))).all()}
    paths = dict((await session.execute(select(Region.code, Region.path))).tuples().all())
    by_code = {r.code: r for r in rows}
    new = []
    for r in rows:
        if r.code in existing:
            continue
        if r.parent_code and r.parent_code in paths and r.parent_code not in by_code:
            path = f"{paths[r.parent_code]}/{r.code}"
        else:
            path = region_path(r, by_code)
        paths[r.code] = path
        new.append(
            {"code": r.code, "name": r.name, "level": r.level, "parent_code": r.parent_code,
             "path": path, "synthetic": synthetic}
        )
    # Plain multi-row inserts in chunks: a few thousand rows, parents first.
    for i in range(0, len(new), 1000):
        await session.execute(Region.__table__.insert(), new[i : i + 1000])
    return len(new)


async def get_region(session: AsyncSession, code: str) -> Region | None:
    return await session.get(Region, code)


async def tenant_for_path(session: AsyncSession, path: str) -> Tenant | None:
    """The deepest tenant whose region contains `path` (a town belongs to its county's tenant)."""
    stmt = (
        select(Tenant)
        .where(text("(:p || '/') LIKE (tenant.region_path || '/%')").bindparams(p=path))
        .order_by(Tenant.region_path.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_tenant(session: AsyncSession, region_code: str, name: str | None = None) -> Tenant:
    """Make the region's office a tenant, linked to the nearest tenant above it."""
    region = await session.get(Region, region_code)
    if region is None:
        raise DirectoryError(f"unknown region code {region_code}", "regionCode")
    if region.level == "town":
        raise DirectoryError("a town is not a tenant; it belongs to its county's tenant", "regionCode")
    parent = None
    if region.parent_code:
        parent_region = await session.get(Region, region.parent_code)
        assert parent_region is not None
        parent = await tenant_for_path(session, parent_region.path)
    kind = {"province": "platform"}.get(region.level, region.level)
    t = Tenant(
        region_code=region.code,
        region_path=region.path,
        name=name or region.name,
        kind=kind,
        parent_id=parent.id if parent else None,
    )
    session.add(t)
    await session.flush()
    return t


async def create_agency(
    session: AsyncSession, *, region_code: str, kind: str, name: str, short_name: str | None = None
) -> Agency:
    if kind not in AGENCY_KINDS:
        raise DirectoryError(f"unknown agency kind {kind!r}", "kind")
    if not name.strip() or len(name) > 200:
        raise DirectoryError("agency name must be 1-200 characters", "name")
    region = await session.get(Region, region_code)
    if region is None:
        raise DirectoryError(f"unknown region code {region_code}", "regionCode")
    tenant = await tenant_for_path(session, region.path)
    if tenant is None:
        raise DirectoryError(f"no tenant covers region {region_code}", "regionCode")
    a = Agency(
        tenant_id=tenant.id, region_code=region.code, region_path=region.path, kind=kind,
        name=name.strip(), short_name=short_name,
    )
    session.add(a)
    await session.flush()
    return a


async def create_user(session: AsyncSession, *, login: str, name: str, agency_id: int) -> User:
    agency = await session.get(Agency, agency_id)
    if agency is None:
        raise DirectoryError("unknown agency", "agencyId")
    u = User(login=login, name=name, agency_id=agency.id, tenant_id=agency.tenant_id)
    session.add(u)
    await session.flush()
    return u


async def get_user_by_login(session: AsyncSession, login: str) -> User | None:
    return (await session.execute(select(User).where(User.login == login))).scalar_one_or_none()


async def grant_role(
    session: AsyncSession,
    *,
    user: User,
    role: str,
    region_code: str,
    agency_bound: bool,
    granted_by: int | None = None,
) -> RoleAssignment:
    """Grant `role` to `user` within region_code's subtree; bumps the user's grants_version."""
    region = await session.get(Region, region_code)
    if region is None:
        raise DirectoryError(f"unknown region code {region_code}", "regionCode")
    agency = await session.get(Agency, user.agency_id)
    assert agency is not None
    if agency_bound and not (agency.region_path + "/").startswith(region.path + "/"):
        raise DirectoryError("an agency role is granted within the user's own agency's region", "regionCode")
    tenant = await tenant_for_path(session, region.path)
    if tenant is None:
        raise DirectoryError(f"no tenant covers region {region_code}", "regionCode")
    existing = (
        await session.execute(
            select(RoleAssignment).where(
                RoleAssignment.user_id == user.id,
                RoleAssignment.role == role,
                RoleAssignment.region_code == region.code,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise DirectoryError("the user already holds this role in this region", "role")
    ra = RoleAssignment(
        tenant_id=tenant.id,
        user_id=user.id,
        role=role,
        region_code=region.code,
        region_path=region.path,
        agency_id=agency.id if agency_bound else None,
        granted_by=granted_by,
    )
    session.add(ra)
    await session.execute(update(User).where(User.id == user.id).values(grants_version=User.grants_version + 1))
    await session.flush()
    return ra


async def revoke_role(session: AsyncSession, assignment: RoleAssignment) -> None:
    await session.delete(assignment)
    await session.execute(
        update(User).where(User.id == assignment.user_id).values(grants_version=User.grants_version + 1)
    )
    await session.flush()
