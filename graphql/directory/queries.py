"""Directory queries: me, region, tenants, agencies."""

from __future__ import annotations

import re
from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy import select

from ducha import fastread
from ducha.graphql import pagination
from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, AgencyFilter, Me, Region, Tenant, grant_of, tenant_loader
from ducha.graphql.loading import prefetch, selected
from ducha.graphql.errors import NotFound, ValidationError, invalid, not_found
from ducha.policies import filters
from ducha.tenants import models as m

REGION_CODE = re.compile(r"^[0-9]{6}([0-9]{3})?$")

RegionResult = Annotated[Region | NotFound | ValidationError, strawberry.union("RegionResult")]


def bad_input(field: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": field})


def parse_id(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise bad_input(field, f"{field} must be a numeric id")
    return int(value)


@strawberry.type
class DirectoryQuery:
    @strawberry.field(description="The signed-in user, its agency, tenant and roles.")
    async def me(self, info: Info) -> Me:
        p = info.context.principal
        return Me(
            id=strawberry.ID(str(p.user_id)), login=p.login, name=p.name,
            roles=[grant_of(g.role, g.region_code) for g in p.grants],
            read_only=info.context.scope.read_only, agency_id=p.agency_id, tenant_id=p.tenant_id,
        )

    @strawberry.field(description="A region by its GB/T 2260 code, if the caller may see it.")
    async def region(self, info: Info, code: str) -> RegionResult:
        if not REGION_CODE.match(code):
            return invalid("code", "a region code has 6 digits (9 for a town)")
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, m.Region, {"code": [code]}, visibility=fastread.REGION)
        return Region.from_row(rows[0]) if rows else not_found("Region", code)

    @strawberry.field(description="The tenants the caller may see, from the top of its reach down.")
    async def tenants(self, info: Info) -> list[Tenant]:
        ctx = info.context
        rows = (
            await ctx.session.execute(
                select(m.Tenant)
                .where(filters.ids_visible(ctx.scope, m.Tenant.id))
                .order_by(m.Tenant.region_path)
            )
        ).scalars()
        return [Tenant.from_row(t) for t in rows]

    @strawberry.field(description="Agencies the caller may see, a page at a time (by id).")
    async def agencies(
        self, info: Info, first: int = 20, after: str | None = None, filter: AgencyFilter | None = None
    ) -> pagination.Connection[Agency]:
        ctx = info.context
        try:
            n = pagination.check_first(first, ctx.settings.max_page_size)
            after_id = pagination.decode_cursor("agency", after)
        except pagination.PageError as e:
            raise bad_input(e.field, str(e)) from None
        # driver SQL (ducha.fastread): the page and the total are this list's hot path
        A = m.Agency
        args = fastread.Args()
        where: list[str] = []
        f = filter or AgencyFilter()
        if f.region_code is not None:
            if not REGION_CODE.match(f.region_code):
                raise bad_input("filter.regionCode", "a region code has 6 digits (9 for a town)")
            region = await fastread.fetch(ctx.session, "SELECT path FROM region WHERE code = $1", (f.region_code,))
            path = region[0][0] if region else "-"
            where.append(f"({fastread.col(A, 'region_path')} || '/') LIKE {args(path + '/%')}")
        if f.tenant_id is not None:
            where.append(f"{fastread.col(A, 'tenant_id')} = {args(parse_id(f.tenant_id, 'filter.tenantId'))}")
        if f.kind is not None:
            where.append(f"{fastread.col(A, 'kind')} = {args(f.kind.value)}")
        if f.name_contains:
            esc = f.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"{fastread.col(A, 'name')} LIKE {args(f'%{esc}%')} ESCAPE '\\'")
        rows = await fastread.page(ctx.session, ctx.scope, A, visibility=fastread.OWNER_OR_AGENCY, where=where,
                                   args=args, after=after_id, limit=n + 1)

        async def count() -> int:
            return await fastread.count(ctx.session, ctx.scope, A, visibility=fastread.OWNER_OR_AGENCY, where=where,
                                        args=args)

        nodes = [Agency.from_row(a) for a in rows]
        wanted = selected(info, "edges", "node")
        if "tenant" in wanted:  # look-ahead (ducha.graphql.loading): one batch, then synchronous fields
            await prefetch(tenant_loader(info), (a.tenant_id for a in nodes[:n]))
        return pagination.build("agency", nodes, n, lambda a: int(a.id), count, after_id)
