"""The request's principal: who is calling, from which agency, with which role grants."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """One role assignment: a role held within a region's subtree (its domain)."""

    role: str
    region_code: str
    region_path: str  # materialized path, codes joined by '/', e.g. 420000/421200/421221
    tenant_id: int  # the tenant that owns the assignment
    agency_id: int | None = None  # agency-bound roles act for this agency only


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user as the rules see it."""

    user_id: int
    login: str
    name: str
    tenant_id: int
    agency_id: int
    region_path: str  # the user's agency's region path
    grants: tuple[RoleGrant, ...] = field(default_factory=tuple)
    grants_version: int = 0  # bumped on every grant or revoke of this user

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)
