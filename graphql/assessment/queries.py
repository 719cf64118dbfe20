"""Assessment queries: the sets of a tenant's year (every version) and its runs."""

from __future__ import annotations

import strawberry
from sqlalchemy import text

from ducha.graphql.assessment.types import (
    AssessmentIndicator, AssessmentLevel, AssessmentMetric, AssessmentRun, AssessmentSet, IndicatorKind,
)
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import parse_id
from ducha.policies import filters


def _tenant(info: Info, tenant_id: strawberry.ID) -> int | None:
    tid = parse_id(tenant_id, "tenantId")
    if filters.enabled() and tid not in info.context.scope.tenant_ids:
        return None
    return tid


@strawberry.type
class AssessmentQuery:
    @strawberry.field(description="Every version of a tenant's indicator set for a year, newest first (its office chain).")
    async def assessment_sets(self, info: Info, tenant_id: strawberry.ID, year: int) -> list[AssessmentSet]:
        tid = _tenant(info, tenant_id)
        if tid is None:
            return []
        s = info.context.session
        sets = (await s.execute(text("SELECT id, year, version, status, note, created_at FROM assessment_set"
                                     " WHERE tenant_id = :t AND year = :y ORDER BY version DESC"),
                                {"t": tid, "y": year})).all()
        inds = (await s.execute(text(
            "SELECT set_id, code, name, kind, metric, weight, cap FROM assessment_indicator WHERE tenant_id = :t"
            " AND set_id = ANY(CAST(:s AS bigint[])) ORDER BY set_id, position"),
            {"t": tid, "s": [r.id for r in sets]})).all()
        by: dict[int, list[AssessmentIndicator]] = {}
        for i in inds:
            by.setdefault(i.set_id, []).append(AssessmentIndicator(
                code=i.code, name=i.name, kind=IndicatorKind(i.kind),
                metric=AssessmentMetric(i.metric) if i.metric else None, weight=float(i.weight), cap=i.cap))
        return [AssessmentSet(id=strawberry.ID(str(r.id)), year=r.year, version=r.version, status=r.status, note=r.note,
                              created_at=r.created_at, indicators=by.get(r.id, [])) for r in sets]

    @strawberry.field(description="Assessment runs of a tenant's year, newest first (its office chain).")
    async def assessment_runs(self, info: Info, tenant_id: strawberry.ID, year: int) -> list[AssessmentRun]:
        tid = _tenant(info, tenant_id)
        if tid is None:
            return []
        rows = (await info.context.session.execute(text(
            "SELECT r.id, r.year, r.level, r.as_of, r.bottom_n, r.computed_at, s.version FROM assessment_run r"
            " JOIN assessment_set s ON s.tenant_id = r.tenant_id AND s.id = r.set_id"
            " WHERE r.tenant_id = :t AND r.year = :y ORDER BY r.id DESC"), {"t": tid, "y": year})).all()
        return [AssessmentRun(id=strawberry.ID(str(r.id)), year=r.year, level=AssessmentLevel(r.level), as_of=r.as_of,
                              bottom_n=r.bottom_n, set_version=r.version, computed_at=r.computed_at, tenant_id=tid,
                              run_id=r.id) for r in rows]
