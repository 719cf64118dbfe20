"""GraphQL face of deadlines and the escalation ladder."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import Enum

import strawberry
from sqlalchemy import text
from strawberry.dataloader import DataLoader

from ducha.graphql.loading import Loader
from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, load_agency
from ducha.services import calendar_store, deadlines as dsvc, escalation as esvc


@strawberry.enum(description="The rungs of the ladder, in order.")
class EscalationRung(Enum):
    REMINDER = "reminder"
    SUPERVISION_LETTER = "supervision_letter"
    INTERVIEW = "interview"
    PUBLIC_CRITICISM = "public_criticism"
    REFERRAL = "referral"


RUNG_BY_LEVEL = {r.level: EscalationRung(r.name) for r in esvc.RUNGS}
LEVEL_BY_RUNG = {v: k for k, v in RUNG_BY_LEVEL.items()}


@strawberry.enum(description="Where a rung stands: issued (automatic or approved), proposed (awaiting an office "
                             "leader), declined, or cancelled (the item was rectified first).")
class EscalationStatus(Enum):
    ISSUED = "issued"
    PROPOSED = "proposed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


@strawberry.type(description="Something an agency must do by a date; overdue ones climb the escalation ladder.")
class Deadline:
    id: strawberry.ID
    subject_type: str = strawberry.field(description="e.g. clue.transfer, clue.receipt, clue.feedback, rectification.measure")
    subject_id: strawberry.ID
    title: str
    due_on: date
    provisional: bool = strawberry.field(description="Computed on a year not yet officially published.")
    rung: int = strawberry.field(description="Rungs reached so far (0-5).")
    next_rung_on: date | None = strawberry.field(description="When the next rung is due (none while a decision is pending).")
    suspended_at: datetime | None
    suspend_reason: str | None
    closed_at: datetime | None
    close_reason: str | None
    created_at: datetime
    agency_id: strawberry.Private[int]
    tenant_id: strawberry.Private[int]
    deadline_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, d: dsvc.Deadline) -> Deadline:
        return cls(
            id=strawberry.ID(str(d.id)), subject_type=d.subject_type, subject_id=strawberry.ID(str(d.subject_id)),
            title=d.title, due_on=d.due_on, provisional=d.provisional, rung=d.rung, next_rung_on=d.escalate_from,
            suspended_at=d.suspended_at, suspend_reason=d.suspend_reason, closed_at=d.closed_at,
            close_reason=d.close_reason, created_at=d.created_at, agency_id=d.agency_id, tenant_id=d.tenant_id,
            deadline_id=d.id,
        )

    @strawberry.field(description="Open and past its due date.")
    def overdue(self) -> bool:
        return self.closed_at is None and self.due_on < calendar_store.today()

    @strawberry.field(description="The agency that must act, where the caller may see it.")
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)

    @strawberry.field(description="The rungs reached, in order.")
    async def escalations(self, info: Info) -> list[Escalation]:
        return await _escalations_loader(info).load((self.tenant_id, self.deadline_id))


@strawberry.type(description="One rung of the ladder reached by one deadline.")
class Escalation:
    id: strawberry.ID
    rung: EscalationRung
    level: int
    label: str
    status: EscalationStatus
    automatic: bool
    working_days_overdue: int
    as_of: date
    created_at: datetime
    issued_at: datetime | None
    decided_at: datetime | None
    decision_reason: str | None
    delivered_at: datetime | None
    agency_id: strawberry.Private[int]
    tenant_id: strawberry.Private[int]
    deadline_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, r: esvc.Record) -> Escalation:
        return cls(
            id=strawberry.ID(str(r.id)), rung=RUNG_BY_LEVEL[r.rung], level=r.rung, label=esvc.RUNGS[r.rung - 1].label,
            status=EscalationStatus(r.status), automatic=r.automatic, working_days_overdue=r.working_days_overdue,
            as_of=r.as_of, created_at=r.created_at, issued_at=r.issued_at, decided_at=r.decided_at,
            decision_reason=r.decision_reason, delivered_at=r.delivered_at, agency_id=r.agency_id,
            tenant_id=r.tenant_id, deadline_id=r.deadline_id,
        )

    @strawberry.field(description="The agency the rung is addressed to, where the caller may see it.")
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)

    @strawberry.field(description="The deadline that climbed.")
    async def deadline(self, info: Info) -> Deadline | None:
        return await _deadline_loader(info).load((self.tenant_id, self.deadline_id))


def _escalations_loader(info: Info) -> DataLoader[tuple[int, int], list[Escalation]]:
    async def load(keys: list[tuple[int, int]]) -> list[list[Escalation]]:
        rows = (await info.context.session.execute(
            text(f"SELECT {esvc.RECORD_COLUMNS} FROM escalation WHERE (tenant_id, deadline_id) IN"
                 " (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:d AS bigint[]))) ORDER BY rung"),
            {"t": [k[0] for k in keys], "d": [k[1] for k in keys]})).all()
        by: dict[tuple[int, int], list[Escalation]] = defaultdict(list)
        for r in rows:
            by[(r.tenant_id, r.deadline_id)].append(Escalation.from_record(esvc.record_of(r)))
        return [by.get(k, []) for k in keys]

    return info.context.loader("escalations_by_deadline", lambda: Loader(load_fn=load))


def _deadline_loader(info: Info) -> DataLoader[tuple[int, int], Deadline | None]:
    async def load(keys: list[tuple[int, int]]) -> list[Deadline | None]:
        rows = (await info.context.session.execute(
            text(f"SELECT {dsvc.COLUMNS} FROM deadline WHERE (tenant_id, id) IN"
                 " (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:d AS bigint[])))"),
            {"t": [k[0] for k in keys], "d": [k[1] for k in keys]})).all()
        by = {(r.tenant_id, r.id): Deadline.from_row(dsvc.of_row(r)) for r in rows}
        return [by.get(k) for k in keys]

    return info.context.loader("deadline", lambda: Loader(load_fn=load))


def _clue_deadlines_loader(info: Info) -> DataLoader[tuple[int, int], list[Deadline]]:
    async def load(keys: list[tuple[int, int]]) -> list[list[Deadline]]:
        rows = (await info.context.session.execute(
            text(f"SELECT k.clue_id, {', '.join('d.' + c.strip() for c in dsvc.COLUMNS.split(','))}"
                 " FROM (SELECT unnest(CAST(:t AS bigint[])) AS tenant_id, unnest(CAST(:c AS bigint[])) AS clue_id) k"
                 " JOIN deadline d ON d.tenant_id = k.tenant_id AND ("
                 "   (d.subject_type = 'clue.transfer' AND d.subject_id = k.clue_id)"
                 "   OR (d.subject_type IN ('clue.receipt', 'clue.feedback') AND d.subject_id IN"
                 "       (SELECT t.id FROM clue_transfer t WHERE t.tenant_id = k.tenant_id AND t.clue_id = k.clue_id)))"
                 " ORDER BY d.id"),
            {"t": [k[0] for k in keys], "c": [k[1] for k in keys]})).all()
        by: dict[tuple[int, int], list[Deadline]] = defaultdict(list)
        for r in rows:
            by[(r.tenant_id, r.clue_id)].append(Deadline.from_row(dsvc.of_row(r)))
        return [by.get(k, []) for k in keys]

    return info.context.loader("clue_deadlines", lambda: Loader(load_fn=load))


async def clue_deadlines(info: Info, tenant_id: int, clue_id: int) -> list[Deadline]:
    return await _clue_deadlines_loader(info).load((tenant_id, clue_id))


@strawberry.type(description="A tenant's ladder: per rung, working days past due and whether it is automatic.")
class EscalationPolicy:
    tenant_id: strawberry.ID
    customized: bool = strawberry.field(description="False: the platform's default ladder applies.")
    rungs: list[EscalationPolicyRung]


@strawberry.type
class EscalationPolicyRung:
    rung: EscalationRung
    label: str
    threshold_working_days: int
    automatic: bool = strawberry.field(description="False: waits for an office leader's decision.")


def policy_of(p: esvc.Policy) -> EscalationPolicy:
    return EscalationPolicy(
        tenant_id=strawberry.ID(str(p.tenant_id)), customized=p.customized,
        rungs=[EscalationPolicyRung(rung=RUNG_BY_LEVEL[r.level], label=r.label, threshold_working_days=t, automatic=a)
               for r, t, a in zip(esvc.RUNGS, p.thresholds, p.automatic, strict=True)],
    )


@strawberry.type(description="An outbox job that failed for good; retry it once the cause is fixed.")
class DeadLetter:
    id: strawberry.ID
    actor: str
    attempts: int
    last_error: str | None
    created_at: datetime
    dead_at: datetime


@strawberry.input(description="Narrow the deadline list; every field is optional.")
class DeadlineFilter:
    open: bool | None = strawberry.field(default=None, description="Not closed (true) or closed (false).")
    overdue: bool | None = strawberry.field(default=None, description="Open and past due.")
    subject_type: str | None = None
    agency_id: strawberry.ID | None = None
    provisional: bool | None = None
    suspended: bool | None = None


@strawberry.input(description="Narrow the escalation list; every field is optional.")
class EscalationFilter:
    status: EscalationStatus | None = None
    rung: EscalationRung | None = None
    agency_id: strawberry.ID | None = None


@strawberry.input
class DecideEscalationInput:
    escalation_id: strawberry.ID
    approve: bool
    reason: str = ""


@strawberry.input
class SuspendDeadlineInput:
    deadline_id: strawberry.ID
    reason: str


@strawberry.input(description="Give more time: either workingDays more, or a later newDueOn.")
class ExtendDeadlineInput:
    deadline_id: strawberry.ID
    reason: str
    working_days: int | None = None
    new_due_on: date | None = None


@strawberry.input(description="Five rungs, in order: reminder, supervision letter, interview, public criticism, referral.")
class EscalationPolicyInput:
    thresholds: list[int] = strawberry.field(description="Working days past due, increasing.")
    automatic: list[bool]
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description="Default: the caller's own tenant.")
