"""Inspections (003 art. 6-26): kinds and forms, off-plan approval, the work plan, targets,
the team from the inspector pool, unannounced visits, team notes and self-inspection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, calendar_store, workdays
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, TransitionError
from ducha.services.models import (
    AnnualPlan, Inspection, InspectionTarget, Inspector, InspectorTraining, PlanItem, SelfInspection, TeamMember,
    TeamNote, UnannouncedVisit, WorkPlan,
)
from ducha.services.vocab import INSPECTION_FORMS, INSPECTION_KINDS, INSPECTOR_CATEGORIES, INVITED_CATEGORIES, METHODS, utcnow
from ducha.tenants.models import Agency
from ducha.tenants.principal import Principal

# art. 15 and 17: off-plan inspections and work plans are approved by the office's leader (a team
# leader also holds "approve inspection", for the team's own matters such as unannounced visits)
OFFICE_LEADERS = frozenset({"office_leader"})
STARTED = ("in_progress", "reporting", "feedback", "rectification", "closed")


def _text(field: str, value: str, limit: int = 300) -> str:
    v = (value or "").strip()
    if not v or len(v) > limit:
        raise InvalidInput(field, f"1-{limit} characters")
    if any(ord(c) < 32 and c not in "\n\t\r" for c in v):
        raise InvalidInput(field, "control characters are not allowed")
    return v


async def get(session: AsyncSession, inspection_id: int, *, lock: bool = False) -> Inspection:
    return await access.load(session, select(Inspection).where(Inspection.id == inspection_id), "Inspection",
                             inspection_id, lock=lock)


async def _log(session: AsyncSession, principal: Principal, insp: Inspection, action: str, before: dict | None) -> None:
    await audit.record(session, tenant_id=insp.tenant_id, actor_id=principal.user_id, action=action,
                       subject_type="inspection", subject_id=insp.id, before=before, after=audit.snapshot(insp))


async def create(
    session: AsyncSession, principal: Principal, *, tenant_id: int, title: str, kind: str, form: str, year: int,
    plan_item_id: int | None = None, off_plan_reason: str | None = None, focus_area: str | None = None,
    joint_agency_id: int | None = None, starts_on: date | None = None, ends_on: date | None = None,
) -> Inspection:
    """A planned inspection (from an approved plan's item) or an off-plan one awaiting the leader."""
    path = await access.tenant_path(session, tenant_id, given=True)
    access.require(principal, "create", "inspection", path)
    if kind not in INSPECTION_KINDS or kind == "lookback":
        raise InvalidInput("kind", f"unknown inspection kind {kind!r}")
    if form not in INSPECTION_FORMS:
        raise InvalidInput("form", f"unknown inspection form {form!r}")
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidInput("endsOn", "ends before it starts")
    if kind == "joint":
        if joint_agency_id is None:
            raise InvalidInput("jointAgencyId", "a joint inspection names the discipline commission or inspection-tour office")
        partner = await access.agency(session, joint_agency_id)
        if partner.kind not in ("discipline", "inspection_tour"):
            raise InvalidInput("jointAgencyId", "joint inspections run with the discipline commission or inspection-tour office")
    off_plan = "not_needed"
    if plan_item_id is not None:
        item = (await session.execute(select(PlanItem, AnnualPlan.status, AnnualPlan.year).join(
            AnnualPlan, (AnnualPlan.tenant_id == PlanItem.tenant_id) & (AnnualPlan.id == PlanItem.plan_id)).where(
            PlanItem.id == plan_item_id, PlanItem.tenant_id == tenant_id))).first()
        if item is None:
            raise NotFoundError("PlanItem", str(plan_item_id))
        if item.status != "approved":
            raise TransitionError(item.status, "start from the plan", "the annual plan is not approved yet")
        if item.year != year:
            raise InvalidInput("year", f"the plan item belongs to the {item.year} plan")
    else:
        off_plan = "pending"
        off_plan_reason = _text("offPlanReason", off_plan_reason or "", 2000)
    insp = Inspection(
        tenant_id=tenant_id, year=year, title=_text("title", title), kind=kind, form=form, focus_area=focus_area,
        plan_item_id=plan_item_id, off_plan_status=off_plan, off_plan_reason=off_plan_reason,
        joint_agency_id=joint_agency_id, starts_on=starts_on, ends_on=ends_on, created_by=principal.user_id,
    )
    session.add(insp)
    await session.flush()
    await _log(session, principal, insp, "inspection.create", None)
    return insp


async def decide_off_plan(session: AsyncSession, principal: Principal, inspection_id: int, *, approve: bool) -> Inspection:
    """003 art. 15: an inspection outside the plan starts only after the leader approves it."""
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "approve", "inspection", await access.tenant_path(session, insp.tenant_id),
                   roles=OFFICE_LEADERS)
    if insp.off_plan_status != "pending":
        raise TransitionError(insp.off_plan_status, "decide off-plan approval")
    before = audit.snapshot(insp)
    insp.off_plan_status = "approved" if approve else "rejected"
    if not approve:
        insp.status = "cancelled"
    await session.flush()
    await _log(session, principal, insp, "inspection.off_plan." + ("approve" if approve else "reject"), before)
    return insp


async def add_targets(session: AsyncSession, principal: Principal, inspection_id: int, agency_ids: Sequence[int]) -> list[InspectionTarget]:
    """Targets are agencies anywhere below the office's region, lower tenants' units included."""
    insp = await get(session, inspection_id, lock=True)
    path = await access.tenant_path(session, insp.tenant_id)
    access.require(principal, "update", "inspection", path)
    if insp.status not in ("draft", "work_plan_submitted", "approved"):
        raise TransitionError(insp.status, "add targets")
    if not agency_ids:
        raise InvalidInput("agencyIds", "name at least one target")
    out = []
    for i, aid in enumerate(dict.fromkeys(agency_ids)):
        a = await session.get(Agency, aid)
        if a is None or not (a.region_path + "/").startswith(path + "/"):
            raise InvalidInput(f"agencyIds.{i}", "a target must be an agency in the office's region")
        exists = (await session.execute(select(InspectionTarget.id).where(
            InspectionTarget.tenant_id == insp.tenant_id, InspectionTarget.inspection_id == insp.id,
            InspectionTarget.agency_id == aid))).first()
        if exists:
            continue
        t = InspectionTarget(tenant_id=insp.tenant_id, inspection_id=insp.id, agency_id=aid, target_tenant_id=a.tenant_id)
        session.add(t)
        out.append(t)
    await session.flush()
    return out


async def targets(session: AsyncSession, inspection: Inspection) -> list[InspectionTarget]:
    return list((await session.execute(select(InspectionTarget).where(
        InspectionTarget.tenant_id == inspection.tenant_id, InspectionTarget.inspection_id == inspection.id,
    ).order_by(InspectionTarget.id))).scalars())


async def save_work_plan(
    session: AsyncSession, principal: Principal, inspection_id: int, *, project: str, reason: str, legal_basis: str,
    methods: Sequence[str], focus: str = "", schedule: str = "",
) -> WorkPlan:
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "update", "inspection", await access.tenant_path(session, insp.tenant_id))
    if insp.status not in ("draft",):
        raise TransitionError(insp.status, "edit the work plan")
    for i, m in enumerate(methods):
        if m not in METHODS:
            raise InvalidInput(f"methods.{i}", f"unknown method {m!r}")
    wp = await session.get(WorkPlan, (insp.tenant_id, insp.id))
    fields = dict(project=_text("project", project), reason=_text("reason", reason, 4000),
                  legal_basis=_text("legalBasis", legal_basis, 2000), methods=list(methods), focus=focus, schedule=schedule)
    if wp is None:
        wp = WorkPlan(tenant_id=insp.tenant_id, inspection_id=insp.id, **fields)
        session.add(wp)
    else:
        for k, v in fields.items():
            setattr(wp, k, v)
        wp.status = "draft"
    await session.flush()
    return wp


async def submit_work_plan(session: AsyncSession, principal: Principal, inspection_id: int) -> Inspection:
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "submit", "inspection", await access.tenant_path(session, insp.tenant_id))
    if insp.status != "draft":
        raise TransitionError(insp.status, "submit the work plan")
    wp = await session.get(WorkPlan, (insp.tenant_id, insp.id))
    if wp is None:
        raise InvalidInput("workPlan", "write the work plan first")
    if not await targets(session, insp):
        raise InvalidInput("targets", "name the targets first")
    before = audit.snapshot(insp)
    wp.status, insp.status = "submitted", "work_plan_submitted"
    await session.flush()
    await _log(session, principal, insp, "inspection.work_plan.submit", before)
    return insp


async def decide_work_plan(session: AsyncSession, principal: Principal, inspection_id: int, *, approve: bool,
                           reason: str | None = None) -> Inspection:
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "approve", "inspection", await access.tenant_path(session, insp.tenant_id),
                   roles=OFFICE_LEADERS)
    if insp.status != "work_plan_submitted":
        raise TransitionError(insp.status, "approve the work plan" if approve else "return the work plan")
    if not approve and not (reason or "").strip():
        raise InvalidInput("reason", "a returned work plan needs the reasons")
    wp = await session.get(WorkPlan, (insp.tenant_id, insp.id))
    assert wp is not None
    before = audit.snapshot(insp)
    wp.status = "approved" if approve else "returned"
    wp.return_reason = None if approve else reason
    wp.decided_by, wp.decided_at = principal.user_id, utcnow()
    insp.status = "approved" if approve else "draft"
    await session.flush()
    await _log(session, principal, insp, "inspection.work_plan." + ("approve" if approve else "return"), before)
    return insp


async def start(session: AsyncSession, principal: Principal, inspection_id: int) -> Inspection:
    """Work starts only with an approved work plan, a team leader and, off plan, the leader's approval."""
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "update", "inspection", await access.tenant_path(session, insp.tenant_id))
    if insp.status != "approved":
        raise TransitionError(insp.status, "start", "the work plan is not approved")
    if insp.off_plan_status == "pending":
        raise TransitionError("off_plan_pending", "start", "an inspection outside the plan needs the leader's approval first")
    if insp.off_plan_status == "rejected":
        raise TransitionError("off_plan_rejected", "start")
    leader = (await session.execute(select(TeamMember.id).where(
        TeamMember.tenant_id == insp.tenant_id, TeamMember.inspection_id == insp.id, TeamMember.is_leader))).first()
    if leader is None:
        raise InvalidInput("team", "name the team leader first")
    before = audit.snapshot(insp)
    insp.status = "in_progress"
    await session.flush()
    await _log(session, principal, insp, "inspection.start", before)
    return insp


# --- inspector pool and teams ---------------------------------------------------------------


async def add_inspector(session: AsyncSession, principal: Principal, *, tenant_id: int, name: str, category: str,
                        agency_id: int | None = None, user_id: int | None = None, term_start: date | None = None,
                        term_end: date | None = None) -> Inspector:
    access.require(principal, "create", "inspector", await access.tenant_path(session, tenant_id, given=True))
    if category not in INSPECTOR_CATEGORIES:
        raise InvalidInput("category", f"unknown inspector category {category!r}")
    if term_start and term_end and term_end < term_start:
        raise InvalidInput("termEnd", "the term ends before it starts")
    ins = Inspector(tenant_id=tenant_id, name=_text("name", name, 100), category=category, agency_id=agency_id,
                    user_id=user_id, term_start=term_start, term_end=term_end)
    session.add(ins)
    await session.flush()
    return ins


async def add_training(session: AsyncSession, principal: Principal, inspector_id: int, *, title: str, held_on: date,
                       hours: float) -> InspectorTraining:
    ins = (await session.execute(select(Inspector).where(Inspector.id == inspector_id))).scalar_one_or_none()
    if ins is None:
        raise NotFoundError("Inspector", str(inspector_id))
    access.require(principal, "update", "inspector", await access.tenant_path(session, ins.tenant_id))
    if hours < 0 or hours > 1000:
        raise InvalidInput("hours", "0-1000 hours")
    t = InspectorTraining(tenant_id=ins.tenant_id, inspector_id=ins.id, title=_text("title", title), held_on=held_on,
                          hours=hours)
    session.add(t)
    await session.flush()
    return t


async def add_team_member(session: AsyncSession, principal: Principal, inspection_id: int, *,
                          inspector_id: int | None = None, invited_name: str | None = None,
                          invited_category: str | None = None, is_leader: bool = False) -> TeamMember:
    """A member from the pool, or an invited one (deputy, CPPCC member, expert, lawyer, journalist, public)."""
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "create", "team", await access.tenant_path(session, insp.tenant_id))
    if insp.status in ("closed", "cancelled"):
        raise TransitionError(insp.status, "change the team")
    user_id = None
    if inspector_id is not None:
        if invited_name or invited_category:
            raise InvalidInput("invitedName", "a member is from the pool or invited, not both")
        ins = (await session.execute(select(Inspector).where(Inspector.id == inspector_id,
                                                             Inspector.tenant_id == insp.tenant_id))).scalar_one_or_none()
        if ins is None:
            raise NotFoundError("Inspector", str(inspector_id))
        if not ins.active:
            raise InvalidInput("inspectorId", "the inspector is not active")
        if ins.term_end is not None and ins.term_end < calendar_store.today():
            raise InvalidInput("inspectorId", f"the inspector's term ended on {ins.term_end.isoformat()}")
        user_id = ins.user_id
    else:
        if invited_category not in INVITED_CATEGORIES:
            raise InvalidInput("invitedCategory", "an invited member is a deputy, CPPCC member, expert, lawyer, journalist or public representative")
        invited_name = _text("invitedName", invited_name or "", 100)
        if is_leader:
            raise InvalidInput("isLeader", "the team leader comes from the inspector pool")
    if is_leader:
        existing = (await session.execute(select(TeamMember.id).where(
            TeamMember.tenant_id == insp.tenant_id, TeamMember.inspection_id == insp.id, TeamMember.is_leader))).first()
        if existing:
            raise ConflictError("the team has a leader already")
    if inspector_id is not None:
        dup = (await session.execute(select(TeamMember.id).where(
            TeamMember.tenant_id == insp.tenant_id, TeamMember.inspection_id == insp.id,
            TeamMember.inspector_id == inspector_id))).first()
        if dup:
            raise ConflictError("the inspector is on the team already")
    m = TeamMember(tenant_id=insp.tenant_id, inspection_id=insp.id, inspector_id=inspector_id,
                   invited_name=invited_name if inspector_id is None else None,
                   invited_category=invited_category if inspector_id is None else None, is_leader=is_leader,
                   user_id=user_id)
    session.add(m)
    await session.flush()
    return m


async def team(session: AsyncSession, inspection: Inspection) -> list[TeamMember]:
    return list((await session.execute(select(TeamMember).where(
        TeamMember.tenant_id == inspection.tenant_id, TeamMember.inspection_id == inspection.id).order_by(
        TeamMember.is_leader.desc(), TeamMember.id))).scalars())


async def record_unannounced_visit(session: AsyncSession, principal: Principal, inspection_id: int, *, place: str,
                                   planned_on: date, staff_member_ids: Sequence[int], record: str = "") -> UnannouncedVisit:
    """暗访 (art. 22): approved by this team's leader, carried out by at least two of the team's staff
    (督察组工作人员: members from the pool; invited deputies, experts or journalists are not staff)."""
    insp = await get(session, inspection_id)
    path = await access.tenant_path(session, insp.tenant_id)
    access.require(principal, "approve", "team", path)
    members = await team(session, insp)
    leader = next((m for m in members if m.is_leader), None)
    if leader is None or leader.user_id != principal.user_id:
        from ducha.policies.authz import NotAllowed

        raise NotAllowed("approve", "unannounced_visit", path, user_id=principal.user_id, roles=principal.roles)
    if insp.status not in ("approved", "in_progress"):
        raise TransitionError(insp.status, "record an unannounced visit")
    staff = list(dict.fromkeys(staff_member_ids))
    if len(staff) < 2:
        raise InvalidInput("staffMemberIds", "an unannounced visit needs at least two staff")
    by_id = {m.id: m for m in members}
    for i, sid in enumerate(staff):
        if sid not in by_id:
            raise InvalidInput(f"staffMemberIds.{i}", "not a member of this team")
        if by_id[sid].inspector_id is None:
            raise InvalidInput(f"staffMemberIds.{i}", "an invited member is not one of the team's staff")
    v = UnannouncedVisit(tenant_id=insp.tenant_id, inspection_id=insp.id, place=_text("place", place),
                         planned_on=planned_on, staff_member_ids=staff, approved_by=principal.user_id, record=record)
    session.add(v)
    await session.flush()
    await audit.record(session, tenant_id=insp.tenant_id, actor_id=principal.user_id, action="inspection.unannounced_visit",
                       subject_type="unannounced_visit", subject_id=v.id, before=None, after=audit.snapshot(v))
    return v


async def add_note(session: AsyncSession, principal: Principal, inspection_id: int, body: str) -> TeamNote:
    insp = await get(session, inspection_id)
    access.require(principal, "update", "inspection", await access.tenant_path(session, insp.tenant_id))
    n = TeamNote(tenant_id=insp.tenant_id, inspection_id=insp.id, body=_text("body", body, 20000), author_id=principal.user_id)
    session.add(n)
    await session.flush()
    return n


# --- self-inspection (书面督察: the target inspects itself and reports by a deadline) -------


async def request_self_inspections(session: AsyncSession, principal: Principal, inspection_id: int, *,
                                   working_days: int, today: date | None = None) -> list[SelfInspection]:
    insp = await get(session, inspection_id, lock=True)
    access.require(principal, "update", "inspection", await access.tenant_path(session, insp.tenant_id))
    if insp.form not in ("written", "both"):
        raise TransitionError(insp.form, "request self-inspection", "only written inspections request self-inspection")
    if insp.status not in ("approved", "in_progress"):
        raise TransitionError(insp.status, "request self-inspection")
    if not 1 <= working_days <= 120:
        raise InvalidInput("workingDays", "1-120 working days")
    today = today or calendar_store.today()
    due, provisional = await workdays.add_working_days(session, today, working_days)
    out = []
    for t in await targets(session, insp):
        exists = (await session.execute(select(SelfInspection.id).where(
            SelfInspection.tenant_id == insp.tenant_id, SelfInspection.inspection_id == insp.id,
            SelfInspection.agency_id == t.agency_id))).first()
        if exists:
            continue
        si = SelfInspection(tenant_id=insp.tenant_id, inspection_id=insp.id, agency_id=t.agency_id,
                            target_tenant_id=t.target_tenant_id, requested_on=today, due_on=due,
                            due_provisional=provisional)
        session.add(si)
        out.append(si)
    await session.flush()
    from ducha.services import hooks

    for si in out:
        await hooks.deadline_opened(session, tenant_id=si.tenant_id, subject_type="self_inspection", subject_id=si.id,
                                    agency_id=si.agency_id, due_on=si.due_on, provisional=si.due_provisional,
                                    title=f"自查报告：{insp.title}", basis_on=today, rule_days=working_days)
    return out


async def submit_self_inspection(session: AsyncSession, principal: Principal, self_inspection_id: int, *,
                                 content: str, now_date: date | None = None,
                                 files: Sequence[tuple[str, str, bytes]] = ()) -> SelfInspection:
    """The target's report with its attachments (name, content type, bytes); late ones are marked."""
    si = await access.load(session, select(SelfInspection).where(SelfInspection.id == self_inspection_id),
                           "SelfInspection", self_inspection_id, lock=True)
    # the unit's own report: its liaison or head submits it, not an office above it
    access.require_for_agency(principal, "submit", "inspection", await access.agency(session, si.agency_id),
                              roles=frozenset({"agency_liaison", "agency_leader"}))
    if si.submitted_at is not None:
        raise TransitionError("submitted", "submit", "the self-inspection report is in already")
    before = audit.snapshot(si)
    si.content = _text("content", content, 100_000)
    if len(files) > 20:
        raise InvalidInput("files", "at most 20 attachments")
    from ducha.services import files as file_store

    stored = []
    for n, (name, ctype, data) in enumerate(files):
        try:
            f = await file_store.store(session, tenant_id=si.tenant_id, uploaded_by=principal.user_id, name=name,
                                       content_type=ctype, data=data, agency_id=si.agency_id,
                                       target_tenant_id=si.target_tenant_id)
        except InvalidInput as e:
            raise InvalidInput(f"files.{n}.{e.field}", e.message) from None
        stored.append(f.id)
    si.file_ids = stored
    si.submitted_at, si.submitted_by = utcnow(), principal.user_id
    si.late = (now_date or calendar_store.today()) > si.due_on
    await session.flush()
    await audit.record(session, tenant_id=si.tenant_id, actor_id=principal.user_id, action="self_inspection.submit",
                       subject_type="self_inspection", subject_id=si.id, before=before, after=audit.snapshot(si))
    from ducha.services import hooks

    await hooks.deadline_closed(session, tenant_id=si.tenant_id, subject_type="self_inspection", subject_id=si.id)
    return si
