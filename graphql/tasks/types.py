"""GraphQL face of key-task lists, responsibility letters, law-reporting reviews and observation points."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from enum import Enum

import strawberry
from sqlalchemy import text
from strawberry.dataloader import DataLoader

from ducha.graphql.loading import Loader
from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, load_agency
from ducha.graphql.errors import UserError


@strawberry.type
class TaskUnit:
    role: str = strawberry.field(description="lead (责任单位) or participant (参加单位)")
    done_at: dt.datetime | None
    agency_id: strawberry.Private[int]

    @strawberry.field
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)


@strawberry.type
class TaskProgress:
    id: strawberry.ID
    body: str
    percent: int
    completes: bool
    created_at: dt.datetime
    agency_id: strawberry.Private[int]

    @strawberry.field
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)


def _loader(info: Info, name: str, sql: str, make: Any) -> DataLoader[tuple[int, int], list[Any]]:
    async def load(keys: list[tuple[int, int]]) -> list[list[Any]]:
        rows = (await info.context.session.execute(text(sql), {"t": [k[0] for k in keys], "k": [k[1] for k in keys]})).all()
        by: dict[tuple[int, int], list[Any]] = defaultdict(list)
        for r in rows:
            by[(r.tenant_id, r.task_id)].append(make(r))
        return [by.get(k, []) for k in keys]

    return info.context.loader(name, lambda: Loader(load_fn=load))


KEYS = "(tenant_id, task_id) IN (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:k AS bigint[])))"


@strawberry.type(description="One task of a key-task list (重点任务清单).")
class Task:
    id: strawberry.ID
    number: int
    section: str
    content: str
    lead_units: str = strawberry.field(description="责任单位 as the list writes them")
    participating_units: str = strawberry.field(description="参加单位 as the list writes them")
    responsible_person: str
    due_on: dt.date | None
    acceptance_standard: str
    status: str = strawberry.field(description="open or done (every lead unit completed)")
    completed_at: dt.datetime | None
    tenant_id: strawberry.Private[int]
    task_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Any) -> Task:
        return cls(id=strawberry.ID(str(r.id)), number=r.number, section=r.section, content=r.content,
                   lead_units=r.lead_units, participating_units=r.participating_units,
                   responsible_person=r.responsible_person, due_on=r.due_on, acceptance_standard=r.acceptance_standard,
                   status=r.status, completed_at=r.completed_at, tenant_id=r.tenant_id, task_id=r.id)

    @strawberry.field(description="The units the names resolved to, with their part.")
    async def units(self, info: Info) -> list[TaskUnit]:
        return await _loader(info, "task_units", f"SELECT tenant_id, task_id, role, done_at, agency_id FROM task_unit"
                             f" WHERE {KEYS} ORDER BY role, id",
                             lambda r: TaskUnit(role=r.role, done_at=r.done_at, agency_id=r.agency_id)).load(
            (self.tenant_id, self.task_id))

    @strawberry.field(description="Progress reports, oldest first.")
    async def progress(self, info: Info) -> list[TaskProgress]:
        return await _loader(info, "task_progress", "SELECT tenant_id, task_id, id, body, percent, completes,"
                             f" created_at, agency_id FROM task_progress WHERE {KEYS} ORDER BY id",
                             lambda r: TaskProgress(id=strawberry.ID(str(r.id)), body=r.body, percent=r.percent,
                                                    completes=r.completes, created_at=r.created_at,
                                                    agency_id=r.agency_id)).load((self.tenant_id, self.task_id))


TASK_COLUMNS = ("tenant_id, id, number, section, content, lead_units, participating_units, responsible_person, due_on,"
                " acceptance_standard, status, completed_at")


@strawberry.type(description="A key-task list of an office for a year.")
class TaskList:
    id: strawberry.ID
    year: int
    title: str
    source_name: str | None
    created_at: dt.datetime
    tenant_id: strawberry.Private[int]
    list_id: strawberry.Private[int]

    @strawberry.field(description="Its tasks by number.")
    async def tasks(self, info: Info) -> list[Task]:
        rows = (await info.context.session.execute(text(
            f"SELECT {TASK_COLUMNS} FROM task WHERE tenant_id = :t AND list_id = :l ORDER BY number"),
            {"t": self.tenant_id, "l": self.list_id})).all()
        return [Task.from_row(r) for r in rows]


def list_of(r: Any) -> TaskList:
    return TaskList(id=strawberry.ID(str(r.id)), year=r.year, title=r.title, source_name=r.source_name,
                    created_at=r.created_at, tenant_id=r.tenant_id, list_id=r.id)


@strawberry.type(description="A unit name of the workbook that matches no agency.")
class UnresolvedUnit:
    row: int
    column: str = strawberry.field(description="lead or participant")
    name: str


@strawberry.type(description="Some unit names match no agency of the tenant: nothing was imported.")
class UnresolvedUnits(UserError):
    units: list[UnresolvedUnit]


@strawberry.type(description="法治建设责任书: issued to a unit's head for a year, signed by the head.")
class ResponsibilityLetter:
    id: strawberry.ID
    year: int
    head_name: str
    content: str
    issued_at: dt.datetime
    signed_at: dt.datetime | None
    agency_id: strawberry.Private[int]

    @strawberry.field
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)


LawReviewPost = strawberry.enum(
    Enum("LawReviewPost", {"PARTY_SECRETARY": "party_secretary", "GOVERNMENT_HEAD": "government_head",
                           "PRINCIPAL": "principal"}),  # type: ignore[misc]
    name="LawReviewPost", description="述法主体: 党委书记 / 政府主要负责人 of a town, 主要负责人 of a department.")


@strawberry.type(description="One head's law-reporting review (述法评议) coverage: reviewed within five years?")
class ReviewCoverage:
    agency_id: strawberry.ID
    agency_name: str
    post: LawReviewPost = strawberry.field(  # type: ignore[valid-type]
        description="A town has two heads who report (党委书记, 政府主要负责人); a department its 主要负责人.")
    last_reviewed_year: int | None
    last_head_name: str | None = strawberry.field(description="Who reported at the last review of this post.")
    covered: bool


@strawberry.type(description="Five-year coverage of law-reporting reviews of a tenant's heads.")
class LawReviewCoverage:
    year: int
    heads: int
    covered: int
    rate: float
    items: list[ReviewCoverage]


@strawberry.type(description="A town's observation points (法治观察点).")
class TownObservation:
    region_code: str
    name: str
    points: int


@strawberry.type(description="Observation points per town: at least one in every town (002 (十五)).")
class ObservationCoverage:
    towns: int
    covered: int
    rate: float
    items: list[TownObservation]


@strawberry.input
class ImportTaskListInput:
    tenant_id: strawberry.ID
    year: int
    title: str
    file_base64: str = strawberry.field(description="The .xlsx workbook, base64-encoded.")
    file_name: str | None = None


@strawberry.input
class TaskProgressInput:
    task_id: strawberry.ID
    agency_id: strawberry.ID
    body: str
    percent: int = 0
    completes: bool = False


@strawberry.input
class LetterInput:
    tenant_id: strawberry.ID
    year: int
    agency_id: strawberry.ID
    head_name: str
    content: str


@strawberry.input
class LawReviewInput:
    tenant_id: strawberry.ID
    agency_id: strawberry.ID
    head_name: str
    post: LawReviewPost | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Required for a town (two heads report); a department's is PRINCIPAL.")
    year: int
    reviewed_on: dt.date
    rating: str = strawberry.field(description="excellent, good, fair or poor")
    comments: str = ""


@strawberry.input
class ObservationPointInput:
    tenant_id: strawberry.ID
    name: str
    region_code: str
    established_on: dt.date
    observers: list[str] = strawberry.field(default_factory=list)
