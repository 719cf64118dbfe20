"""Inspection-cycle mutations: one per transition, each a payload or a typed error."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from ducha.graphql import mutation
from ducha.graphql.context import Info
from ducha.graphql.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationError
from ducha.graphql.inspection.types import (
    AnnualPlan, Evidence, Feedback, Inspection, InspectionForm, InspectionKind, Inspector, InspectorCategory,
    InvitedCategory, LookbackItem, Measure, PlanItem, ProblemCategory, ProblemInstance, ProblemSource,
    RectificationPlan, SelfInspection, Severity, Signoff, TeamMember, UnannouncedVisit,
)
from ducha.services import acceptance, inspections, lookback, plans, problems, rectification, reports
from ducha.services.errors import InvalidInput

ERRORS = NotAllowed | NotFound | ValidationError | InvalidTransition | Conflict


def _result(t: Any, name: str) -> Any:
    return Annotated[t | ERRORS, strawberry.union(name)]


def pid(value: Any, field: str) -> int:
    s = str(value)
    if not s.isdigit() or len(s) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(s)


@strawberry.type
class ProblemRecorded:
    problem_id: strawberry.ID
    instances: list[ProblemInstance]


@strawberry.type
class AcceptanceSigned:
    signoff: Signoff
    instance: ProblemInstance


@strawberry.type
class LookbackCreated:
    inspection: Inspection
    items: list[LookbackItem]


@strawberry.type
class AcceptanceChainSteps:
    steps: JSON


@strawberry.type
class ReportChanged:
    inspection_id: strawberry.ID
    status: str


AnnualPlanResult = _result(AnnualPlan, "AnnualPlanResult")
PlanItemResult = _result(PlanItem, "PlanItemResult")
InspectionChange = _result(Inspection, "InspectionChange")
InspectorResult = _result(Inspector, "InspectorResult")
TeamMemberResult = _result(TeamMember, "TeamMemberResult")
UnannouncedVisitResult = _result(UnannouncedVisit, "UnannouncedVisitResult")
SelfInspectionResult = _result(SelfInspection, "SelfInspectionResult")
ProblemInstancesResult = _result(ProblemRecorded, "RecordProblemResult")
FeedbackResult = _result(Feedback, "FeedbackResult")
RectificationPlanResult = _result(RectificationPlan, "RectificationPlanResult")
MeasureResult = _result(Measure, "MeasureResult")
EvidenceResult = _result(Evidence, "EvidenceResult")
ProblemInstanceChange = _result(ProblemInstance, "ProblemInstanceChange")
SignoffResult = _result(AcceptanceSigned, "SignoffResult")
LookbackResult = _result(LookbackCreated, "LookbackResult")
LookbackItemResult = _result(LookbackItem, "LookbackItemResult")
ChainResult = _result(AcceptanceChainSteps, "AcceptanceChainResult")
ReportResult = _result(ReportChanged, "ReportResult")



@strawberry.input
class CreateInspectionInput:
    tenant_id: strawberry.ID
    title: str
    kind: InspectionKind  # type: ignore[valid-type]
    form: InspectionForm  # type: ignore[valid-type]
    year: int
    plan_item_id: strawberry.ID | None = None
    off_plan_reason: str | None = None
    focus_area: str | None = None
    joint_agency_id: strawberry.ID | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None


@strawberry.input
class WorkPlanInput:
    project: str
    reason: str
    legal_basis: str
    methods: list[str]
    focus: str = ""
    schedule: str = ""


@strawberry.input
class ProblemInput:
    inspection_id: strawberry.ID
    title: str
    description: str = ""
    category: ProblemCategory  # type: ignore[valid-type]
    source: ProblemSource  # type: ignore[valid-type]
    severity: Severity  # type: ignore[valid-type]
    agency_ids: list[strawberry.ID]
    found_on: dt.date | None = None


@strawberry.input
class MeasureInput:
    instance_id: strawberry.ID
    content: str
    responsible_person: str
    due_on: dt.date


@strawberry.input(description="A file as base64 (the request body limit applies).")
class FileInput:
    name: str
    content_type: str
    content_base64: str


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(field, "not valid base64") from None


@strawberry.input
class EvidenceInput:
    instance_id: strawberry.ID
    slot: str
    name: str
    content_type: str
    content_base64: str
    measure_id: strawberry.ID | None = None


@strawberry.input
class AcceptanceStepInput:
    name: str
    label: str
    role: str
    side: str


async def inspector_of(session: Any, inspector_id: int) -> Inspector:
    from sqlalchemy import select

    from ducha.services.models import Inspector as Row

    r = (await session.execute(select(Row).where(Row.id == inspector_id))).scalar_one()
    return Inspector.from_row(r)


def _inst(r: Any) -> Inspection:
    return Inspection.from_row(r)


@strawberry.type
class InspectionMutation:
    # --- annual plan ---------------------------------------------------------------------------
    @strawberry.mutation(description="Draft the office's annual plan for a year.")
    async def create_annual_plan(self, info: Info, tenant_id: strawberry.ID, year: int, title: str) -> AnnualPlanResult:
        ctx = info.context

        async def act() -> AnnualPlan:
            return AnnualPlan.from_row(await plans.create(ctx.session, ctx.principal, tenant_id=pid(tenant_id, "tenantId"),
                                                          year=year, title=title))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Add a planned inspection to a draft or returned plan.")
    async def add_plan_item(self, info: Info, plan_id: strawberry.ID, title: str, kind: InspectionKind,  # type: ignore[valid-type]
                            form: InspectionForm, planned_month: int | None = None,  # type: ignore[valid-type]
                            scope_note: str = "") -> PlanItemResult:
        ctx = info.context

        async def act() -> PlanItem:
            i = await plans.add_item(ctx.session, ctx.principal, plan_id=pid(plan_id, "planId"), title=title,
                                     kind=kind.value, form=form.value, planned_month=planned_month, scope_note=scope_note)
            return PlanItem(id=strawberry.ID(str(i.id)), title=i.title, kind=kind, form=form,
                            planned_month=i.planned_month, scope_note=i.scope_note)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Submit the plan to the office leader.")
    async def submit_annual_plan(self, info: Info, plan_id: strawberry.ID) -> AnnualPlanResult:
        ctx = info.context

        async def act() -> AnnualPlan:
            return AnnualPlan.from_row(await plans.submit(ctx.session, ctx.principal, pid(plan_id, "planId")))

        return await mutation.run(info, act)

    @strawberry.mutation(description="The office leader approves the plan or returns it with reasons.")
    async def decide_annual_plan(self, info: Info, plan_id: strawberry.ID, approve: bool,
                                 reason: str | None = None) -> AnnualPlanResult:
        ctx = info.context

        async def act() -> AnnualPlan:
            return AnnualPlan.from_row(await plans.decide(ctx.session, ctx.principal, pid(plan_id, "planId"),
                                                          approve=approve, reason=reason))

        return await mutation.run(info, act)

    # --- inspection ----------------------------------------------------------------------------
    @strawberry.mutation(description="Create an inspection from a plan item, or off plan (then the leader approves).")
    async def create_inspection(self, info: Info, input: CreateInspectionInput) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            r = await inspections.create(
                ctx.session, ctx.principal, tenant_id=pid(input.tenant_id, "tenantId"), title=input.title,
                kind=input.kind.value, form=input.form.value, year=input.year,
                plan_item_id=pid(input.plan_item_id, "planItemId") if input.plan_item_id else None,
                off_plan_reason=input.off_plan_reason, focus_area=input.focus_area,
                joint_agency_id=pid(input.joint_agency_id, "jointAgencyId") if input.joint_agency_id else None,
                starts_on=input.starts_on, ends_on=input.ends_on)
            return _inst(r)

        return await mutation.run(info, act)

    @strawberry.mutation(description="The office leader approves (or rejects) an inspection outside the plan.")
    async def decide_off_plan_inspection(self, info: Info, inspection_id: strawberry.ID, approve: bool) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            return _inst(await inspections.decide_off_plan(ctx.session, ctx.principal, pid(inspection_id, "inspectionId"),
                                                           approve=approve))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Name target units (anywhere below the office's region).")
    async def add_inspection_targets(self, info: Info, inspection_id: strawberry.ID,
                                     agency_ids: list[strawberry.ID]) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            iid = pid(inspection_id, "inspectionId")
            await inspections.add_targets(ctx.session, ctx.principal, iid,
                                          [pid(a, f"agencyIds.{n}") for n, a in enumerate(agency_ids)])
            return _inst(await inspections.get(ctx.session, iid))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Write the work plan (project, reason, legal basis, methods, focus, schedule).")
    async def save_work_plan(self, info: Info, inspection_id: strawberry.ID, input: WorkPlanInput) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            iid = pid(inspection_id, "inspectionId")
            await inspections.save_work_plan(ctx.session, ctx.principal, iid, project=input.project, reason=input.reason,
                                             legal_basis=input.legal_basis, methods=input.methods, focus=input.focus,
                                             schedule=input.schedule)
            return _inst(await inspections.get(ctx.session, iid))

        return await mutation.run(info, act)

    @strawberry.mutation
    async def submit_work_plan(self, info: Info, inspection_id: strawberry.ID) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            return _inst(await inspections.submit_work_plan(ctx.session, ctx.principal, pid(inspection_id, "inspectionId")))

        return await mutation.run(info, act)

    @strawberry.mutation(description="The office leader approves the work plan or returns it with reasons.")
    async def decide_work_plan(self, info: Info, inspection_id: strawberry.ID, approve: bool,
                               reason: str | None = None) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            return _inst(await inspections.decide_work_plan(ctx.session, ctx.principal, pid(inspection_id, "inspectionId"),
                                                            approve=approve, reason=reason))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Start the work (needs the approved work plan and a team leader).")
    async def start_inspection(self, info: Info, inspection_id: strawberry.ID) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            return _inst(await inspections.start(ctx.session, ctx.principal, pid(inspection_id, "inspectionId")))

        return await mutation.run(info, act)

    # --- pool and team -------------------------------------------------------------------------
    @strawberry.mutation(description="Add an inspector to the office's standing pool.")
    async def add_inspector(self, info: Info, tenant_id: strawberry.ID, name: str, category: InspectorCategory,  # type: ignore[valid-type]
                            user_login: str | None = None, term_start: dt.date | None = None,
                            term_end: dt.date | None = None) -> InspectorResult:
        ctx = info.context

        async def act() -> Inspector:
            user_id = None
            if user_login:
                from ducha.tenants.directory import get_user_by_login

                u = await get_user_by_login(ctx.session, user_login)
                if u is None:
                    raise InvalidInput("userLogin", "unknown or invisible user")
                user_id = u.id
            r = await inspections.add_inspector(ctx.session, ctx.principal, tenant_id=pid(tenant_id, "tenantId"), name=name,
                                                category=category.value, user_id=user_id, term_start=term_start,
                                                term_end=term_end)
            return await inspector_of(ctx.session, r.id)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Record a training of an inspector of the pool.")
    async def add_inspector_training(self, info: Info, inspector_id: strawberry.ID, title: str, held_on: dt.date,
                                     hours: float) -> InspectorResult:
        ctx = info.context

        async def act() -> Inspector:
            iid = pid(inspector_id, "inspectorId")
            await inspections.add_training(ctx.session, ctx.principal, iid, title=title, held_on=held_on, hours=hours)
            return await inspector_of(ctx.session, iid)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Add a team member from the pool, or an invited one.")
    async def add_team_member(self, info: Info, inspection_id: strawberry.ID, inspector_id: strawberry.ID | None = None,
                              invited_name: str | None = None, invited_category: InvitedCategory | None = None,  # type: ignore[valid-type]
                              is_leader: bool = False) -> TeamMemberResult:
        ctx = info.context

        async def act() -> TeamMember:
            r = await inspections.add_team_member(
                ctx.session, ctx.principal, pid(inspection_id, "inspectionId"),
                inspector_id=pid(inspector_id, "inspectorId") if inspector_id else None, invited_name=invited_name,
                invited_category=invited_category.value if invited_category else None, is_leader=is_leader)
            return TeamMember(id=strawberry.ID(str(r.id)), is_leader=r.is_leader, name=r.invited_name or "",
                              category=r.invited_category or "", invited=r.inspector_id is None)

        return await mutation.run(info, act)

    @strawberry.mutation(description="暗访: only this team's leader may approve; at least two staff.")
    async def record_unannounced_visit(self, info: Info, inspection_id: strawberry.ID, place: str, planned_on: dt.date,
                                       staff_member_ids: list[strawberry.ID], record: str = "") -> UnannouncedVisitResult:
        ctx = info.context

        async def act() -> UnannouncedVisit:
            v = await inspections.record_unannounced_visit(
                ctx.session, ctx.principal, pid(inspection_id, "inspectionId"), place=place, planned_on=planned_on,
                staff_member_ids=[pid(s, f"staffMemberIds.{n}") for n, s in enumerate(staff_member_ids)], record=record)
            return UnannouncedVisit(id=strawberry.ID(str(v.id)), place=v.place, planned_on=v.planned_on,
                                    staff_member_ids=[strawberry.ID(str(s)) for s in v.staff_member_ids], record=v.record)

        return await mutation.run(info, act)

    @strawberry.mutation(description="An internal team note.")
    async def add_team_note(self, info: Info, inspection_id: strawberry.ID, body: str) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            iid = pid(inspection_id, "inspectionId")
            await inspections.add_note(ctx.session, ctx.principal, iid, body)
            return _inst(await inspections.get(ctx.session, iid))

        return await mutation.run(info, act)

    # --- self-inspection -----------------------------------------------------------------------
    @strawberry.mutation(description="Ask every target for a self-inspection report within N working days.")
    async def request_self_inspections(self, info: Info, inspection_id: strawberry.ID, working_days: int,
                                       today: dt.date | None = None) -> InspectionChange:
        ctx = info.context

        async def act() -> Inspection:
            iid = pid(inspection_id, "inspectionId")
            await inspections.request_self_inspections(ctx.session, ctx.principal, iid, working_days=working_days, today=today)
            return _inst(await inspections.get(ctx.session, iid))

        return await mutation.run(info, act)

    @strawberry.mutation(description="A target submits its self-inspection report with attachments (late ones are marked).")
    async def submit_self_inspection(
        self, info: Info, self_inspection_id: strawberry.ID, content: str,
        today: Annotated[dt.date | None, strawberry.argument(
            deprecation_reason="Ignored: lateness is decided by the server's date (China), never by the submitter.")] = None,
        files: list[FileInput] | None = None,
    ) -> SelfInspectionResult:
        ctx = info.context

        async def act() -> SelfInspection:
            decoded = [(f.name, f.content_type, _b64(f.content_base64, f"files.{n}.contentBase64"))
                       for n, f in enumerate(files or [])]
            return SelfInspection.from_row(await inspections.submit_self_inspection(
                ctx.session, ctx.principal, pid(self_inspection_id, "selfInspectionId"), content=content,
                files=decoded))

        return await mutation.run(info, act)

    # --- problems, report, feedback --------------------------------------------------------------
    @strawberry.mutation(description="Record a problem at one unit (individual) or several (common).")
    async def record_problem(self, info: Info, input: ProblemInput) -> ProblemInstancesResult:
        ctx = info.context

        async def act() -> ProblemRecorded:
            p, insts = await problems.record(
                ctx.session, ctx.principal, inspection_id=pid(input.inspection_id, "inspectionId"), title=input.title,
                description=input.description, category=input.category.value, source=input.source.value,
                severity=input.severity.value, agency_ids=[pid(a, f"agencyIds.{n}") for n, a in enumerate(input.agency_ids)],
                found_on=input.found_on)
            return ProblemRecorded(problem_id=strawberry.ID(str(p.id)), instances=[ProblemInstance.from_row(i) for i in insts])

        return await mutation.run(info, act)

    @strawberry.mutation(description="The team drafts (or redrafts) the report.")
    async def save_report_draft(self, info: Info, inspection_id: strawberry.ID, body: str) -> ReportResult:
        ctx = info.context

        async def act() -> ReportChanged:
            r = await reports.save_draft(ctx.session, ctx.principal, pid(inspection_id, "inspectionId"), body)
            return ReportChanged(inspection_id=inspection_id, status=r.status)

        return await mutation.run(info, act)

    @strawberry.mutation
    async def submit_report(self, info: Info, inspection_id: strawberry.ID) -> ReportResult:
        ctx = info.context

        async def act() -> ReportChanged:
            r = await reports.submit(ctx.session, ctx.principal, pid(inspection_id, "inspectionId"))
            return ReportChanged(inspection_id=inspection_id, status=r.status)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Approve the report: level OFFICE (the office leader), then COMMITTEE.")
    async def approve_report(self, info: Info, inspection_id: strawberry.ID, level: str, approve: bool = True,
                             reason: str | None = None) -> ReportResult:
        ctx = info.context

        async def act() -> ReportChanged:
            r = await reports.approve(ctx.session, ctx.principal, pid(inspection_id, "inspectionId"),
                                      level=level.lower(), approve=approve, reason=reason)
            return ReportChanged(inspection_id=inspection_id, status=r.status)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Feed back to one target its problem list and, where needed, a notice with a deadline.")
    async def issue_feedback(self, info: Info, inspection_id: strawberry.ID, agency_id: strawberry.ID,
                             notice_required: bool, notice_working_days: int | None = None, summary: str = "",
                             today: dt.date | None = None) -> FeedbackResult:
        ctx = info.context

        async def act() -> Feedback:
            return Feedback.from_row(await reports.issue_feedback(
                ctx.session, ctx.principal, pid(inspection_id, "inspectionId"), agency_id=pid(agency_id, "agencyId"),
                notice_required=notice_required, notice_working_days=notice_working_days, summary=summary, today=today))

        return await mutation.run(info, act)

    # --- rectification -------------------------------------------------------------------------
    @strawberry.mutation(description="The target's liaison writes the plan: measures per problem.")
    async def save_rectification_plan(self, info: Info, feedback_id: strawberry.ID,
                                      measures: list[MeasureInput]) -> RectificationPlanResult:
        ctx = info.context

        async def act() -> RectificationPlan:
            items = [rectification.MeasureIn(instance_id=pid(mi.instance_id, f"measures.{n}.instanceId"),
                                              content=mi.content, responsible_person=mi.responsible_person, due_on=mi.due_on)
                     for n, mi in enumerate(measures)]
            return RectificationPlan.from_row(await rectification.save_plan(ctx.session, ctx.principal,
                                                                            pid(feedback_id, "feedbackId"), items))

        return await mutation.run(info, act)

    @strawberry.mutation
    async def submit_rectification_plan(self, info: Info, plan_id: strawberry.ID) -> RectificationPlanResult:
        ctx = info.context

        async def act() -> RectificationPlan:
            return RectificationPlan.from_row(await rectification.submit_plan(ctx.session, ctx.principal, pid(plan_id, "planId")))

        return await mutation.run(info, act)

    @strawberry.mutation(description="The unit's head approves its plan.")
    async def approve_rectification_plan(self, info: Info, plan_id: strawberry.ID) -> RectificationPlanResult:
        ctx = info.context

        async def act() -> RectificationPlan:
            return RectificationPlan.from_row(await rectification.approve_plan_as_head(ctx.session, ctx.principal,
                                                                                       pid(plan_id, "planId")))

        return await mutation.run(info, act)

    @strawberry.mutation(description="The inspecting office accepts the plan or returns it with reasons.")
    async def decide_rectification_plan(self, info: Info, plan_id: strawberry.ID, accept: bool,
                                        reason: str | None = None) -> RectificationPlanResult:
        ctx = info.context

        async def act() -> RectificationPlan:
            return RectificationPlan.from_row(await rectification.decide_plan(ctx.session, ctx.principal, pid(plan_id, "planId"),
                                                                              accept=accept, reason=reason))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Report progress on a measure (completes=true marks it done).")
    async def report_progress(self, info: Info, measure_id: strawberry.ID, body: str, completes: bool = False) -> MeasureResult:
        ctx = info.context

        async def act() -> Measure:
            from sqlalchemy import select

            from ducha.services.models import Measure as MeasureRow

            mid = pid(measure_id, "measureId")
            await rectification.report_progress(ctx.session, ctx.principal, mid, body=body, completes=completes)
            row = (await ctx.session.execute(select(MeasureRow).where(MeasureRow.id == mid))).scalar_one()
            return Measure.from_row(row)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Upload evidence (base64) for a problem instance; versioned per slot.")
    async def add_evidence(self, info: Info, input: EvidenceInput) -> EvidenceResult:
        ctx = info.context

        async def act() -> Evidence:
            data = _b64(input.content_base64, "contentBase64")
            ev = await rectification.add_evidence(
                ctx.session, ctx.principal, pid(input.instance_id, "instanceId"), slot=input.slot, name=input.name,
                content_type=input.content_type, data=data,
                measure_id=pid(input.measure_id, "measureId") if input.measure_id else None)
            from ducha.services.files import StoredFile

            f = await ctx.session.get(StoredFile, (ev.tenant_id, ev.file_id))
            return Evidence(id=strawberry.ID(str(ev.id)), slot=ev.slot, version=ev.version, frozen=ev.frozen,
                            sha256=f.sha256, name=f.name, size_bytes=f.size_bytes)

        return await mutation.run(info, act)

    # --- acceptance and look-back --------------------------------------------------------------
    @strawberry.mutation(description="The unit asks for acceptance once every measure is completed.")
    async def request_acceptance(self, info: Info, instance_id: strawberry.ID) -> ProblemInstanceChange:
        ctx = info.context

        async def act() -> ProblemInstance:
            return ProblemInstance.from_row(await acceptance.request(ctx.session, ctx.principal, pid(instance_id, "instanceId")))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Sign the current acceptance step (round/step as seen); PASS or REJECT.")
    async def sign_acceptance(self, info: Info, instance_id: strawberry.ID, round: int, step: int, decision: str,
                              comment: str = "") -> SignoffResult:
        ctx = info.context

        async def act() -> AcceptanceSigned:
            iid = pid(instance_id, "instanceId")
            s = await acceptance.sign(ctx.session, ctx.principal, iid, round=round, step=step,
                                      decision=decision.lower(), comment=comment)
            inst = await problems.get_instance(ctx.session, iid)
            return AcceptanceSigned(
                signoff=Signoff(id=strawberry.ID(str(s.id)), round=s.round, step=s.step, step_name=s.step_name,
                                decision=s.decision, comment=s.comment, evidence_sha256=list(s.evidence_sha256),
                                signed_at=s.signed_at or dt.datetime.now(dt.UTC)),
                instance=ProblemInstance.from_row(inst))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Configure the tenant's acceptance chain (rounds started later use it).")
    async def set_acceptance_chain(self, info: Info, tenant_id: strawberry.ID, steps: list[AcceptanceStepInput]) -> ChainResult:
        ctx = info.context

        async def act() -> AcceptanceChainSteps:
            out = await acceptance.set_chain(ctx.session, ctx.principal, pid(tenant_id, "tenantId"),
                                             [{"name": s.name, "label": s.label, "role": s.role, "side": s.side} for s in steps])
            return AcceptanceChainSteps(steps=out)

        return await mutation.run(info, act)

    @strawberry.mutation(description="回头看: a follow-up inspection of chosen problems of an inspection.")
    async def create_lookback(self, info: Info, inspection_id: strawberry.ID, title: str, instance_ids: list[strawberry.ID],
                              reason: str) -> LookbackResult:
        ctx = info.context

        async def act() -> LookbackCreated:
            from sqlalchemy import select

            from ducha.services.models import LookbackItem as Row

            lb = await lookback.create(ctx.session, ctx.principal, original_inspection_id=pid(inspection_id, "inspectionId"),
                                       title=title, instance_ids=[pid(i, f"instanceIds.{n}") for n, i in enumerate(instance_ids)],
                                       reason=reason.lower())
            items = (await ctx.session.execute(select(Row).where(Row.tenant_id == lb.tenant_id, Row.inspection_id == lb.id)
                                               .order_by(Row.id))).scalars()
            return LookbackCreated(inspection=_inst(lb), items=[LookbackItem.from_row(i) for i in items])

        return await mutation.run(info, act)

    @strawberry.mutation(description="The look-back's finding for one problem: CONFIRMED or REBOUND (reopens it).")
    async def record_lookback_outcome(self, info: Info, item_id: strawberry.ID, outcome: str,
                                      comment: str = "") -> LookbackItemResult:
        ctx = info.context

        async def act() -> LookbackItem:
            i = await lookback.record_outcome(ctx.session, ctx.principal, pid(item_id, "itemId"), outcome=outcome.lower(),
                                              comment=comment)
            return LookbackItem.from_row(i)

        return await mutation.run(info, act)
