"""Look-back (回头看, art. 30): a follow-up inspection of chosen problems, linked to the
originals; a rebound (a closed problem found again) reopens it with its history kept."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, calendar_store, inspections, problems
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.services.models import Inspection, InspectionTarget, LookbackItem, ProblemInstance
from ducha.tenants.principal import Principal


async def create(session: AsyncSession, principal: Principal, *, original_inspection_id: int, title: str,
                 instance_ids: Sequence[int], reason: str, year: int | None = None) -> Inspection:
    """Chosen problems: poorly rectified ones, or a sample of closed ones."""
    orig = await inspections.get(session, original_inspection_id)
    access.require(principal, "create", "lookback", await access.tenant_path(session, orig.tenant_id))
    if reason not in ("poorly_rectified", "sample_of_closed"):
        raise InvalidInput("reason", "poorly_rectified or sample_of_closed")
    ids = list(dict.fromkeys(instance_ids))
    if not ids:
        raise InvalidInput("instanceIds", "choose at least one problem")
    chosen = {}
    from ducha.services.models import Problem

    for n, iid in enumerate(ids):
        row = (await session.execute(select(ProblemInstance).join(Problem, (Problem.tenant_id == ProblemInstance.tenant_id)
               & (Problem.id == ProblemInstance.problem_id)).where(
            ProblemInstance.id == iid, ProblemInstance.tenant_id == orig.tenant_id,
            Problem.inspection_id == orig.id))).scalar_one_or_none()
        if row is None:
            raise InvalidInput(f"instanceIds.{n}", "not a problem of that inspection")
        if reason == "sample_of_closed" and row.status != "closed":
            raise InvalidInput(f"instanceIds.{n}", "a sample of closed problems holds closed problems only")
        if reason == "poorly_rectified" and row.status in ("found", "closed"):
            raise InvalidInput(f"instanceIds.{n}", "poorly rectified problems are ones under rectification")
        chosen[iid] = row
    lb = Inspection(tenant_id=orig.tenant_id, year=year or calendar_store.today().year, title=inspections._text("title", title),
                    kind="lookback", form="onsite", lookback_of=orig.id, status="in_progress",
                    created_by=principal.user_id)
    session.add(lb)
    await session.flush()
    for agency_id, tt in {(r.agency_id, r.target_tenant_id) for r in chosen.values()}:
        session.add(InspectionTarget(tenant_id=lb.tenant_id, inspection_id=lb.id, agency_id=agency_id, target_tenant_id=tt))
    for r in chosen.values():
        session.add(LookbackItem(tenant_id=lb.tenant_id, inspection_id=lb.id, instance_id=r.id, agency_id=r.agency_id,
                                 target_tenant_id=r.target_tenant_id, reason=reason))
    await session.flush()
    await audit.record(session, tenant_id=lb.tenant_id, actor_id=principal.user_id, action="lookback.create",
                       subject_type="inspection", subject_id=lb.id, before=None,
                       after={**audit.snapshot(lb), "instance_ids": ids, "reason": reason})
    return lb


async def record_outcome(session: AsyncSession, principal: Principal, item_id: int, *, outcome: str,
                         comment: str = "") -> LookbackItem:
    item = await access.load(session, select(LookbackItem).where(LookbackItem.id == item_id), "LookbackItem",
                             item_id, lock=True)
    access.require(principal, "update", "lookback", await access.tenant_path(session, item.tenant_id))
    if outcome not in ("confirmed", "rebound"):
        raise InvalidInput("outcome", "confirmed or rebound")
    if item.outcome is not None:
        raise TransitionError(item.outcome, "record the outcome", "the outcome is recorded already")
    inst = await problems.get_instance(session, item.instance_id, lock=True)
    before = audit.snapshot(inst)
    item.outcome = outcome
    if outcome == "rebound" and inst.status == "closed":
        inst.status, inst.rebound, inst.closed_at = "reopened", True, None
        from ducha.services.models import Measure

        # rectification starts over: the old measures and sign-offs stay as history
        for m in (await session.execute(select(Measure).where(
                Measure.tenant_id == inst.tenant_id, Measure.instance_id == inst.id))).scalars():
            m.completed_at = None
    await session.flush()
    await audit.record(session, tenant_id=inst.tenant_id, actor_id=principal.user_id, action=f"lookback.{outcome}",
                       subject_type="problem_instance", subject_id=inst.id, before=before,
                       after={**audit.snapshot(inst), "comment": comment})
    return item


async def rebound_count(session: AsyncSession, tenant_ids: Sequence[int]) -> int:
    """Closed problems found again by a look-back."""
    return int((await session.execute(select(func.count()).select_from(LookbackItem).where(
        LookbackItem.tenant_id.in_(tenant_ids), LookbackItem.outcome == "rebound",
        LookbackItem.reason == "sample_of_closed"))).scalar_one())
