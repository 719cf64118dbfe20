"""Clue queries: one clue, a filtered page of clues, and where the holder may transfer one."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy import text

from ducha.graphql import pagination
from ducha.graphql.clues.types import Clue, ClueFilter
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input, parse_id
from ducha.graphql.directory.types import AgencyKind
from ducha.graphql.errors import NotFound, ValidationError, invalid, not_found
from ducha.policies import filters
from ducha.services import calendar_store, clues as svc
from ducha.tenants.scope import Scope

ClueResult = Annotated[Clue | NotFound | ValidationError, strawberry.union("ClueResult")]

# An open clue deadline (its transfer, or a receipt or feedback of one of its hops) past due.
OVERDUE = (
    "EXISTS (SELECT 1 FROM deadline d WHERE d.tenant_id = c.tenant_id AND d.closed_at IS NULL AND d.due_on < :today"
    " AND ((d.subject_type = 'clue.transfer' AND d.subject_id = c.id) OR (d.subject_type IN ('clue.receipt',"
    " 'clue.feedback') AND d.subject_id IN (SELECT t.id FROM clue_transfer t WHERE t.tenant_id = c.tenant_id"
    " AND t.clue_id = c.id))))"
)


def visible(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The scope's clues: the office chain's tenants, and those its agencies are party to."""
    if not filters.enabled():
        return "true", {}
    return ("(c.tenant_id = ANY(CAST(:scope_t AS bigint[])) OR c.party_agency_ids && CAST(:scope_a AS bigint[]))",
            {"scope_t": sorted(scope.tenant_ids), "scope_a": sorted(scope.agency_ids)})


@strawberry.type(description="An agency a clue may be transferred to.")
class ClueReceiver:
    id: strawberry.ID
    name: str
    kind: AgencyKind


@strawberry.type
class ClueQuery:
    @strawberry.field(description="A clue by id, if the caller may see it.")
    async def clue(self, info: Info, id: strawberry.ID) -> ClueResult:
        if not str(id).isdigit() or len(str(id)) > 18:
            return invalid("id", "a clue id is numeric")
        cond, params = visible(info.context.scope)
        row = (await info.context.session.execute(
            text(f"SELECT {svc.CLUE_COLUMNS} FROM clue c WHERE c.id = :i AND {cond}"), {**params, "i": int(id)})).first()
        return Clue.from_row(svc.clue_of(row)) if row else not_found("Clue", str(id))

    @strawberry.field(description="Clues the caller may see, a page at a time (by id).")
    async def clues(self, info: Info, first: int = 20, after: str | None = None,
                    filter: ClueFilter | None = None) -> pagination.Connection[Clue]:
        ctx = info.context
        try:
            n = pagination.check_first(first, ctx.settings.max_page_size)
            after_id = pagination.decode_cursor("clue", after)
        except pagination.PageError as e:
            raise bad_input(e.field, str(e)) from None
        cond, params = visible(ctx.scope)
        where = [cond]
        f = filter or ClueFilter()
        if f.state is not None:
            where.append("c.state = :state")
            params["state"] = f.state.value
        if f.importance is not None:
            where.append("c.importance = :importance")
            params["importance"] = f.importance.value
        if f.source is not None:
            where.append("c.source = :source")
            params["source"] = f.source.value
        if f.holder_agency_id is not None:
            where.append("c.holder_agency_id = :holder")
            params["holder"] = parse_id(f.holder_agency_id, "filter.holderAgencyId")
        if f.discovered_from is not None:
            where.append("c.discovered_on >= :dfrom")
            params["dfrom"] = f.discovered_from
        if f.discovered_to is not None:
            where.append("c.discovered_on <= :dto")
            params["dto"] = f.discovered_to
        if f.search:
            if len(f.search) > 100:
                raise bad_input("filter.search", "search for at most 100 characters")
            esc = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(c.title LIKE :q ESCAPE '\\' OR c.content LIKE :q ESCAPE '\\')")
            params["q"] = f"%{esc}%"
        if f.overdue is not None:
            where.append(OVERDUE if f.overdue else f"NOT {OVERDUE}")
            params["today"] = calendar_store.today()
        page = [*where, "c.id > :after"] if after_id is not None else where
        rows = (await ctx.session.execute(
            text(f"SELECT {svc.CLUE_COLUMNS} FROM clue c WHERE {' AND '.join(page)} ORDER BY c.id LIMIT :n"),
            {**params, "after": after_id, "n": n + 1})).all()

        async def count() -> int:
            sql = f"SELECT count(*) FROM clue c WHERE {' AND '.join(where)}"
            return int((await ctx.session.execute(text(sql), params)).scalar_one())

        nodes = [Clue.from_row(svc.clue_of(r)) for r in rows]
        return pagination.build("clue", nodes, n, lambda c: c.clue_id, count, after_id)

    @strawberry.field(description="The agencies the clue's holder may transfer it to (empty where the caller "
                                  "does not act for the holder).")
    async def clue_transfer_targets(self, info: Info, clue_id: strawberry.ID) -> list[ClueReceiver]:
        ctx = info.context
        cid = parse_id(clue_id, "clueId")
        cond, params = visible(ctx.scope)
        row = (await ctx.session.execute(
            text(f"SELECT c.holder_agency_id FROM clue c WHERE c.id = :i AND {cond}"), {**params, "i": cid})).first()
        if row is None or not svc.acts_for(ctx.principal, row.holder_agency_id):
            return []
        async with ctx.db.system_session() as directory:
            holder = await svc._agency(directory, row.holder_agency_id)
            targets = await svc.transfer_targets(directory, holder)
        return [ClueReceiver(id=strawberry.ID(str(a.id)), name=a.name, kind=AgencyKind(a.kind)) for a in targets]
