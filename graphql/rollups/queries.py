"""Roll-up queries: `rollup` (a region's figures and its children's) and `rollupItems` (the
items behind one figure, a page at a time, with totalCount equal to the figure)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from sqlalchemy import select, text

from ducha.graphql import pagination
from ducha.graphql.clues.types import Clue
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input, parse_id
from ducha.graphql.errors import NotAllowed, NotFound, ValidationError
from ducha.graphql.escalation.types import Escalation
from ducha.graphql.inspection.types import Inspection, Measure, ProblemInstance
from ducha.graphql.mutation import error_member
from ducha.graphql.rollups.types import (
    Rollup, RollupFigure, RollupFilterInput, RollupItem, RollupItemConnection, RollupItemEdge, RollupPeriodInput,
    RollupTarget, filters_of, period_of, rollup_of,
)
from ducha.services import clues as clue_svc, escalation as esc_svc, models as m, rollups as svc

RollupResult = Annotated[Rollup | NotFound | NotAllowed | ValidationError, strawberry.union("RollupResult")]
RollupItemsResult = Annotated[RollupItemConnection | NotFound | NotAllowed | ValidationError,
                              strawberry.union("RollupItemsResult")]


def _failed(e: Exception) -> Any:
    member = error_member(e)
    if member is None:
        raise e
    return member


async def _nodes(info: Info, kind: str, ids: list[int]) -> dict[int, Any]:
    """The page's items as their own GraphQL types, one statement per page."""
    s = await info.context.read_session()
    if not ids:
        return {}
    if kind == "problem":
        rows = (await s.execute(select(m.ProblemInstance).where(m.ProblemInstance.id.in_(ids)))).scalars()
        return {r.id: ProblemInstance.from_row(r, dt.date.today()) for r in rows}
    if kind == "inspection":
        rows = (await s.execute(select(m.Inspection).where(m.Inspection.id.in_(ids)))).scalars()
        return {r.id: Inspection.from_row(r) for r in rows}
    if kind == "measure":
        rows = (await s.execute(select(m.Measure).where(m.Measure.id.in_(ids)))).scalars()
        return {r.id: Measure.from_row(r) for r in rows}
    if kind == "target":
        pairs = (await s.execute(select(m.InspectionTarget, m.Inspection).join(
            m.Inspection, (m.Inspection.tenant_id == m.InspectionTarget.tenant_id)
            & (m.Inspection.id == m.InspectionTarget.inspection_id)).where(m.InspectionTarget.id.in_(ids)))).all()
        return {t.id: RollupTarget(id=strawberry.ID(str(t.id)), inspection_id=t.inspection_id, agency_id=t.agency_id,
                                   inspection=Inspection.from_row(i), lower_tenant=t.target_tenant_id != t.tenant_id)
                for t, i in pairs}
    if kind == "clue":
        rows = (await s.execute(text(f"SELECT {clue_svc.CLUE_COLUMNS} FROM clue WHERE id = ANY(CAST(:i AS bigint[]))"),
                                {"i": ids})).all()
        return {r.id: Clue.from_row(clue_svc.clue_of(r)) for r in rows}
    rows = (await s.execute(text(f"SELECT {esc_svc.RECORD_COLUMNS} FROM escalation WHERE id = ANY(CAST(:i AS bigint[]))"),
                            {"i": ids})).all()
    return {r.id: Escalation.from_record(esc_svc.record_of(r)) for r in rows}


@strawberry.type
class RollupQuery:
    @strawberry.field(description="Figures of a region in the caller's scope for a period, with its children's: "
                                  "regions below and, at the leaves, units. Office roles and the overseer only.")
    async def rollup(self, info: Info, region: str, period: RollupPeriodInput,
                     filters: RollupFilterInput | None = None) -> RollupResult:
        ctx = info.context
        try:
            r = await svc.rollup(await ctx.read_session(), ctx.principal, ctx.scope, region, period_of(period), filters_of(filters))
        except Exception as e:  # noqa: BLE001 - typed members for what the caller can fix
            return _failed(e)
        return rollup_of(r)

    @strawberry.field(description="The items behind one figure of `rollup` (the same region, period and filters; "
                                  "`agencyId` for a unit leaf), by id; totalCount equals the figure.")
    async def rollup_items(self, info: Info, figure: RollupFigure, region: str,  # type: ignore[valid-type]
                           period: RollupPeriodInput, filters: RollupFilterInput | None = None,
                           agency_id: strawberry.ID | None = None, first: int = 20,
                           after: str | None = None) -> RollupItemsResult:
        ctx = info.context
        try:
            n = pagination.check_first(first, ctx.settings.max_page_size)
            after_id = pagination.decode_cursor("rollup", after)
        except pagination.PageError as e:
            raise bad_input(e.field, str(e)) from None
        aid = parse_id(agency_id, "agencyId")
        fig = svc.FIGURES[figure.value]
        try:
            page, total = await svc.items(await ctx.read_session(), ctx.principal, ctx.scope, fig, region, period_of(period),
                                          filters_of(filters), agency_id=aid, first=n, after=after_id)
        except Exception as e:  # noqa: BLE001
            return _failed(e)
        nodes = await _nodes(info, page.kind, page.ids)
        field = {"problem": "problem_instance"}.get(page.kind, page.kind)
        edges = [RollupItemEdge(cursor=pagination.encode_cursor("rollup", i),
                                node=RollupItem(kind=page.kind, id=strawberry.ID(str(i)), **{field: nodes[i]}))
                 for i in page.ids if i in nodes]
        return RollupItemConnection(
            figure=figure, kind=page.kind, total_count=total, edges=edges,
            page_info=pagination.PageInfo(has_next_page=page.has_next, has_previous_page=after_id is not None,
                                          start_cursor=edges[0].cursor if edges else None,
                                          end_cursor=edges[-1].cursor if edges else None),
        )
