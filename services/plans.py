"""Annual inspection plans (年度督察计划, 003 art. 14): draft → submitted → approved | returned."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import audit, access
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, TransitionError
from ducha.services.models import AnnualPlan, PlanItem
from ducha.services.vocab import INSPECTION_FORMS, INSPECTION_KINDS, utcnow
from ducha.tenants.principal import Principal


async def get(session: AsyncSession, plan_id: int, *, lock: bool = False) -> AnnualPlan:
    return await access.load(session, select(AnnualPlan).where(AnnualPlan.id == plan_id), "AnnualPlan", plan_id,
                             lock=lock)


async def create(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int, title: str) -> AnnualPlan:
    access.require(principal, "create", "plan", await access.tenant_path(session, tenant_id, given=True))
    if not 2000 <= year <= 2100:
        raise InvalidInput("year", "year must be between 2000 and 2100")
    if not title.strip() or len(title) > 300:
        raise InvalidInput("title", "a title has 1-300 characters")
    exists = await session.execute(select(AnnualPlan.id).where(AnnualPlan.tenant_id == tenant_id, AnnualPlan.year == year))
    if exists.first():
        raise ConflictError(f"the {year} plan exists already")
    plan = AnnualPlan(tenant_id=tenant_id, year=year, title=title.strip(), created_by=principal.user_id)
    session.add(plan)
    await session.flush()
    await audit.record(session, tenant_id=tenant_id, actor_id=principal.user_id, action="plan.create",
                       subject_type="annual_plan", subject_id=plan.id, before=None, after=audit.snapshot(plan))
    return plan


async def add_item(session: AsyncSession, principal: Principal, *, plan_id: int, title: str, kind: str, form: str,
                   planned_month: int | None, scope_note: str = "") -> PlanItem:
    plan = await get(session, plan_id, lock=True)
    access.require(principal, "update", "plan", await access.tenant_path(session, plan.tenant_id))
    if plan.status not in ("draft", "returned"):
        raise TransitionError(plan.status, "add an item", "an approved or submitted plan cannot change")
    if kind not in INSPECTION_KINDS or kind == "lookback":
        raise InvalidInput("kind", f"unknown inspection kind {kind!r}")
    if form not in INSPECTION_FORMS:
        raise InvalidInput("form", f"unknown inspection form {form!r}")
    if planned_month is not None and not 1 <= planned_month <= 12:
        raise InvalidInput("plannedMonth", "a month is 1-12")
    if not title.strip() or len(title) > 300:
        raise InvalidInput("title", "a title has 1-300 characters")
    item = PlanItem(tenant_id=plan.tenant_id, plan_id=plan.id, title=title.strip(), kind=kind, form=form,
                    planned_month=planned_month, scope_note=scope_note)
    session.add(item)
    await session.flush()
    return item


async def submit(session: AsyncSession, principal: Principal, plan_id: int) -> AnnualPlan:
    plan = await get(session, plan_id, lock=True)
    access.require(principal, "submit", "plan", await access.tenant_path(session, plan.tenant_id))
    if plan.status not in ("draft", "returned"):
        raise TransitionError(plan.status, "submit")
    n = (await session.execute(select(func.count()).select_from(PlanItem).where(
        PlanItem.tenant_id == plan.tenant_id, PlanItem.plan_id == plan.id))).scalar_one()
    if n == 0:
        raise InvalidInput("items", "a plan needs at least one planned inspection")
    before = audit.snapshot(plan)
    plan.status, plan.submitted_at = "submitted", utcnow()
    await session.flush()
    await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id, action="plan.submit",
                       subject_type="annual_plan", subject_id=plan.id, before=before, after=audit.snapshot(plan))
    return plan


async def decide(session: AsyncSession, principal: Principal, plan_id: int, *, approve: bool,
                 reason: str | None = None) -> AnnualPlan:
    """The office leader approves the plan, or returns it with reasons."""
    plan = await get(session, plan_id, lock=True)
    access.require(principal, "approve", "plan", await access.tenant_path(session, plan.tenant_id))
    if plan.status != "submitted":
        raise TransitionError(plan.status, "approve" if approve else "return")
    if not approve and not (reason or "").strip():
        raise InvalidInput("reason", "a returned plan needs the reasons")
    before = audit.snapshot(plan)
    plan.status = "approved" if approve else "returned"
    plan.return_reason = None if approve else reason
    plan.decided_by, plan.decided_at = principal.user_id, utcnow()
    await session.flush()
    await audit.record(session, tenant_id=plan.tenant_id, actor_id=principal.user_id,
                       action="plan.approve" if approve else "plan.return", subject_type="annual_plan",
                       subject_id=plan.id, before=before, after=audit.snapshot(plan))
    return plan
