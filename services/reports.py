"""The report (督察报告, art. 27-28) and feedback: drafted by the team, approved by the
office, then the committee; then each target gets its own problem list and, where needed,
a rectification notice with a deadline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, calendar_store, hooks, inspections, workdays
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.services.models import Feedback, InspectionTarget, Problem, ProblemInstance, Report
from ducha.tenants.principal import Principal

OFFICE_APPROVERS = frozenset({"office_leader"})
COMMITTEE_APPROVERS = frozenset({"committee_member"})


async def _report(session: AsyncSession, inspection_id: int) -> Report:
    return await access.load(session, select(Report).where(Report.inspection_id == inspection_id), "Report",
                             inspection_id, lock=True)


async def save_draft(session: AsyncSession, principal: Principal, inspection_id: int, body: str) -> Report:
    insp = await inspections.get(session, inspection_id, lock=True)
    access.require(principal, "create", "report", await access.tenant_path(session, insp.tenant_id))
    if insp.status not in ("in_progress", "reporting"):
        raise TransitionError(insp.status, "draft the report")
    body = inspections._text("body", body, 200_000)
    r = await session.get(Report, (insp.tenant_id, insp.id))
    if r is None:
        r = Report(tenant_id=insp.tenant_id, inspection_id=insp.id, body=body, drafted_by=principal.user_id)
        session.add(r)
    elif r.status in ("draft", "returned"):
        r.body, r.status, r.drafted_by = body, "draft", principal.user_id
    else:
        raise TransitionError(r.status, "edit the report")
    before = audit.snapshot(insp) if insp.status == "in_progress" else None
    if insp.status == "in_progress":
        insp.status = "reporting"
    await session.flush()
    if before is not None:  # the inspection's state changed: it is in the log like every other change
        await audit.record(session, tenant_id=insp.tenant_id, actor_id=principal.user_id, action="inspection.reporting",
                           subject_type="inspection", subject_id=insp.id, before=before, after=audit.snapshot(insp))
    return r


async def submit(session: AsyncSession, principal: Principal, inspection_id: int) -> Report:
    r = await _report(session, inspection_id)
    access.require(principal, "submit", "report", await access.tenant_path(session, r.tenant_id))
    if r.status not in ("draft", "returned"):
        raise TransitionError(r.status, "submit the report")
    before = audit.snapshot(r)
    r.status = "submitted"
    await session.flush()
    await audit.record(session, tenant_id=r.tenant_id, actor_id=principal.user_id, action="report.submit",
                       subject_type="report", subject_id=r.inspection_id, before=before, after=audit.snapshot(r))
    return r


async def approve(session: AsyncSession, principal: Principal, inspection_id: int, *, level: str,
                  approve: bool = True, reason: str | None = None) -> Report:
    """level 'office' (the office leader) then 'committee' (a committee member); or return it."""
    r = await _report(session, inspection_id)
    path = await access.tenant_path(session, r.tenant_id)
    if level == "office":
        access.require(principal, "approve", "report", path, roles=OFFICE_APPROVERS)
        expected, to = "submitted", "office_approved"
    elif level == "committee":
        access.require(principal, "approve", "report", path, roles=COMMITTEE_APPROVERS)
        expected, to = "office_approved", "committee_approved"
    else:
        raise InvalidInput("level", "office or committee")
    if r.status != expected:
        raise TransitionError(r.status, f"{level} approval")
    if not approve and not (reason or "").strip():
        raise InvalidInput("reason", "a returned report needs the reasons")
    before = audit.snapshot(r)
    if approve:
        r.status = to
        if level == "office":
            r.office_approved_by = principal.user_id
        else:
            r.committee_approved_by = principal.user_id
    else:
        r.status, r.return_reason = "returned", reason
    await session.flush()
    await audit.record(session, tenant_id=r.tenant_id, actor_id=principal.user_id,
                       action=f"report.{level}." + ("approve" if approve else "return"), subject_type="report",
                       subject_id=r.inspection_id, before=before, after=audit.snapshot(r))
    return r


async def issue_feedback(
    session: AsyncSession, principal: Principal, inspection_id: int, *, agency_id: int, notice_required: bool,
    notice_working_days: int | None = None, summary: str = "", today: date | None = None,
) -> Feedback:
    """Feed back to one target its own problem list and, where needed, a rectification notice."""
    insp = await inspections.get(session, inspection_id, lock=True)
    access.require(principal, "create", "rectification", await access.tenant_path(session, insp.tenant_id))
    r = await session.get(Report, (insp.tenant_id, insp.id))
    if r is None or r.status != "committee_approved":
        raise TransitionError(r.status if r else "no_report", "issue feedback", "the report is not approved by the committee yet")
    if insp.status not in ("reporting", "feedback", "rectification"):
        raise TransitionError(insp.status, "issue feedback")
    target = (await session.execute(select(InspectionTarget).where(
        InspectionTarget.tenant_id == insp.tenant_id, InspectionTarget.inspection_id == insp.id,
        InspectionTarget.agency_id == agency_id))).scalar_one_or_none()
    if target is None:
        raise InvalidInput("agencyId", "not a target of this inspection")
    exists = (await session.execute(select(Feedback.id).where(
        Feedback.tenant_id == insp.tenant_id, Feedback.inspection_id == insp.id, Feedback.agency_id == agency_id))).first()
    if exists:
        raise TransitionError("fed_back", "issue feedback", "this target has its feedback already")
    due, provisional = None, False
    if notice_required:
        if notice_working_days is None or not 1 <= notice_working_days <= 250:
            raise InvalidInput("noticeWorkingDays", "a rectification notice needs a deadline of 1-250 working days")
        due, provisional = await workdays.add_working_days(session, today or calendar_store.today(), notice_working_days)
    fb = Feedback(tenant_id=insp.tenant_id, inspection_id=insp.id, agency_id=agency_id,
                  target_tenant_id=target.target_tenant_id, issued_by=principal.user_id, notice_required=notice_required,
                  notice_due_on=due, notice_due_provisional=provisional, summary=summary[:20000])
    session.add(fb)
    await session.flush()
    problem_ids = select(Problem.id).where(Problem.tenant_id == insp.tenant_id, Problem.inspection_id == insp.id)
    found = (await session.execute(
        select(ProblemInstance)
        .where(ProblemInstance.tenant_id == insp.tenant_id, ProblemInstance.agency_id == agency_id,
               ProblemInstance.problem_id.in_(problem_ids), ProblemInstance.status == "found")
        .with_for_update()
    )).scalars().all()
    for inst in found:
        inst.status, inst.feedback_id, inst.due_on = "notified", fb.id, due
    insp.status = "feedback" if insp.status == "reporting" else insp.status
    await session.flush()
    await audit.record(session, tenant_id=fb.tenant_id, actor_id=principal.user_id, action="feedback.issue",
                       subject_type="feedback", subject_id=fb.id, before=None, after=audit.snapshot(fb))
    if notice_required and due is not None:
        await hooks.deadline_opened(session, tenant_id=fb.tenant_id, subject_type="rectification_notice",
                                    subject_id=fb.id, agency_id=agency_id, due_on=due, provisional=provisional,
                                    title=f"整改通知：{insp.title}", basis_on=today or calendar_store.today(),
                                    rule_days=notice_working_days or 0)
    return fb


async def feedback_instances(session: AsyncSession, fb: Feedback) -> Sequence[ProblemInstance]:
    return (await session.execute(select(ProblemInstance).where(
        ProblemInstance.tenant_id == fb.tenant_id, ProblemInstance.feedback_id == fb.id).order_by(ProblemInstance.id))).scalars().all()
