"""GraphQL face of assessment: indicator sets (versioned), runs, scores with explanations,
and interview proposals for the bottom-ranked."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import text

from ducha.graphql.context import Info
from ducha.graphql.rollups.types import RollupFigure
from ducha.policies import filters
from ducha.services import assessment as svc

AssessmentMetric = strawberry.enum(  # type: ignore[misc]
    Enum("AssessmentMetric", {m.upper(): m for m in svc.METRICS}), name="AssessmentMetric",
    description="Indicators computed from the data: " + "; ".join(f"{k} {v[0]}" for k, v in svc.METRICS.items()))


@strawberry.enum(description="Computed from the data, or scored by hand (0-100).")
class IndicatorKind(Enum):
    COMPUTED = "computed"
    MANUAL = "manual"


@strawberry.enum(description="Who is scored: the tenant's own units, or the tenants directly below it.")
class AssessmentLevel(Enum):
    UNIT = "unit"
    TENANT = "tenant"


@strawberry.enum
class AssessmentSubjectType(Enum):
    AGENCY = "agency"
    TENANT = "tenant"


@strawberry.type
class AssessmentIndicator:
    code: str
    name: str
    kind: IndicatorKind
    metric: AssessmentMetric | None  # type: ignore[valid-type]
    weight: float
    cap: int | None = strawberry.field(description="For a count: the count at which the score reaches zero.")


@strawberry.type(description="One version of a tenant's indicator set for a year.")
class AssessmentSet:
    id: strawberry.ID
    year: int
    version: int
    status: str = strawberry.field(description="active, or superseded by a later version")
    note: str
    created_at: dt.datetime
    indicators: list[AssessmentIndicator]


@strawberry.type(description="Where a computed indicator's items are: pass to rollupItems.")
class DrillDown:
    figure: RollupFigure | None  # type: ignore[valid-type]
    region_code: str
    agency_id: strawberry.ID | None
    year: int


@strawberry.type(description="How one indicator moved the score.")
class ScoreLine:
    code: str
    name: str
    kind: IndicatorKind
    metric: AssessmentMetric | None  # type: ignore[valid-type]
    weight: float
    value: float | None = strawberry.field(description="The rate (0-1), the count, or the hand score; null if none.")
    numerator: int | None
    denominator: int | None
    score: float
    lost: float = strawberry.field(description="Points lost on this indicator (weight - score).")
    note: str
    drill_down: DrillDown | None
    item_type: str | None
    item_ids: list[strawberry.ID] = strawberry.field(description="The items that cost points, where listed here.")


def lines_of(explanation: Any) -> list[ScoreLine]:
    data = explanation if isinstance(explanation, dict) else json.loads(explanation)
    out = []
    for x in data["lines"]:
        d = x.get("drillDown")
        out.append(ScoreLine(
            code=x["code"], name=x["name"], kind=IndicatorKind(x["kind"]),
            metric=AssessmentMetric(x["metric"]) if x.get("metric") else None, weight=float(x["weight"]),
            value=float(x["value"]) if x.get("value") is not None else None, numerator=x.get("numerator"),
            denominator=x.get("denominator"), score=float(x["score"]), lost=float(x["lost"]), note=x.get("note", ""),
            drill_down=DrillDown(figure=RollupFigure(d["figure"]) if d.get("figure") else None,
                                 region_code=d["regionCode"], agency_id=d.get("agencyId"), year=d["year"]) if d else None,
            item_type=x.get("itemType"), item_ids=[strawberry.ID(i) for i in x.get("itemIds", [])]))
    return out


@strawberry.type(description="One subject's score in a run, its rank within its group and the explanation.")
class AssessmentScore:
    id: strawberry.ID
    subject_type: AssessmentSubjectType
    subject_id: strawberry.ID
    subject_name: str
    group: str
    total: float
    rank: int
    group_size: int
    set_version: int
    explanation: list[ScoreLine]


@strawberry.type(description="A bottom-ranked subject proposed for an interview (约谈) of its head.")
class AssessmentInterview:
    id: strawberry.ID
    subject_type: AssessmentSubjectType
    subject_id: strawberry.ID
    status: str = strawberry.field(description="proposed, approved or declined")
    reason: str
    proposed_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str | None


def score_of(r: Any) -> AssessmentScore:
    exp = r.explanation if isinstance(r.explanation, dict) else json.loads(r.explanation)
    return AssessmentScore(id=strawberry.ID(str(r.id)), subject_type=AssessmentSubjectType(r.subject_type),
                           subject_id=strawberry.ID(str(r.subject_id)), subject_name=r.subject_name, group=r.group_label,
                           total=float(r.total), rank=r.rank, group_size=r.group_size,
                           set_version=exp.get("set_version", 0), explanation=lines_of(exp))


def interview_of(r: Any) -> AssessmentInterview:
    return AssessmentInterview(id=strawberry.ID(str(r.id)), subject_type=AssessmentSubjectType(r.subject_type),
                               subject_id=strawberry.ID(str(r.subject_id)), status=r.status, reason=r.reason,
                               proposed_at=r.proposed_at, decided_at=r.decided_at, decision_reason=r.decision_reason)


def _score_filter(info: Info, params: dict[str, Any]) -> str:
    if not filters.enabled():
        return "true"
    sc = info.context.scope
    params.update({"scope_t": sorted(sc.tenant_ids), "scope_a": sorted(sc.agency_ids)})
    return ("(tenant_id = ANY(CAST(:scope_t AS bigint[])) OR (subject_type = 'tenant' AND subject_tenant_id ="
            " ANY(CAST(:scope_t AS bigint[]))) OR subject_agency_id = ANY(CAST(:scope_a AS bigint[])))")


@strawberry.type(description="A computation of scores for one level on one version of the set.")
class AssessmentRun:
    id: strawberry.ID
    year: int
    level: AssessmentLevel
    as_of: dt.date
    bottom_n: int
    set_version: int
    computed_at: dt.datetime
    tenant_id: strawberry.Private[int]
    run_id: strawberry.Private[int]

    @strawberry.field(description="Scores the caller may see, best first within each group.")
    async def scores(self, info: Info) -> list[AssessmentScore]:
        params: dict[str, Any] = {"t": self.tenant_id, "r": self.run_id}
        rows = (await info.context.session.execute(text(
            "SELECT id, subject_type, subject_id, subject_name, group_label, total, rank, group_size, explanation"
            f" FROM assessment_score WHERE tenant_id = :t AND run_id = :r AND {_score_filter(info, params)}"
            " ORDER BY group_label, rank, id"), params)).all()
        return [score_of(r) for r in rows]

    @strawberry.field(description="Interview proposals of this run the caller may see.")
    async def interviews(self, info: Info) -> list[AssessmentInterview]:
        params: dict[str, Any] = {"t": self.tenant_id, "r": self.run_id}
        rows = (await info.context.session.execute(text(
            "SELECT id, subject_type, subject_id, status, reason, proposed_at, decided_at, decision_reason"
            f" FROM assessment_interview WHERE tenant_id = :t AND run_id = :r AND {_score_filter(info, params)}"
            " ORDER BY id"), params)).all()
        return [interview_of(r) for r in rows]


@strawberry.input
class IndicatorInput:
    code: str
    name: str
    kind: IndicatorKind
    weight: float
    metric: AssessmentMetric | None = None  # type: ignore[valid-type]
    cap: int | None = None


@strawberry.input(description="A new version of the set: the weights add up to 100.")
class AssessmentSetInput:
    tenant_id: strawberry.ID
    year: int
    indicators: list[IndicatorInput]
    note: str = ""


@strawberry.input
class ManualScoreInput:
    tenant_id: strawberry.ID
    year: int
    code: str
    subject_type: AssessmentSubjectType
    subject_id: strawberry.ID
    score: float = strawberry.field(description="0-100")
    note: str = ""


@strawberry.input
class RunAssessmentInput:
    tenant_id: strawberry.ID
    year: int
    level: AssessmentLevel
    bottom_n: int = strawberry.field(default=0, description="Propose the last N of each group for an interview.")
    as_of: dt.date | None = None


def indicator_in(i: IndicatorInput) -> svc.IndicatorIn:
    return svc.IndicatorIn(code=i.code, name=i.name, kind=i.kind.value, weight=Decimal(str(i.weight)),
                           metric=i.metric.value if i.metric else None, cap=i.cap)
