"""GraphQL face of the roll-ups: figures of a region and its children, monthly series, and the
items behind any figure (drill-down)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry

from ducha.graphql.clues.types import Clue
from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, load_agency
from ducha.graphql.escalation.types import Escalation
from ducha.graphql.inspection.types import (
    Inspection, InspectionKind, Measure, ProblemCategory, ProblemInstance, Severity,
)
from ducha.graphql.pagination import PageInfo
from ducha.services import clues as clue_svc, rollups as svc
from ducha.services.vocab import PROBLEM_SOURCES

RollupFigure = strawberry.enum(  # type: ignore[misc]
    Enum("RollupFigure", {name.upper(): name for name in svc.FIGURES}), name="RollupFigure",
    description="A figure of the roll-up; every count can be drilled into (rollupItems), rates through their parts.")
RollupSource = strawberry.enum(  # type: ignore[misc]
    Enum("RollupSource", {c.upper(): c for c in {**PROBLEM_SOURCES, **clue_svc.SOURCES}}), name="RollupSource",
    description="Where an item came from: the problem sources and the clue sources.")


def _figures_type() -> Any:
    ns: dict[str, Any] = {"__annotations__": {}}
    for f in svc.FIGURES.values():
        ns["__annotations__"][f.name] = float if f.is_rate else int
        ns[f.name] = strawberry.field(description=f.label + ("（比率 0-1）" if f.is_rate else ""))
    cls = type("RollupFigures", (), ns)
    return strawberry.type(cls, description="Every figure of one node for the period and filters.")


RollupFigures = _figures_type()


def figures_of(counters: dict[str, int]) -> Any:
    return RollupFigures(**{name: f.value(counters) for name, f in svc.FIGURES.items()})


@strawberry.input(description="A year, a quarter or a month of a year, or a date range (from/to, inclusive).")
class RollupPeriodInput:
    year: int | None = None
    quarter: int | None = None
    month: int | None = None
    from_: dt.date | None = strawberry.field(default=None, name="from")
    to: dt.date | None = None


@strawberry.input(description="Optional filters; items lacking a filtered dimension are not counted.")
class RollupFilterInput:
    category: ProblemCategory | None = None  # type: ignore[valid-type]
    inspection_kind: InspectionKind | None = None  # type: ignore[valid-type]
    source: RollupSource | None = None  # type: ignore[valid-type]
    severity: Severity | None = None  # type: ignore[valid-type]


def filters_of(f: RollupFilterInput | None) -> svc.Filters:
    if f is None:
        return svc.Filters()
    return svc.Filters(
        category=f.category.value if f.category else None,
        ikind=f.inspection_kind.value if f.inspection_kind else None,
        source=f.source.value if f.source else None,
        severity=f.severity.value if f.severity else None,
    )


def period_of(p: RollupPeriodInput) -> svc.Period:
    return svc.period(year=p.year, quarter=p.quarter, month=p.month, start=p.from_, end=p.to)


@strawberry.type
class RollupPeriod:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    label: str


@strawberry.type(description="One month of a series.")
class RollupPoint:
    month: dt.date
    value: float


@strawberry.type(description="A node of the breakdown: a region below, or a unit (agency) at the leaves.")
class RollupNode:
    region_code: str
    agency_id: strawberry.ID | None = strawberry.field(description="Set for a unit leaf; pass it to rollupItems.")
    name: str
    level: str = strawberry.field(description="province, city, county, town, or unit")
    _counters: strawberry.Private[dict[str, int]]
    _agency: strawberry.Private[int | None]
    _rollup: strawberry.Private[Any]

    @strawberry.field(description="Every figure of this node.")
    def figures(self) -> RollupFigures:  # type: ignore[valid-type]
        return figures_of(self._counters)

    @strawberry.field(description="The unit itself, for a unit leaf.")
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self._agency)

    @strawberry.field(description="One figure month by month over the period.")
    async def series(self, info: Info, figure: RollupFigure) -> list[RollupPoint]:  # type: ignore[valid-type]
        r, fig = self._rollup, svc.FIGURES[figure.value]
        ctx = info.context
        if self._agency is None:
            node = next(n for n in r.children if n.region_code == self.region_code and n.agency_id is None)
            points = await svc.series(await ctx.read_session(), ctx.scope, svc.of_child(r, node), fig)
        else:
            points = await svc.series(await ctx.read_session(), ctx.scope, r, fig, agency_id=self._agency)
        return [RollupPoint(month=m, value=v) for m, v in points]


RollupValues = strawberry.scalar(
    list, name="RollupValues", serialize=lambda v: v, parse_value=lambda v: v,
    description="A row's figures as one JSON array of numbers, in the order of RollupTable.figures (a leaf "
                "value: a dashboard of every figure for every child costs one field per row, not one per number).")


@strawberry.type(description="One row of the table form: a node and its figures, in the table's figure order.")
class RollupRow:
    region_code: str
    agency_id: strawberry.ID | None
    name: str
    level: str
    values: RollupValues  # type: ignore[valid-type]


@strawberry.type(description="The dashboard's table: the node itself first, then its children; one column per figure. "
                             "Cheaper than `figures` on every node when a screen shows them all.")
class RollupTable:
    figures: list[RollupFigure]  # type: ignore[valid-type]
    rows: list[RollupRow]


@strawberry.type(description="Figures of a region for a period: its own and its children's.")
class Rollup:
    region_code: str
    name: str
    level: str
    period: RollupPeriod
    as_of: dt.date = strawberry.field(description="The day 'overdue' is counted on (moved by the daily sweep).")
    children: list[RollupNode]
    _rollup: strawberry.Private[Any]

    @strawberry.field(description="Every figure of the region itself.")
    def figures(self) -> RollupFigures:  # type: ignore[valid-type]
        return figures_of(self._rollup.node.counters)

    @strawberry.field(description="One figure of this region month by month over the period.")
    async def series(self, info: Info, figure: RollupFigure) -> list[RollupPoint]:  # type: ignore[valid-type]
        points = await svc.series(await info.context.read_session(), info.context.scope, self._rollup, svc.FIGURES[figure.value])
        return [RollupPoint(month=m, value=v) for m, v in points]

    @strawberry.field(description="The node and its children as a table (default: every figure, in enum order).")
    def table(self, figures: list[RollupFigure] | None = None) -> RollupTable:  # type: ignore[valid-type]
        chosen = list(figures) if figures else list(RollupFigure)  # type: ignore[call-overload]
        defs = [svc.FIGURES[f.value] for f in chosen]
        r = self._rollup
        rows = [RollupRow(region_code=r.region_code, agency_id=None, name=r.region_name, level=r.region_level,
                          values=[d.value(r.node.counters) for d in defs])]
        rows += [RollupRow(region_code=n.region_code, agency_id=strawberry.ID(str(n.agency_id)) if n.agency_id else None,
                           name=n.name, level=n.level, values=[d.value(n.counters) for d in defs])
                 for n in r.children]
        return RollupTable(figures=chosen, rows=rows)


def rollup_of(r: svc.Rollup) -> Rollup:
    return Rollup(
        region_code=r.region_code, name=r.region_name, level=r.region_level,
        period=RollupPeriod(from_=r.period.start, to=r.period.end, label=r.period.label), as_of=r.as_of,
        children=[RollupNode(region_code=n.region_code, agency_id=strawberry.ID(str(n.agency_id)) if n.agency_id else None,
                             name=n.name, level=n.level, _counters=n.counters, _agency=n.agency_id, _rollup=r)
                  for n in r.children],
        _rollup=r,
    )


@strawberry.type(description="A unit inspected by an inspection (one 家次 of 'targets').")
class RollupTarget:
    id: strawberry.ID
    inspection_id: strawberry.Private[int]
    agency_id: strawberry.Private[int]
    inspection: Inspection | None
    lower_tenant: bool = strawberry.field(description="The unit belongs to a lower tenant than the inspecting office.")

    @strawberry.field
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)


@strawberry.type(description="The item behind a figure: `kind` says which one of its typed fields is set "
                             "(a wrapper rather than a union: the item types' fields of one name differ in type).")
class RollupItem:
    kind: str = strawberry.field(description="problem, inspection, target, clue, escalation or measure")
    id: strawberry.ID
    problem_instance: ProblemInstance | None = None
    inspection: Inspection | None = None
    target: RollupTarget | None = None
    clue: Clue | None = None
    escalation: Escalation | None = None
    measure: Measure | None = None


@strawberry.type
class RollupItemEdge:
    cursor: str
    node: RollupItem


@strawberry.type(description="The items behind one figure; totalCount equals the figure.")
class RollupItemConnection:
    figure: RollupFigure  # type: ignore[valid-type]
    kind: str = strawberry.field(description="inspection, target, problem, clue, escalation or measure")
    total_count: int
    edges: list[RollupItemEdge]
    page_info: PageInfo
