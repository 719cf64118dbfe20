"""Problems (问题清单): common problems (one entry, many units, one instance each) and
individual ones, with target unit, category, source and severity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, calendar_store, inspections
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.services.models import InspectionTarget, Problem, ProblemInstance
from ducha.services.vocab import PROBLEM_CATEGORIES, PROBLEM_SOURCES, SEVERITIES
from ducha.tenants.models import Agency
from ducha.tenants.principal import Principal


async def record(
    session: AsyncSession, principal: Principal, *, inspection_id: int, title: str, description: str, category: str,
    source: str, severity: str, agency_ids: Sequence[int], found_on: date | None = None, clue_id: int | None = None,
) -> tuple[Problem, list[ProblemInstance]]:
    """Record a problem found at one unit (individual) or at several (common: an instance each)."""
    insp = await inspections.get(session, inspection_id, lock=True)
    access.require(principal, "create", "problem", await access.tenant_path(session, insp.tenant_id))
    if insp.status not in ("in_progress", "reporting"):
        raise TransitionError(insp.status, "record a problem", "problems are recorded while the inspection runs")
    if category not in PROBLEM_CATEGORIES:
        raise InvalidInput("category", f"unknown category {category!r}")
    if source not in PROBLEM_SOURCES:
        raise InvalidInput("source", f"unknown source {source!r}")
    if severity not in SEVERITIES:
        raise InvalidInput("severity", f"unknown severity {severity!r}")
    units = list(dict.fromkeys(agency_ids))
    if not units:
        raise InvalidInput("agencyIds", "name the unit(s) where the problem was found")
    target_rows = {t.agency_id: t for t in (await session.execute(select(InspectionTarget).where(
        InspectionTarget.tenant_id == insp.tenant_id, InspectionTarget.inspection_id == insp.id))).scalars()}
    for i, aid in enumerate(units):
        if aid not in target_rows:
            raise InvalidInput(f"agencyIds.{i}", "not a target of this inspection")
    p = Problem(tenant_id=insp.tenant_id, inspection_id=insp.id, title=inspections._text("title", title),
                description=(description or "")[:20000], category=category, source=source, severity=severity,
                is_common=len(units) > 1, clue_id=clue_id, found_on=found_on or calendar_store.today(),
                created_by=principal.user_id)
    session.add(p)
    await session.flush()
    instances = []
    for aid in units:
        inst = ProblemInstance(tenant_id=insp.tenant_id, problem_id=p.id, agency_id=aid,
                               target_tenant_id=target_rows[aid].target_tenant_id)
        session.add(inst)
        instances.append(inst)
    await session.flush()
    await audit.record(session, tenant_id=p.tenant_id, actor_id=principal.user_id, action="problem.record",
                       subject_type="problem", subject_id=p.id, before=None,
                       after={**audit.snapshot(p), "agency_ids": units})
    return p, instances


async def get_instance(session: AsyncSession, instance_id: int, *, lock: bool = False) -> ProblemInstance:
    return await access.load(session, select(ProblemInstance).where(ProblemInstance.id == instance_id),
                             "ProblemInstance", instance_id, lock=lock)


async def agency_of(session: AsyncSession, inst: ProblemInstance) -> Agency:
    return await access.agency(session, inst.agency_id)
