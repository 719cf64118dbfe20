"""Rectification (整改, art. 29): the target's plan (measures per problem, each with a
responsible person and deadline), submitted by its liaison, approved by its head, accepted
or returned by the office; progress with evidence; then the request for acceptance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, hooks, inspections
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.services.models import Feedback, Measure, ProblemInstance, ProgressUpdate, RectificationPlan
from ducha.services.vocab import utcnow
from ducha.tenants.principal import Principal


@dataclass(frozen=True)
class MeasureIn:
    instance_id: int
    content: str
    responsible_person: str
    due_on: date


async def _feedback(session: AsyncSession, feedback_id: int) -> Feedback:
    fb = (await session.execute(select(Feedback).where(Feedback.id == feedback_id))).scalar_one_or_none()
    if fb is None:
        raise NotFoundError("Feedback", str(feedback_id))
    return fb


async def get_plan(session: AsyncSession, plan_id: int) -> RectificationPlan:
    return await access.load(session, select(RectificationPlan).where(RectificationPlan.id == plan_id),
                             "RectificationPlan", plan_id, lock=True)


async def measures_of(session: AsyncSession, plan: RectificationPlan) -> Sequence[Measure]:
    return (await session.execute(select(Measure).where(
        Measure.tenant_id == plan.tenant_id, Measure.plan_id == plan.id).order_by(Measure.id))).scalars().all()


async def save_plan(session: AsyncSession, principal: Principal, feedback_id: int, measures: Sequence[MeasureIn]) -> RectificationPlan:
    """The target's liaison writes (or rewrites, once returned) the plan: measures per problem."""
    fb = await _feedback(session, feedback_id)
    agency = await access.agency(session, fb.agency_id)
    access.require_for_agency(principal, "update", "rectification", agency)
    if not fb.notice_required:
        raise TransitionError("no_notice", "write a rectification plan", "this feedback carries no rectification notice")
    plan = (await session.execute(select(RectificationPlan).where(
        RectificationPlan.tenant_id == fb.tenant_id, RectificationPlan.feedback_id == fb.id).with_for_update())).scalar_one_or_none()
    if plan is not None and plan.status not in ("draft", "returned"):
        raise TransitionError(plan.status, "change the plan")
    instances = {i.id: i for i in (await session.execute(select(ProblemInstance).where(
        ProblemInstance.tenant_id == fb.tenant_id, ProblemInstance.feedback_id == fb.id))).scalars()}
    if not measures:
        raise InvalidInput("measures", "a plan has at least one measure")
    for n, m in enumerate(measures):
        if m.instance_id not in instances:
            raise InvalidInput(f"measures.{n}.instanceId", "not a problem of this notice")
        inspections._text(f"measures.{n}.content", m.content, 4000)
        inspections._text(f"measures.{n}.responsiblePerson", m.responsible_person, 100)
        if fb.notice_due_on and m.due_on > fb.notice_due_on:
            raise InvalidInput(f"measures.{n}.dueOn", f"after the notice's deadline {fb.notice_due_on.isoformat()}")
    missing = set(instances) - {m.instance_id for m in measures}
    if missing:
        raise InvalidInput("measures", f"every problem needs a measure; missing problem instance(s) {sorted(missing)}")
    if plan is None:
        plan = RectificationPlan(tenant_id=fb.tenant_id, feedback_id=fb.id, agency_id=fb.agency_id,
                                 target_tenant_id=fb.target_tenant_id)
        session.add(plan)
        await session.flush()
    else:
        before = audit.snapshot(plan)
        for old in await measures_of(session, plan):
            await session.delete(old)
        plan.status = "draft"
        if before["status"] != "draft":  # a returned plan is being rewritten: a state change
            await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id,
                               action="rectification.plan.redraft", subject_type="rectification_plan",
                               subject_id=plan.id, before=before, after=audit.snapshot(plan))
    for m in measures:
        session.add(Measure(tenant_id=plan.tenant_id, plan_id=plan.id, instance_id=m.instance_id, agency_id=plan.agency_id,
                            target_tenant_id=plan.target_tenant_id, content=m.content.strip(),
                            responsible_person=m.responsible_person.strip(), due_on=m.due_on))
    await session.flush()
    return plan


async def submit_plan(session: AsyncSession, principal: Principal, plan_id: int) -> RectificationPlan:
    plan = await get_plan(session, plan_id)
    # an office may help draft a unit's plan, but submitting it is the unit's own act
    access.require_for_agency(principal, "submit", "rectification", await access.agency(session, plan.agency_id),
                              roles=frozenset({"agency_liaison", "agency_leader"}))
    if plan.status not in ("draft", "returned"):
        raise TransitionError(plan.status, "submit the plan")
    before = audit.snapshot(plan)
    plan.status, plan.submitted_by = "submitted", principal.user_id
    await session.flush()
    await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id, action="rectification.plan.submit",
                       subject_type="rectification_plan", subject_id=plan.id, before=before, after=audit.snapshot(plan))
    return plan


async def approve_plan_as_head(session: AsyncSession, principal: Principal, plan_id: int) -> RectificationPlan:
    """The unit's head approves its own plan before the office sees it."""
    plan = await get_plan(session, plan_id)
    access.require_for_agency(principal, "approve", "rectification", await access.agency(session, plan.agency_id),
                              roles=frozenset({"agency_leader"}))
    if plan.status != "submitted":
        raise TransitionError(plan.status, "approve the plan as the unit's head")
    before = audit.snapshot(plan)
    plan.status, plan.leader_approved_by = "leader_approved", principal.user_id
    await session.flush()
    await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id, action="rectification.plan.head_approve",
                       subject_type="rectification_plan", subject_id=plan.id, before=before, after=audit.snapshot(plan))
    return plan


async def decide_plan(session: AsyncSession, principal: Principal, plan_id: int, *, accept: bool,
                      reason: str | None = None) -> RectificationPlan:
    """The inspecting office accepts the plan (rectification starts) or returns it with reasons."""
    plan = await get_plan(session, plan_id)
    fb = await _feedback(session, plan.feedback_id)
    access.require(principal, "decide", "rectification", await access.tenant_path(session, plan.tenant_id))
    if plan.status != "leader_approved":
        raise TransitionError(plan.status, "accept the plan" if accept else "return the plan")
    if not accept and not (reason or "").strip():
        raise InvalidInput("reason", "a returned plan needs the reasons")
    before = audit.snapshot(plan)
    plan.status = "accepted" if accept else "returned"
    plan.return_reason = None if accept else reason
    plan.decided_by = principal.user_id
    if accept:
        for inst in (await session.execute(select(ProblemInstance).where(
                ProblemInstance.tenant_id == plan.tenant_id, ProblemInstance.feedback_id == fb.id).with_for_update())).scalars():
            if inst.status == "notified":
                inst.status = "rectifying"
        insp = await inspections.get(session, fb.inspection_id, lock=True)
        if insp.status == "feedback":
            insp.status = "rectification"
    await session.flush()
    await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id,
                       action="rectification.plan." + ("accept" if accept else "return"),
                       subject_type="rectification_plan", subject_id=plan.id, before=before, after=audit.snapshot(plan))
    if accept:
        await hooks.deadline_closed(session, tenant_id=fb.tenant_id, subject_type="rectification_notice", subject_id=fb.id)
        for m in await measures_of(session, plan):
            await hooks.deadline_opened(session, tenant_id=m.tenant_id, subject_type="measure", subject_id=m.id,
                                        agency_id=m.agency_id, due_on=m.due_on, provisional=False,
                                        title=f"整改措施：{m.content[:40]}")
    return plan


async def report_progress(session: AsyncSession, principal: Principal, measure_id: int, *, body: str,
                          completes: bool = False) -> ProgressUpdate:
    m = await access.load(session, select(Measure).where(Measure.id == measure_id), "Measure", measure_id, lock=True)
    access.require_for_agency(principal, "update", "rectification", await access.agency(session, m.agency_id))
    plan = await get_plan(session, m.plan_id)
    if plan.status != "accepted":
        raise TransitionError(plan.status, "report progress", "progress is reported on an accepted plan")
    if m.completed_at is not None:
        raise TransitionError("completed", "report progress", "the measure is completed")
    u = ProgressUpdate(tenant_id=m.tenant_id, measure_id=m.id, agency_id=m.agency_id, target_tenant_id=m.target_tenant_id,
                       body=inspections._text("body", body, 20000), completes=completes, author_id=principal.user_id)
    session.add(u)
    if completes:
        m.completed_at = utcnow()
    await session.flush()
    await audit.record(session, tenant_id=m.tenant_id, actor_id=principal.user_id, action="rectification.progress",
                       subject_type="measure", subject_id=m.id, before=None, after=audit.snapshot(u))
    if completes:
        await hooks.deadline_closed(session, tenant_id=m.tenant_id, subject_type="measure", subject_id=m.id)
    return u


async def add_evidence(session: AsyncSession, principal: Principal, instance_id: int, *, slot: str, name: str,
                       content_type: str, data: bytes, measure_id: int | None = None):  # type: ignore[no-untyped-def]
    """Evidence for one problem instance, stored with its SHA-256 and versioned per slot."""
    from ducha.services import files, problems

    inst = await problems.get_instance(session, instance_id, lock=True)
    access.require_for_agency(principal, "update", "rectification", await access.agency(session, inst.agency_id))
    if inst.status not in ("rectifying", "reopened"):
        raise TransitionError(inst.status, "add evidence")
    slot = inspections._text("slot", slot, 100)
    stored = await files.store(session, tenant_id=inst.tenant_id, uploaded_by=principal.user_id, name=name,
                               content_type=content_type, data=data, agency_id=inst.agency_id,
                               target_tenant_id=inst.target_tenant_id)
    return await files.add_evidence(session, tenant_id=inst.tenant_id, instance_id=inst.id, measure_id=measure_id,
                                    agency_id=inst.agency_id, target_tenant_id=inst.target_tenant_id, slot=slot, file=stored)
