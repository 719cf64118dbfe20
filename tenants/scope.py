"""A principal's scope: which tenants, agencies and region subtrees it may see."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scope:
    """What one transaction may see; set into PostgreSQL as the RLS scope and compiled to SQL.

    - tenant_ids: tenants whose data is visible as a whole (office roles, down the tree);
    - agency_ids: agencies whose addressed items are visible (the user's own, agency roles);
    - region_prefixes: region paths whose subtrees are visible in the region directory;
    - read_only: no write may pass RLS (the read-only overseer).
    """

    user_id: int
    home_tenant_id: int
    tenant_ids: frozenset[int] = field(default_factory=frozenset)
    agency_ids: frozenset[int] = field(default_factory=frozenset)
    region_prefixes: frozenset[str] = field(default_factory=frozenset)
    read_only: bool = False

    def sees_tenant(self, tenant_id: int) -> bool:
        return tenant_id in self.tenant_ids

    def sees_region(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.region_prefixes)
