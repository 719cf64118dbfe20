"""Granting and revoking roles: only admins, only inside their own subtree."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.authz import NotAllowed, authorize
from ducha.policies.roles import AGENCY_BOUND_ROLES, Role
from ducha.services import outbox
from ducha.services.errors import ConflictError, NotFoundError
from ducha.tenants import directory
from ducha.tenants.models import Agency, Region, RoleAssignment, User
from ducha.tenants.principal import Principal


@dataclass(frozen=True)
class GrantChange:
    assignment_id: int
    user: User
    role: str
    region_code: str


async def _target(session: AsyncSession, principal: Principal, login: str, region_code: str,
                  role: Role) -> tuple[User, Region]:
    user = await directory.get_user_by_login(session, login)
    if user is None:
        raise NotFoundError("User", login)
    region = await session.get(Region, region_code)
    if region is None:
        raise NotFoundError("Region", region_code)
    agency = await session.get(Agency, user.agency_id)
    assert agency is not None
    # Both the domain granted and the user's own unit must lie in the admin's subtree.
    authorize(principal, "grant", "role", region.path)
    authorize(principal, "grant", "role", agency.region_path)
    if role is Role.PLATFORM_ADMIN and Role.PLATFORM_ADMIN not in principal.roles:
        raise NotAllowed("grant", "role", region.path, user_id=principal.user_id, roles=principal.roles)
    return user, region


async def grant(session: AsyncSession, principal: Principal, *, login: str, role: Role, region_code: str) -> GrantChange:
    """Grant `role` to `login` within `region_code`; the user is told through the inbox."""
    user, region = await _target(session, principal, login, region_code, role)
    try:
        async with session.begin_nested():
            ra = await directory.grant_role(
                session, user=user, role=role.value, region_code=region.code,
                agency_bound=role in AGENCY_BOUND_ROLES, granted_by=principal.user_id,
            )
    except directory.DirectoryError as e:
        if "already holds" in e.message:
            raise ConflictError(e.message) from None
        raise
    await outbox.enqueue(
        session, tenant_id=ra.tenant_id, actor="role_changed",
        payload={"user_id": user.id, "role": role.value, "region_code": region.code, "change": "granted",
                 "by": principal.login},
        dedup_key=f"role_changed:grant:{ra.id}",
    )
    return GrantChange(ra.id, user, role.value, region.code)


async def revoke(session: AsyncSession, principal: Principal, *, login: str, role: Role, region_code: str) -> GrantChange:
    user, region = await _target(session, principal, login, region_code, role)
    ra = (
        await session.execute(
            select(RoleAssignment).where(
                RoleAssignment.user_id == user.id, RoleAssignment.role == role.value,
                RoleAssignment.region_code == region.code,
            )
        )
    ).scalar_one_or_none()
    if ra is None:
        raise NotFoundError("RoleGrant", f"{login}/{role.value}/{region_code}")
    await directory.revoke_role(session, ra)
    await outbox.enqueue(
        session, tenant_id=ra.tenant_id, actor="role_changed",
        payload={"user_id": user.id, "role": role.value, "region_code": region.code, "change": "revoked",
                 "by": principal.login},
        dedup_key=f"role_changed:revoke:{ra.id}",
    )
    return GrantChange(ra.id, user, role.value, region.code)
