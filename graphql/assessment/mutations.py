"""Assessment mutations: save a new version of the set, score by hand, run, decide interviews."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry
from sqlalchemy import text

from ducha.graphql import mutation
from ducha.graphql.assessment.types import (
    AssessmentRun, AssessmentSetInput, AssessmentLevel, ManualScoreInput, RunAssessmentInput, indicator_in,
)
from ducha.graphql.context import Info
from ducha.graphql.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationError
from ducha.services import assessment as svc
from ducha.services.errors import InvalidInput

@strawberry.type
class AssessmentSetSaved:
    set_id: strawberry.ID
    version: int


@strawberry.type
class Done:
    ok: bool


def _id(value: str | None, field: str) -> int:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(value)


SaveResult = Annotated[AssessmentSetSaved | NotAllowed | NotFound | ValidationError | Conflict,
                       strawberry.union("SaveAssessmentSetResult")]
DoneResult = Annotated[Done | NotAllowed | NotFound | ValidationError | InvalidTransition,
                       strawberry.union("AssessmentDoneResult")]
RunResult = Annotated[AssessmentRun | NotAllowed | NotFound | ValidationError | InvalidTransition,
                      strawberry.union("RunAssessmentResult")]


@strawberry.type
class AssessmentMutation:
    @strawberry.mutation(description="A new version of a tenant's indicator set for a year; the old one is superseded.")
    async def save_assessment_set(self, info: Info, input: AssessmentSetInput) -> SaveResult:
        ctx = info.context

        async def act() -> AssessmentSetSaved:
            tid = _id(input.tenant_id, "tenantId")
            set_id = await svc.save_set(ctx.session, ctx.principal, tenant_id=tid, year=input.year,
                                        indicators=[indicator_in(i) for i in input.indicators], note=input.note)
            v = (await ctx.session.execute(text("SELECT version FROM assessment_set WHERE tenant_id = :t AND id = :i"),
                                           {"t": tid, "i": set_id})).scalar_one()
            return AssessmentSetSaved(set_id=strawberry.ID(str(set_id)), version=v)

        return await mutation.run(info, act)

    @strawberry.mutation(description="A hand score (0-100) of a manual indicator for one unit or lower tenant.")
    async def score_assessment_indicator(self, info: Info, input: ManualScoreInput) -> DoneResult:
        ctx = info.context

        async def act() -> Done:
            await svc.score_by_hand(ctx.session, ctx.principal, tenant_id=_id(input.tenant_id, "tenantId"),
                                    year=input.year, code=input.code, subject_type=input.subject_type.value,
                                    subject_id=_id(input.subject_id, "subjectId"),
                                    score=Decimal(str(input.score)), note=input.note)
            return Done(ok=True)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Score a level on the active set, rank within groups, propose the bottom N "
                                     "(whole tie groups only: a tie across the cut goes to the office leader).")
    async def run_assessment(self, info: Info, input: RunAssessmentInput) -> RunResult:
        ctx = info.context

        async def act() -> AssessmentRun:
            tid = _id(input.tenant_id, "tenantId")
            run_id = await svc.run(ctx.session, ctx.principal, tenant_id=tid, year=input.year, level=input.level.value,
                                   bottom_n=input.bottom_n, as_of=input.as_of)
            r = (await ctx.session.execute(text(
                "SELECT r.id, r.year, r.level, r.as_of, r.bottom_n, r.computed_at, s.version FROM assessment_run r"
                " JOIN assessment_set s ON s.tenant_id = r.tenant_id AND s.id = r.set_id"
                " WHERE r.tenant_id = :t AND r.id = :i"), {"t": tid, "i": run_id})).one()
            return AssessmentRun(id=strawberry.ID(str(r.id)), year=r.year, level=AssessmentLevel(r.level),
                                 as_of=r.as_of, bottom_n=r.bottom_n, set_version=r.version, computed_at=r.computed_at,
                                 tenant_id=tid, run_id=r.id)

        return await mutation.run(info, act)

    @strawberry.mutation(description="The office leader approves (the head is told) or declines a proposed interview.")
    async def decide_assessment_interview(self, info: Info, interview_id: strawberry.ID, approve: bool,
                                          reason: str = "") -> DoneResult:
        ctx = info.context

        async def act() -> Done:
            await svc.decide_interview(ctx.session, ctx.principal, _id(interview_id, "interviewId"), approve=approve,
                                       reason=reason)
            return Done(ok=True)

        return await mutation.run(info, act)
