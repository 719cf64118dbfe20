"""Inspection-cycle queries: plans, inspections, the problem list, feedback, inspectors, audit."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from sqlalchemy import and_, exists, func, or_, select

from ducha import fastread
from ducha.graphql import pagination
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input, parse_id
from ducha.graphql.errors import NotFound, ValidationError, invalid, not_found
from ducha.graphql.inspection.types import problem_loader
from ducha.graphql.loading import selected
from ducha.graphql.inspection.types import (
    AnnualPlan, AuditEntry, Feedback, Inspection, InspectionKind, Inspector, ProblemCategory,
    ProblemInstance, ProblemSource, Severity,
)
from ducha.policies import filters
from ducha.tenants.scope import Scope
from ducha.services import models as m

InspectionResult = Annotated[Inspection | NotFound | ValidationError, strawberry.union("InspectionResult")]
ProblemInstanceResult = Annotated[ProblemInstance | NotFound | ValidationError, strawberry.union("ProblemInstanceResult")]


def inspection_visible_for(scope: Scope):  # type: ignore[no-untyped-def]
    """The owner's inspections, and those with a target addressed to the caller (as ORM SQL;
    fastread.INSPECTION is the same predicate as driver SQL, tests/test_fastread.py)."""
    t = m.InspectionTarget
    addressed = exists().where(t.tenant_id == m.Inspection.tenant_id, t.inspection_id == m.Inspection.id,
                               filters.addressed_visible(scope, t.tenant_id, t.target_tenant_id, t.agency_id))
    return or_(filters.tenant_visible(scope, m.Inspection.tenant_id), addressed)


def _instance_ways(scope: Scope, args: fastread.Args) -> list[str]:
    """The ways to see an instance as driver SQL (alias i), each served by one index: the
    owner's chain (tenant_id, id), the target tenant's office (target_tenant_id, id), the unit
    itself (agency_id, id); instance_visible_for is the same rule as ORM SQL."""
    if not filters.enabled():
        return ["TRUE"]
    ways = []
    if scope.tenant_ids:
        ways.append(fastread.among("i.tenant_id", scope.tenant_ids, args))
        ways.append(f"i.status <> 'found' AND {fastread.among('i.target_tenant_id', scope.tenant_ids, args)}")
    if scope.agency_ids:
        ways.append(f"i.status <> 'found' AND {fastread.among('i.agency_id', scope.agency_ids, args)}")
    return ways or ["FALSE"]


def _instance_visible_sql(scope: Scope, args: fastread.Args) -> str:
    """instance_visible as driver SQL (alias i): the branches' OR."""
    return "(" + " OR ".join(f"({w})" for w in _instance_ways(scope, args)) + ")"


def instance_visible_for(scope: Scope):  # type: ignore[no-untyped-def]
    """The owner's instances, and (past 'found') those addressed to the caller (fastread.INSTANCE)."""
    i = m.ProblemInstance
    return or_(filters.tenant_visible(scope, i.tenant_id),
               and_(i.status != "found", filters.addressed_visible(scope, i.tenant_id, i.target_tenant_id, i.agency_id)))


@strawberry.input(description="Narrow the inspection list.")
class InspectionFilter:
    year: int | None = None
    kind: InspectionKind | None = None  # type: ignore[valid-type]
    status: str | None = None
    tenant_id: strawberry.ID | None = None
    target_agency_id: strawberry.ID | None = None


@strawberry.input(description="Narrow the problem list (one row per unit's instance).")
class ProblemFilter:
    year: int | None = None
    status: str | None = None
    category: ProblemCategory | None = None  # type: ignore[valid-type]
    source: ProblemSource | None = None  # type: ignore[valid-type]
    severity: Severity | None = None  # type: ignore[valid-type]
    agency_id: strawberry.ID | None = None
    inspection_id: strawberry.ID | None = None
    overdue: bool | None = None
    common: bool | None = None


def _pk(id: strawberry.ID) -> int | None:
    """A numeric id within bigint, or None (no row has it)."""
    return int(id) if str(id).isdigit() and int(id) < 2**63 else None


def _page(info: Info, first: int, after: str | None, kind: str) -> tuple[int, int | None]:
    try:
        return pagination.check_first(first, info.context.settings.max_page_size), pagination.decode_cursor(kind, after)
    except pagination.PageError as e:
        raise bad_input(e.field, str(e)) from None


@strawberry.type
class InspectionQuery:
    @strawberry.field(description="Annual plans of the offices the caller sees.")
    async def annual_plans(self, info: Info, year: int | None = None) -> list[AnnualPlan]:
        ctx = info.context
        stmt = select(m.AnnualPlan).where(filters.tenant_visible(ctx.scope, m.AnnualPlan.tenant_id))
        if year is not None:
            stmt = stmt.where(m.AnnualPlan.year == year)
        rows = (await ctx.session.execute(stmt.order_by(m.AnnualPlan.year.desc(), m.AnnualPlan.id))).scalars()
        return [AnnualPlan.from_row(r) for r in rows]

    @strawberry.field(description="Inspections the caller runs or is a target of, newest last.")
    async def inspections(self, info: Info, first: int = 20, after: str | None = None,
                          filter: InspectionFilter | None = None) -> pagination.Connection[Inspection]:
        ctx = info.context
        n, after_id = _page(info, first, after, "inspection")
        f = filter or InspectionFilter()
        # driver SQL (ducha.fastread): the page and the total are this list's hot path
        I = m.Inspection
        args = fastread.Args()
        where: list[str] = []
        if f.year is not None:
            where.append(f"{fastread.col(I, 'year')} = {args(f.year)}")
        if f.kind is not None:
            where.append(f"{fastread.col(I, 'kind')} = {args(f.kind.value)}")
        if f.status is not None:
            where.append(f"{fastread.col(I, 'status')} = {args(f.status)}")
        if f.tenant_id is not None:
            where.append(f"{fastread.col(I, 'tenant_id')} = {args(parse_id(f.tenant_id, 'filter.tenantId'))}")
        if f.target_agency_id is not None:
            aid = parse_id(f.target_agency_id, "filter.targetAgencyId")
            where.append("EXISTS (SELECT 1 FROM inspection_target AS y WHERE y.tenant_id = t.tenant_id"
                         f" AND y.inspection_id = t.id AND y.agency_id = {args(aid)})")
        rows = await fastread.page(ctx.session, ctx.scope, I, visibility=fastread.INSPECTION, where=where, args=args,
                                   after=after_id, limit=n + 1)

        async def count() -> int:
            return await fastread.count(ctx.session, ctx.scope, I, visibility=fastread.INSPECTION, where=where,
                                        args=args)

        nodes = [Inspection.from_row(r) for r in rows]
        await Inspection.prefetch_page(info, nodes[:n], selected(info, "edges", "node"))
        return pagination.build("inspection", nodes, n, lambda i: int(i.id), count, after_id)

    @strawberry.field(description="One inspection, if the caller may see it.")
    async def inspection(self, info: Info, id: strawberry.ID) -> InspectionResult:
        if not str(id).isdigit():
            return invalid("id", "an inspection id is numeric")
        ctx = info.context
        pk = _pk(id)
        rows = [] if pk is None else await fastread.rows(ctx.session, ctx.scope, m.Inspection, {"id": [pk]},
                                                         visibility=fastread.INSPECTION)
        return Inspection.from_row(rows[0]) if rows else not_found("Inspection", str(id))

    @strawberry.field(description="The problem list: one row per unit's problem instance.")
    async def problems(self, info: Info, first: int = 20, after: str | None = None,
                       filter: ProblemFilter | None = None, today: dt.date | None = None
                       ) -> pagination.Connection[ProblemInstance]:
        ctx = info.context
        n, after_id = _page(info, first, after, "problem")
        f = filter or ProblemFilter()
        today = today or dt.date.today()
        # Driver SQL (ducha.fastread): statement building and ORM loading were most of this
        # list's cost. `cond` holds the list's filters, `joined` whether they read the problem.
        args = fastread.Args()
        cond: list[str] = []
        joined = False
        if f.status is not None:
            cond.append(f"i.status = {args(f.status)}")
        if f.agency_id is not None:
            cond.append(f"i.agency_id = {args(parse_id(f.agency_id, 'filter.agencyId'))}")
        if f.overdue is not None:
            od = f"(i.due_on < {args(today)} AND i.status <> 'closed')"
            cond.append(od if f.overdue else f"NOT {od}")
        for val, column in ((f.category, "category"), (f.source, "source"), (f.severity, "severity")):
            if val is not None:
                cond.append(f"p.{column} = {args(val.value)}")
                joined = True
        if f.year is not None:
            cond.append(f"EXTRACT(year FROM p.found_on) = {args(f.year)}")
            joined = True
        if f.inspection_id is not None:
            cond.append(f"p.inspection_id = {args(parse_id(f.inspection_id, 'filter.inspectionId'))}")
            joined = True
        if f.common is not None:
            cond.append("p.is_common IS TRUE" if f.common else "p.is_common IS FALSE")
            joined = True
        join = " JOIN problem AS p ON p.tenant_id = i.tenant_id AND p.id = i.problem_id" if joined else ""
        count_args = args.copy()  # the filters' parameters; the page adds its own after them

        # One statement for the page and its problems (the problem loader is primed with them).
        # Visibility is an OR of three ways to see an instance (the owner's chain, the target
        # tenant's office, the unit itself); an OR under ORDER BY id LIMIT n walks the whole
        # primary key. Instead each way is its own id-ordered, LIMITed branch on its own index
        # ((tenant_id, id), (target_tenant_id, id), (agency_id, id)) and the branches' union,
        # at most 3(n+1) keys, is ordered and cut again.
        scope = ctx.scope
        page = list(cond)
        if after_id is not None:
            page.append(f"i.id > {args(after_id)}")
        lim = args(n + 1)
        ways = _instance_ways(scope, args)
        branches = [f"(SELECT i.tenant_id, i.id FROM problem_instance AS i{join} WHERE {' AND '.join([w, *page])}"
                    f" ORDER BY i.id LIMIT {lim})" for w in ways]
        sql = (f"SELECT {fastread.select_list(m.ProblemInstance, 'i')}, {fastread.select_list(m.Problem, 'q', 'p__')}"
               f" FROM problem_instance AS i JOIN ({' UNION '.join(branches)}) AS v ON v.tenant_id = i.tenant_id"
               f" AND v.id = i.id JOIN problem AS q ON q.tenant_id = i.tenant_id AND q.id = i.problem_id"
               f" ORDER BY i.id LIMIT {lim}")
        rows = await fastread.fetch(ctx.session, sql, args.values)
        width = len(m.ProblemInstance.__mapper__.column_attrs)
        ProblemRow = fastread.record_type(m.Problem)
        loader = problem_loader(info)
        for r in rows:
            prob = ProblemRow(*tuple(r)[width:])
            loader.prime(prob.id, prob)

        async def count() -> int:
            where = [*cond]
            if filters.enabled():
                where.append(_instance_visible_sql(scope, count_args))
            q = (f"SELECT count(*) FROM problem_instance AS i{join}"
                 f" WHERE {' AND '.join(where) if where else 'TRUE'}")
            return int((await fastread.fetch(ctx.session, q, count_args.values))[0][0])

        nodes = [ProblemInstance.from_row(r, today) for r in rows]
        await ProblemInstance.prefetch_page(info, nodes[:n], selected(info, "edges", "node"))
        return pagination.build("problem", nodes, n, lambda x: int(x.id), count, after_id)

    @strawberry.field(description="One unit's problem instance, if visible.")
    async def problem_instance(self, info: Info, id: strawberry.ID) -> ProblemInstanceResult:
        if not str(id).isdigit():
            return invalid("id", "a problem instance id is numeric")
        ctx = info.context
        pk = _pk(id)
        rows = [] if pk is None else await fastread.rows(ctx.session, ctx.scope, m.ProblemInstance, {"id": [pk]},
                                                         visibility=fastread.INSTANCE)
        return ProblemInstance.from_row(rows[0]) if rows else not_found("ProblemInstance", str(id))

    @strawberry.field(description="Feedback addressed to the caller's units (or issued by its offices).")
    async def feedbacks(self, info: Info, first: int = 20, after: str | None = None) -> pagination.Connection[Feedback]:
        ctx = info.context
        n, after_id = _page(info, first, after, "feedback")
        rows = await fastread.page(ctx.session, ctx.scope, m.Feedback, visibility=fastread.ADDRESSED, after=after_id,
                                   limit=n + 1)

        async def count() -> int:
            return await fastread.count(ctx.session, ctx.scope, m.Feedback, visibility=fastread.ADDRESSED)

        return pagination.build("feedback", [Feedback.from_row(r) for r in rows], n, lambda x: int(x.id), count, after_id)

    @strawberry.field(description="The inspector pool of the offices the caller sees.")
    async def inspectors(self, info: Info, first: int = 50, after: str | None = None) -> pagination.Connection[Inspector]:
        ctx = info.context
        n, after_id = _page(info, first, after, "inspector")
        conds = [filters.tenant_visible(ctx.scope, m.Inspector.tenant_id)]
        page = [*conds, m.Inspector.id > after_id] if after_id is not None else conds
        rows = (await ctx.session.execute(select(m.Inspector).where(*page).order_by(m.Inspector.id).limit(n + 1))).scalars().all()

        async def count() -> int:
            return int((await ctx.session.execute(select(func.count()).select_from(m.Inspector).where(*conds))).scalar_one())

        nodes = [Inspector.from_row(r) for r in rows]
        return pagination.build("inspector", nodes, n, lambda x: int(x.id), count, after_id)

    @strawberry.field(description="The audit trail of one item, oldest first (offices only).")
    async def audit_trail(self, info: Info, subject_type: str, subject_id: strawberry.ID) -> list[AuditEntry]:
        from ducha.services.audit import AuditEntry as Row

        ctx = info.context
        sid = parse_id(subject_id, "subjectId")
        rows = (await ctx.session.execute(select(Row).where(
            Row.subject_type == subject_type, Row.subject_id == sid,
            filters.tenant_visible(ctx.scope, Row.tenant_id)).order_by(Row.tenant_id, Row.seq))).scalars().all()
        return [AuditEntry(seq=r.seq, at=r.at, action=r.action,
                           actor_id=strawberry.ID(str(r.actor_id)) if r.actor_id else None, before=r.before, after=r.after)
                for r in rows if not filters.enabled() or r.tenant_id in ctx.scope.tenant_ids]
