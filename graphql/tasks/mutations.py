"""Key-task mutations: import a workbook, report progress; letters, reviews, observation points."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import strawberry
from sqlalchemy import text

from ducha.graphql import mutation
from ducha.graphql.context import Info
from ducha.graphql.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationError
from ducha.graphql.tasks.types import (
    ImportTaskListInput, LawReviewInput, LetterInput, ObservationPointInput, Task, TASK_COLUMNS, TaskList,
    TaskProgressInput, UnresolvedUnit, UnresolvedUnits, list_of,
)
from ducha.services import tasks as svc, tasks_xlsx
from ducha.services.errors import InvalidInput

ImportResult = Annotated[TaskList | UnresolvedUnits | ValidationError | NotAllowed | NotFound | Conflict,
                         strawberry.union("ImportTaskListResult")]
TaskResult = Annotated[Task | ValidationError | NotAllowed | NotFound | InvalidTransition,
                       strawberry.union("TaskProgressResult")]
@strawberry.type
class Created:
    id: strawberry.ID


def _id(value: str | None, field: str) -> int:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(value)


Result = Annotated[Created | ValidationError | NotAllowed | NotFound | Conflict | InvalidTransition,
                   strawberry.union("TaskRecordResult")]


@strawberry.type
class TaskMutation:
    @strawberry.mutation(description="Import a key-task list from an .xlsx workbook; every lead and participating unit "
                                     "is resolved to an agency first, and nothing is imported if any is not.")
    async def import_task_list(self, info: Info, input: ImportTaskListInput) -> ImportResult:
        ctx = info.context
        try:
            data = base64.b64decode(input.file_base64, validate=True)
        except (binascii.Error, ValueError):
            from ducha.graphql.errors import invalid

            return invalid("fileBase64", "not base64")

        async def act() -> Any:
            tid = _id(input.tenant_id, "tenantId")
            try:
                list_id = await svc.create_list(ctx.session, ctx.principal, tenant_id=tid, year=input.year,
                                                title=input.title, tasks=tasks_xlsx.read(data),
                                                source_name=input.file_name)
            except svc.UnresolvedUnits as e:
                return UnresolvedUnits(message=e.message, code="UNRESOLVED_UNITS",
                                       units=[UnresolvedUnit(row=u.row, column=u.column, name=u.name) for u in e.items])
            row = (await ctx.session.execute(text("SELECT tenant_id, id, year, title, source_name, created_at"
                                                  " FROM task_list WHERE tenant_id = :t AND id = :i"),
                                             {"t": tid, "i": list_id})).one()
            return list_of(row)

        # every name is resolved before anything is written: an unresolved one leaves nothing behind
        return await mutation.run(info, act)

    @strawberry.mutation(description="A lead or participating unit reports progress on a task (completes: its part is done).")
    async def report_task_progress(self, info: Info, input: TaskProgressInput) -> TaskResult:
        ctx = info.context

        async def act() -> Task:
            tid = _id(input.task_id, "taskId")
            await svc.report_progress(ctx.session, ctx.principal, task_id=tid, agency_id=_id(input.agency_id, "agencyId"),
                                      body=input.body, percent=input.percent, completes=input.completes)
            row = (await ctx.session.execute(text(f"SELECT {TASK_COLUMNS} FROM task WHERE id = :i"), {"i": tid})).one()
            return Task.from_row(row)

        return await mutation.run(info, act)

    @strawberry.mutation(description="The office issues a unit's head the year's responsibility letter.")
    async def issue_responsibility_letter(self, info: Info, input: LetterInput) -> Result:
        ctx = info.context

        async def act() -> Created:
            i = await svc.issue_letter(ctx.session, ctx.principal, tenant_id=_id(input.tenant_id, "tenantId"),
                                       year=input.year, agency_id=_id(input.agency_id, "agencyId"),
                                       head_name=input.head_name, content=input.content)
            return Created(id=strawberry.ID(str(i)))

        return await mutation.run(info, act)

    @strawberry.mutation(description="The unit's head signs its responsibility letter.")
    async def sign_responsibility_letter(self, info: Info, letter_id: strawberry.ID) -> Result:
        ctx = info.context

        async def act() -> Created:
            lid = _id(letter_id, "letterId")
            await svc.sign_letter(ctx.session, ctx.principal, lid)
            return Created(id=strawberry.ID(str(lid)))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Record a head's law-reporting review (述法评议) for a year.")
    async def record_law_review(self, info: Info, input: LawReviewInput) -> Result:
        ctx = info.context

        async def act() -> Created:
            i = await svc.record_review(ctx.session, ctx.principal, tenant_id=_id(input.tenant_id, "tenantId"),
                                        agency_id=_id(input.agency_id, "agencyId"), head_name=input.head_name,
                                        year=input.year, reviewed_on=input.reviewed_on, rating=input.rating,
                                        comments=input.comments, post=input.post.value if input.post else None)
            return Created(id=strawberry.ID(str(i)))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Set up an observation point (法治观察点) in a town.")
    async def add_observation_point(self, info: Info, input: ObservationPointInput) -> Result:
        ctx = info.context

        async def act() -> Created:
            i = await svc.add_observation_point(ctx.session, ctx.principal, tenant_id=_id(input.tenant_id, "tenantId"),
                                                name=input.name, region_code=input.region_code,
                                                established_on=input.established_on, observers=input.observers)
            return Created(id=strawberry.ID(str(i)))

        return await mutation.run(info, act)
