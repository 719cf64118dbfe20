"""GraphQL face of the directory: regions, tenants, agencies, the caller and role grants."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from ducha import fastread
from ducha.graphql.context import Info, request_loader
from ducha.graphql.loading import Loader, member_of, then
from ducha.policies.roles import ROLES, Role
from ducha.tenants import models as m

if TYPE_CHECKING:
    pass

RoleName = strawberry.enum(Role, name="RoleName", description="A role granted within a region's subtree.")


@strawberry.enum(description="Levels of the region tree.")
class RegionLevel(Enum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWN = "town"


@strawberry.enum(description="What kind of office or unit an agency is.")
class AgencyKind(Enum):
    OFFICE = "office"
    COMMITTEE = "committee"
    PARTY_COMMITTEE = "party_committee"
    GOVERNMENT = "government"
    DISCIPLINE = "discipline"
    COURT = "court"
    PROCURATORATE = "procuratorate"
    INSPECTION_TOUR = "inspection_tour"
    JUSTICE = "justice"
    PETITION = "petition"
    DATA = "data"
    CYBERSPACE = "cyberspace"
    ENFORCEMENT = "enforcement"
    DEPARTMENT = "department"
    TOWN = "town"
    ORGANIZATION = "organization"
    CONGRESS = "congress"
    ZONE = "zone"


_agency_kind, _region_level = member_of(AgencyKind), member_of(RegionLevel)


# --- dataloaders (one instance per request, see Context.loader) -----------------------------


@request_loader("region")
def _region_loader(info: Info) -> DataLoader[str, m.Region | None]:
    async def load(codes: list[str]) -> list[m.Region | None]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Region, {"code": codes}, visibility=fastread.REGION)
        by = {r.code: r for r in rows}
        return [by.get(c) for c in codes]

    return info.context.loader("region", lambda: Loader(load_fn=load))


@request_loader("region_children")
def _children_loader(info: Info) -> DataLoader[str, list[m.Region]]:
    async def load(codes: list[str]) -> list[list[m.Region]]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Region, {"parent_code": codes},
                                   visibility=fastread.REGION, order="code")
        out: dict[str, list[m.Region]] = {c: [] for c in codes}
        for r in rows:
            out[r.parent_code or ""].append(r)
        return [out[c] for c in codes]

    return info.context.loader("region_children", lambda: Loader(load_fn=load))


@request_loader("tenant")
def tenant_loader(info: Info) -> DataLoader[int, m.Tenant | None]:
    async def load(ids: list[int]) -> list[m.Tenant | None]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Tenant, {"id": ids}, visibility=fastread.TENANT_IDS)
        by = {t.id: t for t in rows}
        return [by.get(i) for i in ids]

    return info.context.loader("tenant", lambda: Loader(load_fn=load))


@request_loader("tenant_by_region")
def _tenant_by_region_loader(info: Info) -> DataLoader[str, m.Tenant | None]:
    async def load(codes: list[str]) -> list[m.Tenant | None]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Tenant, {"region_code": codes},
                                   visibility=fastread.TENANT_IDS)
        by = {t.region_code: t for t in rows}
        return [by.get(c) for c in codes]

    return info.context.loader("tenant_by_region", lambda: Loader(load_fn=load))


@request_loader("agency")
def agency_loader(info: Info) -> DataLoader[int, m.Agency | None]:
    async def load(ids: list[int]) -> list[m.Agency | None]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Agency, {"id": ids}, visibility=fastread.OWNER_OR_AGENCY)
        by = {a.id: a for a in rows}
        return [by.get(i) for i in ids]

    return info.context.loader("agency", lambda: Loader(load_fn=load))


async def load_region(info: Info, code: str | None) -> Region | None:
    if code is None:
        return None
    row = await _region_loader(info).load(code)
    return Region.from_row(row) if row else None


async def load_tenant(info: Info, tenant_id: int | None) -> Tenant | None:
    if tenant_id is None:
        return None
    row = await tenant_loader(info).load(tenant_id)
    return Tenant.from_row(row) if row else None


async def load_agency(info: Info, agency_id: int | None) -> Agency | None:
    if agency_id is None:
        return None
    row = await agency_loader(info).load(agency_id)
    return Agency.from_row(row) if row else None


# Field resolvers in the look-ahead style (see ducha.graphql.loading): the value now when the
# request's loader holds it, else an awaitable that batches with the item's siblings.

def agency_or_none(row: m.Agency | None) -> Agency | None:
    return Agency.from_row(row) if row else None


def tenant_or_none(row: m.Tenant | None) -> Tenant | None:
    return Tenant.from_row(row) if row else None


def region_or_none(row: m.Region | None) -> Region | None:
    return Region.from_row(row) if row else None


def agency_field(info: Info, agency_id: int | None) -> Any:
    return None if agency_id is None else then(agency_loader(info), agency_id, agency_or_none)


def tenant_field(info: Info, tenant_id: int | None) -> Any:
    return None if tenant_id is None else then(tenant_loader(info), tenant_id, tenant_or_none)


def region_field(info: Info, code: str | None) -> Any:
    return None if code is None else then(_region_loader(info), code, region_or_none)


# --- types ---------------------------------------------------------------------------------


@strawberry.type(description="A node of the region tree (GB/T 2260 codes; towns have 9 digits).")
class Region:
    code: str
    name: str
    level: RegionLevel
    path: str = strawberry.field(description="Codes from the province down, joined by '/'.")
    parent_code: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, r: m.Region) -> Region:
        return cls(code=r.code, name=r.name, level=_region_level(r.level), path=r.path, parent_code=r.parent_code)

    @strawberry.field(description="The parent region, or null where it is above the caller's reach.")
    def parent(self, info: Info) -> Region | None:
        return region_field(info, self.parent_code)

    @strawberry.field(description="The child regions the caller may see.")
    def children(self, info: Info) -> list[Region]:
        return then(_children_loader(info), self.code,  # type: ignore[return-value]
                    lambda rows: [Region.from_row(r) for r in rows])

    @strawberry.field(description="The tenant whose office is this region's, if it is one and visible.")
    def tenant(self, info: Info) -> Tenant | None:
        return then(_tenant_by_region_loader(info), self.code, tenant_or_none)  # type: ignore[return-value]


@strawberry.type(description="A city or county office (or the province platform) owning a region subtree.")
class Tenant:
    id: strawberry.ID
    name: str
    kind: str
    region_code: str
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, t: m.Tenant) -> Tenant:
        return cls(id=strawberry.ID(str(t.id)), name=t.name, kind=t.kind, region_code=t.region_code,
                   parent_id=t.parent_id)

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        return region_field(info, self.region_code)

    @strawberry.field(description="The tenant above, or null where it is above the caller's reach.")
    def parent(self, info: Info) -> Tenant | None:
        return tenant_field(info, self.parent_id)


@strawberry.type(description="An office, department, court, town government or other unit.")
class Agency:
    id: strawberry.ID
    name: str
    short_name: str | None
    kind: AgencyKind
    kind_label: str
    region_code: str
    tenant_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, a: m.Agency) -> Agency:
        return cls(
            id=strawberry.ID(str(a.id)), name=a.name, short_name=a.short_name, kind=_agency_kind(a.kind),
            kind_label=m.AGENCY_KINDS[a.kind], region_code=a.region_code, tenant_id=a.tenant_id,
        )

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        return region_field(info, self.region_code)

    @strawberry.field
    def tenant(self, info: Info) -> Tenant | None:
        return tenant_field(info, self.tenant_id)


@strawberry.type(description="A role held within a region's subtree.")
class RoleGrant:
    role: RoleName  # type: ignore[valid-type]
    label: str
    region_code: str

    @strawberry.field
    def region(self, info: Info) -> Region | None:
        return region_field(info, self.region_code)


def grant_of(role: str, region_code: str) -> RoleGrant:
    r = Role(role)
    return RoleGrant(role=r, label=ROLES[r].label, region_code=region_code)


@strawberry.type(description="The signed-in user.")
class Me:
    id: strawberry.ID
    login: str
    name: str
    roles: list[RoleGrant]
    read_only: bool = strawberry.field(description="True where the caller can change nothing.")
    agency_id: strawberry.Private[int]
    tenant_id: strawberry.Private[int]

    @strawberry.field
    def agency(self, info: Info) -> Agency | None:
        return agency_field(info, self.agency_id)

    @strawberry.field
    def tenant(self, info: Info) -> Tenant | None:
        return tenant_field(info, self.tenant_id)


@strawberry.input(description="Narrow the agency list; every field is optional.")
class AgencyFilter:
    region_code: str | None = strawberry.field(default=None, description="Agencies in this region's subtree.")
    tenant_id: strawberry.ID | None = None
    kind: AgencyKind | None = None
    name_contains: str | None = strawberry.field(default=None, description="Substring of the name.")
