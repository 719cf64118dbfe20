"""GraphQL face of clues: the clue, its transfers (hops), files and deadlines."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import text
from strawberry.dataloader import DataLoader

from ducha.graphql.loading import Loader
from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, load_agency
from ducha.services import clues as svc

if TYPE_CHECKING:
    from ducha.graphql.escalation.types import Deadline
    from ducha.graphql.inspection.types import Problem


@strawberry.enum(description="Where a clue came from.")
class ClueSource(Enum):
    MEDIA = "media"
    PETITION = "petition"
    ENFORCEMENT_SUPERVISION = "enforcement_supervision"
    HOTLINE_12345 = "hotline_12345"
    RECONSIDERATION = "reconsideration"
    LITIGATION = "litigation"
    JUDICIAL_SUGGESTION = "judicial_suggestion"
    PROCURATORIAL_SUGGESTION = "procuratorial_suggestion"
    INSPECTION_TOUR = "inspection_tour"


@strawberry.enum(description="Important clues are due within 5 working days of discovery; routine ones before the 10th.")
class ClueImportance(Enum):
    IMPORTANT = "important"
    ROUTINE = "routine"


@strawberry.enum(description="Where a clue stands.")
class ClueState(Enum):
    REGISTERED = "registered"
    TRANSFERRED = "transferred"
    RECEIVED = "received"
    INVESTIGATING = "investigating"
    ANSWERED = "answered"
    CLOSED = "closed"


@strawberry.enum(description="The direction of a transfer (DOMAIN.md).")
class TransferDirection(Enum):
    TO_OFFICE = "to_office"
    TO_DISCIPLINE = "to_discipline"
    TO_JUSTICE = "to_justice"


@strawberry.type(description="A file reference: name, SHA-256 and size (the blob lives in the document store).")
class ClueFile:
    id: strawberry.ID
    name: str
    sha256: str
    size_bytes: float = strawberry.field(description="Bytes (a Float: files may exceed 2^31).")
    added_at: datetime


@strawberry.type(description="One hop of a clue from a sender to a receiver, with receipt and feedback.")
class ClueTransfer:
    id: strawberry.ID
    seq: int
    direction: TransferDirection
    sender_name: str
    receiver_name: str
    feedback_required: bool
    note: str
    transferred_on: date
    transferred_at: datetime
    received_at: datetime | None
    investigation_started_at: datetime | None
    feedback: str | None
    feedback_at: datetime | None
    sender_agency_id: strawberry.Private[int]
    receiver_agency_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, t: svc.Transfer) -> ClueTransfer:
        return cls(
            id=strawberry.ID(str(t.id)), seq=t.seq, direction=TransferDirection(t.direction),
            sender_name=t.sender_name, receiver_name=t.receiver_name, feedback_required=t.feedback_required,
            note=t.note, transferred_on=t.transferred_on, transferred_at=t.transferred_at,
            received_at=t.received_at, investigation_started_at=t.investigation_started_at, feedback=t.feedback,
            feedback_at=t.feedback_at, sender_agency_id=t.sender_agency_id, receiver_agency_id=t.receiver_agency_id,
        )

    @strawberry.field(description="The sending agency, where the caller may see it.")
    async def sender(self, info: Info) -> Agency | None:
        return await load_agency(info, self.sender_agency_id)

    @strawberry.field(description="The receiving agency, where the caller may see it.")
    async def receiver(self, info: Info) -> Agency | None:
        return await load_agency(info, self.receiver_agency_id)


def _transfers_loader(info: Info) -> DataLoader[tuple[int, int], list[svc.Transfer]]:
    async def load(keys: list[tuple[int, int]]) -> list[list[svc.Transfer]]:
        rows = (await info.context.session.execute(
            text(f"SELECT {svc.TRANSFER_COLUMNS} FROM clue_transfer"
                 " WHERE (tenant_id, clue_id) IN (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:c AS bigint[])))"
                 " ORDER BY seq"),
            {"t": [k[0] for k in keys], "c": [k[1] for k in keys]})).all()
        by: dict[tuple[int, int], list[svc.Transfer]] = defaultdict(list)
        for r in rows:
            by[(r.tenant_id, r.clue_id)].append(svc.transfer_of(r))
        return [by.get(k, []) for k in keys]

    return info.context.loader("clue_transfers", lambda: Loader(load_fn=load))


def _files_loader(info: Info) -> DataLoader[tuple[int, int], list[ClueFile]]:
    async def load(keys: list[tuple[int, int]]) -> list[list[ClueFile]]:
        rows = (await info.context.session.execute(
            text("SELECT tenant_id, clue_id, id, name, sha256, size_bytes, added_at FROM clue_file"
                 " WHERE (tenant_id, clue_id) IN (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:c AS bigint[])))"
                 " ORDER BY id"),
            {"t": [k[0] for k in keys], "c": [k[1] for k in keys]})).all()
        by: dict[tuple[int, int], list[ClueFile]] = defaultdict(list)
        for r in rows:
            by[(r.tenant_id, r.clue_id)].append(ClueFile(id=strawberry.ID(str(r.id)), name=r.name, sha256=r.sha256,
                                                         size_bytes=float(r.size_bytes), added_at=r.added_at))
        return [by.get(k, []) for k in keys]

    return info.context.loader("clue_files", lambda: Loader(load_fn=load))


@strawberry.type(description="A problem clue (问题线索) and its way through the agencies.")
class Clue:
    id: strawberry.ID
    source: ClueSource
    source_label: str
    importance: ClueImportance
    discovered_on: date
    title: str
    content: str
    state: ClueState
    problem_type: str | None = strawberry.field(description="The kind of problem it became (with problemId).")
    problem_id: strawberry.ID | None
    created_at: datetime
    closed_at: datetime | None
    closing_note: str | None
    tenant_id: strawberry.Private[int]
    clue_id: strawberry.Private[int]
    origin_agency_id: strawberry.Private[int]
    holder_agency_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, c: svc.Clue) -> Clue:
        return cls(
            id=strawberry.ID(str(c.id)), source=ClueSource(c.source), source_label=svc.SOURCES[c.source],
            importance=ClueImportance(c.importance), discovered_on=c.discovered_on, title=c.title, content=c.content,
            state=ClueState(c.state), problem_type=c.problem_type,
            problem_id=strawberry.ID(str(c.problem_id)) if c.problem_id is not None else None,
            created_at=c.created_at, closed_at=c.closed_at, closing_note=c.closing_note, tenant_id=c.tenant_id,
            clue_id=c.id, origin_agency_id=c.origin_agency_id, holder_agency_id=c.holder_agency_id,
        )

    @strawberry.field(description="The problem of an inspection it became (problemType 'problem'), where the caller "
                                  "may see it.")
    async def problem(self, info: Info) -> Annotated[Problem, strawberry.lazy("ducha.graphql.inspection.types")] | None:
        if self.problem_type != "problem" or self.problem_id is None:
            return None
        from sqlalchemy import select

        from ducha.graphql.inspection.types import Problem as ProblemType
        from ducha.services.models import Problem as ProblemRow

        row = (await info.context.session.execute(
            select(ProblemRow).where(ProblemRow.tenant_id == self.tenant_id, ProblemRow.id == int(self.problem_id))
        )).scalar_one_or_none()
        return ProblemType.from_row(row) if row is not None else None

    @strawberry.field(description="The agency that registered it, where the caller may see it.")
    async def origin(self, info: Info) -> Agency | None:
        return await load_agency(info, self.origin_agency_id)

    @strawberry.field(description="The agency holding it now, where the caller may see it.")
    async def holder(self, info: Info) -> Agency | None:
        return await load_agency(info, self.holder_agency_id)

    @strawberry.field(description="The hops the caller may see (its own agency's, or all for the office chain).")
    async def transfers(self, info: Info) -> list[ClueTransfer]:
        return [ClueTransfer.from_row(t) for t in await _transfers_loader(info).load((self.tenant_id, self.clue_id))]

    @strawberry.field
    async def files(self, info: Info) -> list[ClueFile]:
        return await _files_loader(info).load((self.tenant_id, self.clue_id))

    @strawberry.field(description="Its transfer, receipt and feedback deadlines the caller may see.")
    async def deadlines(self, info: Info) -> list[Annotated[Deadline, strawberry.lazy("ducha.graphql.escalation.types")]]:
        from ducha.graphql.escalation.types import clue_deadlines

        return await clue_deadlines(info, self.tenant_id, self.clue_id)

    @strawberry.field(description="Whether one of its deadlines the caller may see has passed while still open.")
    async def overdue(self, info: Info) -> bool:
        from ducha.graphql.escalation.types import clue_deadlines
        from ducha.services import calendar_store

        today = calendar_store.today()
        return any(d.closed_at is None and d.due_on < today
                   for d in await clue_deadlines(info, self.tenant_id, self.clue_id))


@strawberry.input(description="A file already stored in the document store, referred to by its hash.")
class FileRefInput:
    name: str
    sha256: str
    size_bytes: int


@strawberry.input(description="A clue found by the caller's agency.")
class RegisterClueInput:
    source: ClueSource
    importance: ClueImportance
    discovered_on: date
    title: str
    content: str
    files: list[FileRefInput] = strawberry.field(default_factory=list)
    agency_id: strawberry.ID | None = strawberry.field(default=None, description="Register for this agency "
                                                       "(one the caller acts for); default: the caller's own.")


@strawberry.input
class TransferClueInput:
    clue_id: strawberry.ID
    receiver_agency_id: strawberry.ID = strawberry.field(description="One of clueTransferTargets.")
    note: str = ""


@strawberry.input
class FeedBackClueInput:
    clue_id: strawberry.ID
    feedback: str


@strawberry.input
class CloseClueInput:
    clue_id: strawberry.ID
    note: str


@strawberry.input(description="The clue became a problem of an inspection (the office decides).")
class LinkClueInput:
    clue_id: strawberry.ID
    problem_type: str = strawberry.field(description="e.g. 'problem'")
    problem_id: strawberry.ID


@strawberry.input
class AddClueFilesInput:
    clue_id: strawberry.ID
    files: list[FileRefInput]


@strawberry.input(description="Narrow the clue list; every field is optional.")
class ClueFilter:
    state: ClueState | None = None
    importance: ClueImportance | None = None
    source: ClueSource | None = None
    overdue: bool | None = strawberry.field(default=None, description="With an open deadline past due (or none).")
    holder_agency_id: strawberry.ID | None = None
    discovered_from: date | None = None
    discovered_to: date | None = None
    search: str | None = strawberry.field(default=None, description="Substring of the title or content.")
