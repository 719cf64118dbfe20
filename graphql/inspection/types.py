"""GraphQL face of the inspection cycle. Internal material (work plan, team, notes,
unannounced visits, report) resolves only for the owning office's chain: for a target unit
it is null or empty, by the app's filters and, underneath, by row-level security."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.dataloader import DataLoader

from ducha import fastread
from ducha.graphql.context import Info
from ducha.graphql.directory.types import (
    Agency,
    Tenant,
    agency_field,
    agency_loader,
    agency_or_none,
    load_agency,
    tenant_field,
    tenant_loader,
)
from ducha.graphql.loading import Loader, member_of, prefetch, settle_all, settled, then
from ducha.policies import filters
from ducha.services import models as m
from ducha.services.vocab import (
    INSPECTION_FORMS, INSPECTION_KINDS, INVITED_CATEGORIES, INSPECTOR_CATEGORIES, PROBLEM_CATEGORIES,
    PROBLEM_SOURCES, SEVERITIES,
)


def _enum(name: str, codes: dict[str, str], description: str) -> Any:
    return strawberry.enum(Enum(name, {c.upper(): c for c in codes}), name=name, description=description)  # type: ignore[misc]


InspectionKind = _enum("InspectionKind", INSPECTION_KINDS, "全面/专项/个案/平时/联合/机动式/调研式/回头看")
InspectionForm = _enum("InspectionForm", INSPECTION_FORMS, "书面/实地/both")
ProblemCategory = _enum("ProblemCategory", PROBLEM_CATEGORIES, "The 8 matters of art. 13 and the seeds' focus areas.")
ProblemSource = _enum("ProblemSource", PROBLEM_SOURCES, "Where a problem came from.")
Severity = _enum("Severity", SEVERITIES, "How serious a problem is.")
InspectorCategory = _enum("InspectorCategory", INSPECTOR_CATEGORIES, "Categories of the inspector pool.")
InvitedCategory = _enum("InvitedCategory", INVITED_CATEGORIES, "Invited team members.")
_inspection_kind, _inspection_form = member_of(InspectionKind), member_of(InspectionForm)
_problem_category, _problem_source, _severity = member_of(ProblemCategory), member_of(ProblemSource), member_of(Severity)


def _id(v: int) -> strawberry.ID:
    return strawberry.ID(str(v))


def _rows_loader(info: Info, name: str, model: Any, key_col: str, *, order: Any = None, owner_only: bool = False,
                 addressed: bool = False) -> DataLoader[tuple[int, int], list[Any]]:
    """Children by (tenant_id, parent id), filtered by the caller's scope (read-only rows)."""
    if (cached := info.context.loaders.get(name)) is not None:  # per field call: no closure made
        return cached  # type: ignore[no-any-return]
    visibility = fastread.OWNER if owner_only else fastread.ADDRESSED if addressed else fastread.NONE
    order_key = order.key if order is not None else None

    async def load(keys: list[tuple[int, int]]) -> list[list[Any]]:
        ctx = info.context
        rows = await fastread.rows(ctx.session, ctx.scope, model,
                                   {"tenant_id": sorted({k[0] for k in keys}), key_col: sorted({k[1] for k in keys})},
                                   visibility=visibility, order=order_key)
        out: dict[tuple[int, int], list[Any]] = defaultdict(list)
        for r in rows:
            out[(r.tenant_id, getattr(r, key_col))].append(r)
        return [out.get(k, []) for k in keys]

    return info.context.loader(name, lambda: Loader(load_fn=load))


def _one_loader(info: Info, name: str, model: Any, *, addressed: bool = False, owner_only: bool = False
                ) -> DataLoader[int, Any]:
    if (cached := info.context.loaders.get(name)) is not None:  # per field call: no closure made
        return cached  # type: ignore[no-any-return]
    visibility = fastread.OWNER if owner_only else fastread.ADDRESSED if addressed else fastread.NONE

    async def load(ids: list[int]) -> list[Any]:
        ctx = info.context
        by = {r.id: r for r in await fastread.rows(ctx.session, ctx.scope, model, {"id": ids}, visibility=visibility)}
        return [by.get(i) for i in ids]

    return info.context.loader(name, lambda: Loader(load_fn=load))


def problem_loader(info: Info) -> DataLoader[int, Any]:
    return _one_loader(info, "problem_by_id", m.Problem)


def targets_loader(info: Info) -> DataLoader[tuple[int, int], list[Any]]:
    return _rows_loader(info, "targets", m.InspectionTarget, "inspection_id", order=m.InspectionTarget.id,
                        addressed=True)


def measures_loader(info: Info) -> DataLoader[tuple[int, int], list[Any]]:
    return _rows_loader(info, "measures_by_instance", m.Measure, "instance_id", order=m.Measure.id, addressed=True)


def _problem_or_none(row: Any) -> Problem | None:
    return Problem.from_row(row) if row else None


def is_owner(info: Info, tenant_id: int) -> bool:
    return not filters.enabled() or tenant_id in info.context.scope.tenant_ids


@strawberry.type(description="年度督察计划: drafted by the office, approved by its leader.")
class AnnualPlan:
    id: strawberry.ID
    year: int
    title: str
    status: str
    return_reason: str | None
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: m.AnnualPlan) -> AnnualPlan:
        return cls(id=_id(r.id), year=r.year, title=r.title, status=r.status, return_reason=r.return_reason,
                   tenant_id=r.tenant_id, pk=r.id)

    @strawberry.field
    async def items(self, info: Info) -> list[PlanItem]:
        rows = await _rows_loader(info, "plan_items", m.PlanItem, "plan_id", order=m.PlanItem.id, owner_only=True).load(
            (self.tenant_id, self.pk))
        return [PlanItem(id=_id(i.id), title=i.title, kind=InspectionKind(i.kind), form=InspectionForm(i.form),
                         planned_month=i.planned_month, scope_note=i.scope_note) for i in rows]

    @strawberry.field
    def tenant(self, info: Info) -> Tenant | None:
        return tenant_field(info, self.tenant_id)  # type: ignore[no-any-return]


@strawberry.type(description="A planned inspection in an annual plan.")
class PlanItem:
    id: strawberry.ID
    title: str
    kind: InspectionKind  # type: ignore[valid-type]
    form: InspectionForm  # type: ignore[valid-type]
    planned_month: int | None
    scope_note: str


@strawberry.type(description="The approved work plan (督察工作方案); internal to the office.")
class WorkPlan:
    project: str
    reason: str
    legal_basis: str
    methods: list[str]
    focus: str
    schedule: str
    status: str
    return_reason: str | None


@strawberry.type(description="A member of an inspection team, from the pool or invited.")
class TeamMember:
    id: strawberry.ID
    is_leader: bool
    name: str
    category: str
    invited: bool


@strawberry.type(description="暗访 record: approved by the team leader with at least two staff. Internal.")
class UnannouncedVisit:
    id: strawberry.ID
    place: str
    planned_on: dt.date
    staff_member_ids: list[strawberry.ID]
    record: str


@strawberry.type(description="A team note. Internal.")
class TeamNote:
    id: strawberry.ID
    body: str
    created_at: dt.datetime


@strawberry.type(description="The internal report, approved by the office, then the committee.")
class Report:
    body: str
    status: str
    return_reason: str | None


@strawberry.type(description="A stored file: name, type, SHA-256, size.")
class StoredFileInfo:
    name: str
    content_type: str
    sha256: str
    size_bytes: int


@strawberry.type(description="A self-inspection request to one target, due in working days.")
class SelfInspection:
    id: strawberry.ID
    requested_on: dt.date
    due_on: dt.date
    due_provisional: bool
    submitted_at: dt.datetime | None
    content: str | None
    late: bool | None
    agency_id: strawberry.Private[int]
    tenant_id: strawberry.Private[int]
    file_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, r: m.SelfInspection) -> SelfInspection:
        return cls(id=_id(r.id), requested_on=r.requested_on, due_on=r.due_on, due_provisional=r.due_provisional,
                   submitted_at=r.submitted_at, content=r.content, late=r.late, agency_id=r.agency_id,
                   tenant_id=r.tenant_id, file_ids=list(r.file_ids or []))

    @strawberry.field(description="The attachments submitted with the report.")
    async def files(self, info: Info) -> list[StoredFileInfo]:
        if not self.file_ids:
            return []
        from ducha.services.files import StoredFile

        rows = (await info.context.session.execute(select(StoredFile).where(
            StoredFile.tenant_id == self.tenant_id, StoredFile.id.in_(self.file_ids)))).scalars()
        return [StoredFileInfo(name=f.name, content_type=f.content_type, sha256=f.sha256, size_bytes=f.size_bytes)
                for f in rows]

    @strawberry.field
    def agency(self, info: Info) -> Agency | None:
        return agency_field(info, self.agency_id)  # type: ignore[no-any-return]


@strawberry.type(description="An inspection: its kind, form, status and what the caller may see of it.")
class Inspection:
    id: strawberry.ID
    year: int
    title: str
    kind: InspectionKind  # type: ignore[valid-type]
    form: InspectionForm  # type: ignore[valid-type]
    status: str
    off_plan_status: str
    focus_area: str | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]
    lookback_of_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, r: m.Inspection) -> Inspection:
        return cls(id=_id(r.id), year=r.year, title=r.title, kind=_inspection_kind(r.kind), form=_inspection_form(r.form),
                   status=r.status, off_plan_status=r.off_plan_status, focus_area=r.focus_area, starts_on=r.starts_on,
                   ends_on=r.ends_on, tenant_id=r.tenant_id, pk=r.id, lookback_of_id=r.lookback_of)

    @strawberry.field(description="The office running it.")
    def tenant(self, info: Info) -> Tenant | None:
        return tenant_field(info, self.tenant_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The target units the caller may see.")
    def targets(self, info: Info) -> list[Agency]:
        ok, rows = settled(targets_loader(info), (self.tenant_id, self.pk))
        if ok:
            al = agency_loader(info)
            got = [settled(al, r.agency_id) for r in rows]
            if all(done for done, _ in got):
                return [Agency.from_row(a) for _, a in got if a is not None]
        return self._targets(info)  # type: ignore[return-value]

    async def _targets(self, info: Info) -> list[Agency]:
        rows = await targets_loader(info).load((self.tenant_id, self.pk))
        # every key registered before the first wait: one batch loads every target of the page
        al = agency_loader(info)
        out = await settle_all([al.load(r.agency_id) for r in rows if r.agency_id is not None])
        return [Agency.from_row(a) for a in out if a is not None]

    @staticmethod
    async def prefetch_page(info: Info, nodes: list[Inspection], wanted: frozenset[str]) -> None:
        """Load in one batch each what the page's selected fields will read (see loading.py)."""
        if "tenant" in wanted:
            await prefetch(tenant_loader(info), (n.tenant_id for n in nodes))
        if "targets" in wanted:
            await prefetch(targets_loader(info), ((n.tenant_id, n.pk) for n in nodes))
            tl = targets_loader(info)
            ids = [r.agency_id for n in nodes for r in settled(tl, (n.tenant_id, n.pk))[1] or ()]
            await prefetch(agency_loader(info), ids)

    @strawberry.field(description="Internal: null for target units.")
    def work_plan(self, info: Info) -> WorkPlan | None:
        if not is_owner(info, self.tenant_id):
            return None
        return then(_rows_loader(info, "work_plans", m.WorkPlan, "inspection_id", owner_only=True),  # type: ignore[return-value]
                    (self.tenant_id, self.pk), _work_plan)

    @strawberry.field(description="Internal: empty for target units.")
    async def team(self, info: Info) -> list[TeamMember]:
        if not is_owner(info, self.tenant_id):
            return []
        rows = await _rows_loader(info, "team", m.TeamMember, "inspection_id", order=m.TeamMember.id,
                                  owner_only=True).load((self.tenant_id, self.pk))
        out = []
        pool = {}
        ids = [r.inspector_id for r in rows if r.inspector_id]
        if ids:
            ctx = info.context
            pool = {i.id: i for i in await fastread.rows(ctx.session, ctx.scope, m.Inspector,
                                                         {"tenant_id": [self.tenant_id], "id": sorted(set(ids))})}
        for r in sorted(rows, key=lambda r: (not r.is_leader, r.id)):
            if r.inspector_id and r.inspector_id in pool:
                out.append(TeamMember(id=_id(r.id), is_leader=r.is_leader, name=pool[r.inspector_id].name,
                                      category=pool[r.inspector_id].category, invited=False))
            elif r.invited_name:
                out.append(TeamMember(id=_id(r.id), is_leader=r.is_leader, name=r.invited_name,
                                      category=r.invited_category or "", invited=True))
        return out

    @strawberry.field(description="Internal: empty for target units.")
    def notes(self, info: Info) -> list[TeamNote]:
        if not is_owner(info, self.tenant_id):
            return []
        return then(_rows_loader(info, "notes", m.TeamNote, "inspection_id", order=m.TeamNote.id,  # type: ignore[return-value]
                                 owner_only=True), (self.tenant_id, self.pk), _notes)

    @strawberry.field(description="Internal: empty for target units.")
    def unannounced_visits(self, info: Info) -> list[UnannouncedVisit]:
        if not is_owner(info, self.tenant_id):
            return []
        return then(_rows_loader(info, "visits", m.UnannouncedVisit, "inspection_id",  # type: ignore[return-value]
                                 order=m.UnannouncedVisit.id, owner_only=True), (self.tenant_id, self.pk), _visits)

    @strawberry.field(description="Internal: null for target units.")
    def report(self, info: Info) -> Report | None:
        if not is_owner(info, self.tenant_id):
            return None
        return then(_rows_loader(info, "reports", m.Report, "inspection_id", owner_only=True),  # type: ignore[return-value]
                    (self.tenant_id, self.pk), _report)

    @strawberry.field(description="Self-inspection requests the caller may see (a target sees its own).")
    def self_inspections(self, info: Info) -> list[SelfInspection]:
        return then(_rows_loader(info, "self_inspections", m.SelfInspection, "inspection_id",  # type: ignore[return-value]
                                 order=m.SelfInspection.id, addressed=True), (self.tenant_id, self.pk),
                    _self_inspections)

    @strawberry.field(description="Feedback the caller may see (a target sees its own).")
    def feedback(self, info: Info) -> list[Feedback]:
        return then(_rows_loader(info, "feedback", m.Feedback, "inspection_id", order=m.Feedback.id,  # type: ignore[return-value]
                                 addressed=True), (self.tenant_id, self.pk), _feedbacks)

    @strawberry.field(description="For a look-back: the problems it re-examines, each linked to its original instance. "
                                  "Internal: empty for target units.")
    async def lookback_items(self, info: Info) -> list[LookbackItem]:
        if not is_owner(info, self.tenant_id):
            return []
        rows = await _rows_loader(info, "lookback_items", m.LookbackItem, "inspection_id", order=m.LookbackItem.id,
                                  owner_only=True).load((self.tenant_id, self.pk))
        return [LookbackItem.from_row(r) for r in rows]

    @strawberry.field(description="For a look-back: how many problems it follows up and how many rebounded "
                                  "(closed problems found again). Null for other inspections and for target units.")
    async def lookback_summary(self, info: Info) -> LookbackSummary | None:
        if self.kind.value != "lookback" or not is_owner(info, self.tenant_id):
            return None
        rows = await _rows_loader(info, "lookback_items", m.LookbackItem, "inspection_id", order=m.LookbackItem.id,
                                  owner_only=True).load((self.tenant_id, self.pk))
        closed = [r for r in rows if r.reason == "sample_of_closed"]
        rebound = sum(1 for r in closed if r.outcome == "rebound")
        return LookbackSummary(
            items=len(rows), pending=sum(1 for r in rows if r.outcome is None),
            confirmed=sum(1 for r in rows if r.outcome == "confirmed"),
            rebound=sum(1 for r in rows if r.outcome == "rebound"), closed_sampled=len(closed),
            closed_rebound=rebound, rebound_rate=round(rebound / len(closed), 4) if closed else None)

    @strawberry.field(description="For a look-back: the inspection it follows up.")
    async def lookback_of(self, info: Info) -> Inspection | None:
        if self.lookback_of_id is None:
            return None
        row = await _one_loader(info, "inspection_by_id", m.Inspection).load(self.lookback_of_id)
        return Inspection.from_row(row) if row else None


@strawberry.type(description="A problem list entry; common problems have an instance per unit.")
class Problem:
    id: strawberry.ID
    title: str
    description: str
    category: ProblemCategory  # type: ignore[valid-type]
    source: ProblemSource  # type: ignore[valid-type]
    severity: Severity  # type: ignore[valid-type]
    is_common: bool
    found_on: dt.date

    @classmethod
    def from_row(cls, r: m.Problem) -> Problem:
        return cls(id=_id(r.id), title=r.title, description=r.description, category=_problem_category(r.category),
                   source=_problem_source(r.source), severity=_severity(r.severity), is_common=r.is_common,
                   found_on=r.found_on)


@strawberry.type(description="A measure of a rectification plan.")
class Measure:
    id: strawberry.ID
    content: str
    responsible_person: str
    due_on: dt.date
    completed_at: dt.datetime | None
    instance_id: strawberry.ID

    @classmethod
    def from_row(cls, r: m.Measure) -> Measure:
        return cls(id=_id(r.id), content=r.content, responsible_person=r.responsible_person, due_on=r.due_on,
                   completed_at=r.completed_at, instance_id=_id(r.instance_id))


@strawberry.type(description="One signature of the acceptance chain, with the evidence hashes it saw.")
class Signoff:
    id: strawberry.ID
    round: int
    step: int
    step_name: str
    decision: str
    comment: str
    evidence_sha256: list[str]
    signed_at: dt.datetime


@strawberry.type(description="One step of an acceptance chain: who signs (role) and for which side.")
class AcceptanceStep:
    name: str
    label: str
    role: str
    side: str = strawberry.field(description="target: the unit signs for itself; office: the inspecting office.")


def _acceptance_steps(steps: list[dict[str, Any]]) -> list[AcceptanceStep]:
    return [AcceptanceStep(name=s["name"], label=s.get("label", s["name"]), role=s["role"], side=s["side"])
            for s in steps]


def _configured_steps(row: Any) -> list[AcceptanceStep]:
    from ducha.services.acceptance import DEFAULT_CHAIN

    return _acceptance_steps(list(row.steps) if row is not None else DEFAULT_CHAIN)


def chain_loader(info: Info) -> DataLoader[int, Any]:
    """Tenants' configured acceptance chains (acceptance.chain's reads, as driver SQL)."""
    if (cached := info.context.loaders.get("acceptance_chain")) is not None:
        return cached  # type: ignore[no-any-return]

    async def load(tenant_ids: list[int]) -> list[Any]:
        ctx = info.context
        by = {r.tenant_id: r for r in await fastread.rows(ctx.session, ctx.scope, m.AcceptanceChain,
                                                          {"tenant_id": tenant_ids})}
        return [by.get(t) for t in tenant_ids]

    return info.context.loader("acceptance_chain", lambda: Loader(load_fn=load))


@strawberry.type(description="A stored evidence file version.")
class Evidence:
    id: strawberry.ID
    slot: str
    version: int
    frozen: bool
    sha256: str
    name: str
    size_bytes: int


@strawberry.type(description="One unit's instance of a problem: the item that is rectified, accepted and closed out.")
class ProblemInstance:
    id: strawberry.ID
    status: str
    due_on: dt.date | None
    acceptance_round: int
    acceptance_step: int
    closed_at: dt.datetime | None
    rebound: bool
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]
    problem_id: strawberry.Private[int]
    agency_id: strawberry.Private[int]
    today: strawberry.Private[dt.date]
    steps: strawberry.Private[list[dict[str, Any]] | None] = None

    @classmethod
    def from_row(cls, r: m.ProblemInstance, today: dt.date | None = None) -> ProblemInstance:
        return cls(id=_id(r.id), status=r.status, due_on=r.due_on, acceptance_round=r.acceptance_round,
                   acceptance_step=r.acceptance_step, closed_at=r.closed_at, rebound=r.rebound, tenant_id=r.tenant_id,
                   pk=r.id, problem_id=r.problem_id, agency_id=r.agency_id, today=today or dt.date.today(),
                   steps=r.acceptance_steps)

    @strawberry.field(description="Past its deadline and not closed out.")
    def overdue(self) -> bool:
        return self.due_on is not None and self.status != "closed" and self.due_on < self.today

    @strawberry.field
    def problem(self, info: Info) -> Problem | None:
        return then(problem_loader(info), self.problem_id, _problem_or_none)  # type: ignore[return-value]

    @strawberry.field(description="The target unit.")
    def agency(self, info: Info) -> Agency | None:
        return then(agency_loader(info), self.agency_id, agency_or_none)  # type: ignore[return-value]

    @strawberry.field
    def measures(self, info: Info) -> list[Measure]:
        return then(measures_loader(info), (self.tenant_id, self.pk),  # type: ignore[return-value]
                    lambda rows: [Measure.from_row(r) for r in rows])

    @strawberry.field(description="The most recently planned measure.")
    def latest_measure(self, info: Info) -> Measure | None:
        return then(measures_loader(info), (self.tenant_id, self.pk),  # type: ignore[return-value]
                    lambda rows: Measure.from_row(rows[-1]) if rows else None)

    @staticmethod
    async def prefetch_page(info: Info, nodes: list[ProblemInstance], wanted: frozenset[str]) -> None:
        """Load in one batch each what the page's selected fields will read (see loading.py)."""
        if "agency" in wanted:
            await prefetch(agency_loader(info), (n.agency_id for n in nodes))
        if "problem" in wanted:
            await prefetch(problem_loader(info), (n.problem_id for n in nodes))
        if "measures" in wanted or "latestMeasure" in wanted:
            await prefetch(measures_loader(info), ((n.tenant_id, n.pk) for n in nodes))

    @strawberry.field(description="The sign-off chain of the current (or last) round; before any round, the "
                                  "owning office's configured chain. `acceptanceStep` indexes it.")
    def acceptance_steps(self, info: Info) -> list[AcceptanceStep]:
        if self.steps:
            return _acceptance_steps(self.steps)
        return then(chain_loader(info), self.tenant_id, _configured_steps)  # type: ignore[return-value]

    @strawberry.field
    async def signoffs(self, info: Info) -> list[Signoff]:
        rows = await _rows_loader(info, "signoffs", m.Signoff, "instance_id", order=m.Signoff.id,
                                  addressed=True).load((self.tenant_id, self.pk))
        return [Signoff(id=_id(s.id), round=s.round, step=s.step, step_name=s.step_name, decision=s.decision,
                        comment=s.comment, evidence_sha256=list(s.evidence_sha256), signed_at=s.signed_at) for s in rows]

    @strawberry.field
    async def evidence(self, info: Info) -> list[Evidence]:
        from ducha.services.files import Evidence as EvidenceRow, StoredFile

        rows = await _rows_loader(info, "evidence", EvidenceRow, "instance_id", order=EvidenceRow.id,
                                  addressed=True).load((self.tenant_id, self.pk))
        if not rows:
            return []
        ctx = info.context
        files = {f.id: f for f in await fastread.rows(ctx.session, ctx.scope, StoredFile,
                                                      {"tenant_id": [self.tenant_id], "id": sorted({r.file_id for r in rows})})}
        return [Evidence(id=_id(r.id), slot=r.slot, version=r.version, frozen=r.frozen, sha256=files[r.file_id].sha256,
                         name=files[r.file_id].name, size_bytes=files[r.file_id].size_bytes)
                for r in rows if r.file_id in files]


@strawberry.type(description="Feedback to one target: its problem list and any rectification notice.")
class Feedback:
    id: strawberry.ID
    issued_at: dt.datetime
    notice_required: bool
    notice_due_on: dt.date | None
    notice_due_provisional: bool
    summary: str
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]
    agency_id: strawberry.Private[int]
    inspection_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: m.Feedback) -> Feedback:
        return cls(id=_id(r.id), issued_at=r.issued_at, notice_required=r.notice_required,
                   notice_due_on=r.notice_due_on, notice_due_provisional=r.notice_due_provisional, summary=r.summary,
                   tenant_id=r.tenant_id, pk=r.id, agency_id=r.agency_id, inspection_id=r.inspection_id)

    @strawberry.field
    def agency(self, info: Info) -> Agency | None:
        return agency_field(info, self.agency_id)  # type: ignore[no-any-return]

    @strawberry.field(description="This target's own problem list.")
    def problems(self, info: Info) -> list[ProblemInstance]:
        return then(_rows_loader(info, "instances_by_feedback", m.ProblemInstance, "feedback_id",  # type: ignore[return-value]
                                 order=m.ProblemInstance.id, addressed=True), (self.tenant_id, self.pk), _instances)

    @strawberry.field
    def inspection(self, info: Info) -> Inspection | None:
        return then(_one_loader(info, "inspection_by_id", m.Inspection), self.inspection_id,  # type: ignore[return-value]
                    _inspection_or_none)

    @strawberry.field(description="The target's rectification plan for this notice, if any.")
    def rectification_plan(self, info: Info) -> RectificationPlan | None:
        return then(_rows_loader(info, "plans_by_feedback", m.RectificationPlan, "feedback_id",  # type: ignore[return-value]
                                 addressed=True), (self.tenant_id, self.pk), _first_plan)


@strawberry.type(description="A target's rectification plan: measures per problem.")
class RectificationPlan:
    id: strawberry.ID
    status: str
    return_reason: str | None
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: m.RectificationPlan) -> RectificationPlan:
        return cls(id=_id(r.id), status=r.status, return_reason=r.return_reason, tenant_id=r.tenant_id, pk=r.id)

    @strawberry.field
    def measures(self, info: Info) -> list[Measure]:
        return then(_rows_loader(info, "measures_by_plan", m.Measure, "plan_id", order=m.Measure.id,  # type: ignore[return-value]
                                 addressed=True), (self.tenant_id, self.pk), _measures)


@strawberry.type(description="A training record of an inspector.")
class Training:
    title: str
    held_on: dt.date
    hours: float


@strawberry.type(description="A member of the inspector pool.")
class Inspector:
    id: strawberry.ID
    name: str
    category: InspectorCategory  # type: ignore[valid-type]
    term_start: dt.date | None
    term_end: dt.date | None
    active: bool
    tenant_id: strawberry.Private[int]
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: m.Inspector) -> Inspector:
        return cls(id=_id(r.id), name=r.name, category=InspectorCategory(r.category), term_start=r.term_start,
                   term_end=r.term_end, active=r.active, tenant_id=r.tenant_id, pk=r.id)

    @strawberry.field(description="Training records, oldest first.")
    async def trainings(self, info: Info) -> list[Training]:
        rows = await _rows_loader(info, "trainings", m.InspectorTraining, "inspector_id", order=m.InspectorTraining.held_on,
                                  owner_only=True).load((self.tenant_id, self.pk))
        return [Training(title=r.title, held_on=r.held_on, hours=float(r.hours)) for r in rows]


@strawberry.type(description="A problem re-examined by a look-back.")
class LookbackItem:
    id: strawberry.ID
    reason: str
    outcome: str | None
    instance_id: strawberry.ID

    @classmethod
    def from_row(cls, r: m.LookbackItem) -> LookbackItem:
        return cls(id=_id(r.id), reason=r.reason, outcome=r.outcome, instance_id=_id(r.instance_id))

    @strawberry.field(description="The original problem instance it follows up (with its whole history).")
    async def instance(self, info: Info) -> ProblemInstance | None:
        row = await _one_loader(info, "instance_by_id", m.ProblemInstance, addressed=True).load(int(self.instance_id))
        return ProblemInstance.from_row(row) if row else None


@strawberry.type(description="回头看 figures: problems followed up, outcomes, and the rebound figure.")
class LookbackSummary:
    items: int
    pending: int
    confirmed: int
    rebound: int
    closed_sampled: int = strawberry.field(description="Closed problems sampled.")
    closed_rebound: int = strawberry.field(description="Closed problems found again (反弹).")
    rebound_rate: float | None = strawberry.field(description="closedRebound / closedSampled; null with no sample.")


@strawberry.type(description="One audit log entry.")
class AuditEntry:
    seq: int
    at: dt.datetime
    action: str
    actor_id: strawberry.ID | None
    before: strawberry.scalars.JSON | None
    after: strawberry.scalars.JSON | None


# Shapes of the look-ahead fields above (ducha.graphql.loading.then): rows -> the field's value.

def _work_plan(rows: list[Any]) -> WorkPlan | None:
    if not rows:
        return None
    w = rows[0]
    return WorkPlan(project=w.project, reason=w.reason, legal_basis=w.legal_basis, methods=list(w.methods),
                    focus=w.focus, schedule=w.schedule, status=w.status, return_reason=w.return_reason)


def _notes(rows: list[Any]) -> list[TeamNote]:
    return [TeamNote(id=_id(r.id), body=r.body, created_at=r.created_at) for r in rows]


def _visits(rows: list[Any]) -> list[UnannouncedVisit]:
    return [UnannouncedVisit(id=_id(r.id), place=r.place, planned_on=r.planned_on,
                             staff_member_ids=[_id(s) for s in r.staff_member_ids], record=r.record) for r in rows]


def _report(rows: list[Any]) -> Report | None:
    return Report(body=rows[0].body, status=rows[0].status, return_reason=rows[0].return_reason) if rows else None


def _self_inspections(rows: list[Any]) -> list[SelfInspection]:
    return [SelfInspection.from_row(r) for r in rows]


def _feedbacks(rows: list[Any]) -> list[Feedback]:
    return [Feedback.from_row(r) for r in rows]


def _instances(rows: list[Any]) -> list[ProblemInstance]:
    return [ProblemInstance.from_row(r) for r in rows]


def _inspection_or_none(row: Any) -> Inspection | None:
    return Inspection.from_row(row) if row else None


def _first_plan(rows: list[Any]) -> RectificationPlan | None:
    return RectificationPlan.from_row(rows[0]) if rows else None


def _measures(rows: list[Any]) -> list[Measure]:
    return [Measure.from_row(r) for r in rows]
