"""Key-task queries: lists (the office's), my tasks (a unit's), the workbook export, letters and coverage."""

from __future__ import annotations

import base64

import strawberry
from sqlalchemy import text

from ducha.graphql.context import Info
from ducha.graphql.directory.queries import parse_id
from ducha.graphql.tasks.types import (
    TASK_COLUMNS, LawReviewCoverage, LawReviewPost, ObservationCoverage, ResponsibilityLetter, ReviewCoverage, Task, TaskList,
    TownObservation, list_of,
)
from ducha.policies import filters
from ducha.services import tasks as svc, tasks_xlsx


def _own(info: Info, tenant_id: strawberry.ID | None) -> int | None:
    tid = parse_id(tenant_id, "tenantId") if tenant_id is not None else info.context.principal.tenant_id
    if filters.enabled() and tid not in info.context.scope.tenant_ids:
        return None
    return tid


@strawberry.type
class TaskQuery:
    @strawberry.field(description="Key-task lists of an office the caller's chain sees (default: its own tenant).")
    async def task_lists(self, info: Info, tenant_id: strawberry.ID | None = None,
                         year: int | None = None) -> list[TaskList]:
        tid = _own(info, tenant_id)
        if tid is None:
            return []
        rows = (await info.context.session.execute(text(
            "SELECT tenant_id, id, year, title, source_name, created_at FROM task_list WHERE tenant_id = :t"
            " AND (CAST(:y AS integer) IS NULL OR year = :y) ORDER BY year DESC, id"), {"t": tid, "y": year})).all()
        return [list_of(r) for r in rows]

    @strawberry.field(description="Tasks the caller's agency leads or takes part in.")
    async def my_tasks(self, info: Info) -> list[Task]:
        ctx = info.context
        rows = (await ctx.session.execute(text(
            f"SELECT {TASK_COLUMNS} FROM task WHERE EXISTS (SELECT 1 FROM task_unit u WHERE u.tenant_id = task.tenant_id"
            " AND u.task_id = task.id AND u.agency_id = ANY(CAST(:a AS bigint[]))) ORDER BY tenant_id, list_id, number"),
            {"a": sorted(ctx.scope.agency_ids)})).all()
        return [Task.from_row(r) for r in rows]

    @strawberry.field(description="A task list as an .xlsx workbook, base64-encoded (null if not visible).")
    async def task_list_xlsx(self, info: Info, list_id: strawberry.ID) -> str | None:
        ctx = info.context
        lid = parse_id(list_id, "listId")
        head = (await ctx.session.execute(text("SELECT tenant_id, title FROM task_list WHERE id = :l"), {"l": lid})).first()
        if head is None or (filters.enabled() and head.tenant_id not in ctx.scope.tenant_ids):
            return None
        rows = (await ctx.session.execute(text(
            f"SELECT {TASK_COLUMNS} FROM task WHERE tenant_id = :t AND list_id = :l ORDER BY number"),
            {"t": head.tenant_id, "l": lid})).all()
        return base64.b64encode(tasks_xlsx.write(head.title, rows)).decode()

    @strawberry.field(description="Responsibility letters of an office's year (its chain), or addressed to the caller's unit.")
    async def responsibility_letters(self, info: Info, year: int,
                                     tenant_id: strawberry.ID | None = None) -> list[ResponsibilityLetter]:
        ctx = info.context
        tid = parse_id(tenant_id, "tenantId") if tenant_id is not None else ctx.principal.tenant_id
        params = {"t": tid, "y": year, "st": sorted(ctx.scope.tenant_ids), "sa": sorted(ctx.scope.agency_ids)}
        vis = ("(tenant_id = ANY(CAST(:st AS bigint[])) OR agency_tenant_id = ANY(CAST(:st AS bigint[]))"
               " OR agency_id = ANY(CAST(:sa AS bigint[])))") if filters.enabled() else "true"
        rows = (await ctx.session.execute(text(
            "SELECT id, year, head_name, content, issued_at, signed_at, agency_id FROM responsibility_letter"
            f" WHERE tenant_id = :t AND year = :y AND {vis} ORDER BY id"), params)).all()
        return [ResponsibilityLetter(id=strawberry.ID(str(r.id)), year=r.year, head_name=r.head_name, content=r.content,
                                     issued_at=r.issued_at, signed_at=r.signed_at, agency_id=r.agency_id) for r in rows]

    @strawberry.field(description="Law-reporting reviews: is every head reviewed within the five years up to `year`?")
    async def law_review_coverage(self, info: Info, year: int,
                                  tenant_id: strawberry.ID | None = None) -> LawReviewCoverage | None:
        tid = _own(info, tenant_id)
        if tid is None:
            return None
        items = await svc.review_coverage(info.context.session, tid, year)
        covered = sum(1 for i in items if i.covered)
        return LawReviewCoverage(year=year, heads=len(items), covered=covered,
                                 rate=round(covered / len(items), 4) if items else 0.0,
                                 items=[ReviewCoverage(agency_id=strawberry.ID(str(i.agency_id)), agency_name=i.agency_name,
                                                       post=LawReviewPost(i.post), last_reviewed_year=i.last_year,
                                                       last_head_name=i.last_head_name, covered=i.covered)
                                        for i in items])

    @strawberry.field(description="Observation points per town of an office's region (at least one per town).")
    async def observation_coverage(self, info: Info, tenant_id: strawberry.ID | None = None) -> ObservationCoverage | None:
        tid = _own(info, tenant_id)
        if tid is None:
            return None
        items = await svc.observation_coverage(info.context.session, tid)
        covered = sum(1 for i in items if i.points > 0)
        return ObservationCoverage(towns=len(items), covered=covered,
                                   rate=round(covered / len(items), 4) if items else 0.0,
                                   items=[TownObservation(region_code=i.region_code, name=i.name, points=i.points)
                                          for i in items])
