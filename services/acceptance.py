"""Acceptance and close-out (验收/销号, seed 001): a chain of sign-offs per tenant, level by
level. A rejection sends the problem back to rectification; when every step passes, the
problem instance is closed out and its evidence frozen. The only way these states change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, audit, files, inspections, problems
from ducha.services.errors import ConflictError, InvalidInput, TransitionError
from ducha.services.models import AcceptanceChain, Measure, Problem, ProblemInstance, Signoff, TeamMember
from ducha.services.vocab import utcnow
from ducha.tenants.principal import Principal

# side 'target': signed for the unit by its own role; side 'office': by the inspecting office.
DEFAULT_CHAIN: list[dict[str, Any]] = [
    {"name": "self_check", "label": "单位自查", "role": "agency_leader", "side": "target"},
    {"name": "team_acceptance", "label": "督察组验收", "role": "team_leader", "side": "office"},
    {"name": "committee_hearing", "label": "委员会听取整改情况报告", "role": "committee_member", "side": "office"},
]
SIGNING_ROLES = {"agency_leader", "team_leader", "committee_member", "office_leader"}
# The unit's formal acts (asking for acceptance) are its own: its liaison or head, not an office above it.
UNIT_ROLES = frozenset({"agency_liaison", "agency_leader"})


async def chain(session: AsyncSession, tenant_id: int) -> list[dict[str, Any]]:
    row = await session.get(AcceptanceChain, tenant_id)
    return list(row.steps) if row else DEFAULT_CHAIN


async def set_chain(session: AsyncSession, principal: Principal, tenant_id: int, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A tenant configures its chain (applies to acceptance rounds started afterwards)."""
    access.require(principal, "approve", "acceptance", await access.tenant_path(session, tenant_id, given=True))
    if not 1 <= len(steps) <= 8:
        raise InvalidInput("steps", "1-8 steps")
    names = set()
    for i, s in enumerate(steps):
        if s.get("role") not in SIGNING_ROLES:
            raise InvalidInput(f"steps.{i}.role", f"one of {sorted(SIGNING_ROLES)}")
        if s.get("side") not in ("target", "office"):
            raise InvalidInput(f"steps.{i}.side", "target or office")
        if s["side"] == "target" and s["role"] != "agency_leader":
            raise InvalidInput(f"steps.{i}.role", "the unit's own step is signed by its head")
        name = inspections._text(f"steps.{i}.name", str(s.get("name", "")), 50)
        if name in names:
            raise InvalidInput(f"steps.{i}.name", "step names are unique")
        names.add(name)
        s["name"] = name
        s["label"] = inspections._text(f"steps.{i}.label", str(s.get("label", name)), 100)
    # Level by level: the inspecting office closes out, never the unit on its own.
    if steps[-1]["side"] != "office":
        raise InvalidInput(f"steps.{len(steps) - 1}.side", "the last step is the inspecting office's")
    steps = [{"name": s["name"], "label": s["label"], "role": s["role"], "side": s["side"]} for s in steps]
    row = await session.get(AcceptanceChain, tenant_id)
    before = {"steps": list(row.steps)} if row is not None else None
    if row is None:
        session.add(AcceptanceChain(tenant_id=tenant_id, steps=steps))
    else:
        row.steps = steps
    await session.flush()
    await audit.record(session, tenant_id=tenant_id, actor_id=principal.user_id, action="acceptance.chain.set",
                       subject_type="acceptance_chain", subject_id=tenant_id, before=before, after={"steps": steps})
    return steps


async def round_steps(session: AsyncSession, inst: ProblemInstance) -> list[dict[str, Any]]:
    """The chain of the instance's current (or last) round; the tenant's chain before any round."""
    return list(inst.acceptance_steps) if inst.acceptance_steps else await chain(session, inst.tenant_id)


async def _require_own_team_leader(session: AsyncSession, principal: Principal, inst: ProblemInstance, path: str) -> None:
    """督察组验收 is signed by the leader of the team that inspected this problem, not any team leader."""
    if "platform_admin" in principal.roles:
        return
    inspection_id = select(Problem.inspection_id).where(Problem.tenant_id == inst.tenant_id,
                                                        Problem.id == inst.problem_id).scalar_subquery()
    lead = (await session.execute(select(TeamMember.id).where(
        TeamMember.tenant_id == inst.tenant_id, TeamMember.inspection_id == inspection_id, TeamMember.is_leader,
        TeamMember.user_id == principal.user_id))).first()
    if lead is None:
        from ducha.policies.authz import NotAllowed

        raise NotAllowed("sign", "acceptance", path, user_id=principal.user_id, roles=principal.roles)


async def request(session: AsyncSession, principal: Principal, instance_id: int) -> ProblemInstance:
    """The unit asks for acceptance once every measure for the problem is completed."""
    inst = await problems.get_instance(session, instance_id, lock=True)
    access.require_for_agency(principal, "submit", "rectification", await problems.agency_of(session, inst),
                              roles=UNIT_ROLES)
    if inst.status not in ("rectifying", "reopened"):
        raise TransitionError(inst.status, "request acceptance")
    open_measures = (await session.execute(select(Measure.id).where(
        Measure.tenant_id == inst.tenant_id, Measure.instance_id == inst.id, Measure.completed_at.is_(None)))).all()
    total = (await session.execute(select(Measure.id).where(
        Measure.tenant_id == inst.tenant_id, Measure.instance_id == inst.id))).all()
    if not total or open_measures:
        raise TransitionError(inst.status, "request acceptance", "every measure must be completed first")
    before = audit.snapshot(inst)
    inst.status, inst.acceptance_round, inst.acceptance_step = "in_acceptance", inst.acceptance_round + 1, 0
    # the round keeps the chain it started with: a tenant's later change applies to later rounds
    inst.acceptance_steps = await chain(session, inst.tenant_id)
    await session.flush()
    await audit.record(session, tenant_id=inst.tenant_id, actor_id=principal.user_id, action="acceptance.request",
                       subject_type="problem_instance", subject_id=inst.id, before=before, after=audit.snapshot(inst))
    return inst


async def sign(session: AsyncSession, principal: Principal, instance_id: int, *, round: int, step: int,
               decision: str, comment: str = "") -> Signoff:
    """Sign the current step. `round`/`step` say which step the signer saw: if someone signed it
    first, this is a Conflict, never a second signature."""
    if decision not in ("pass", "reject"):
        raise InvalidInput("decision", "pass or reject")
    inst = await problems.get_instance(session, instance_id, lock=True)
    if inst.status != "in_acceptance":
        raise TransitionError(inst.status, "sign acceptance")
    if (round, step) != (inst.acceptance_round, inst.acceptance_step):
        raise ConflictError(f"step {step} of round {round} is not the current step (round {inst.acceptance_round}, "
                            f"step {inst.acceptance_step}): someone signed first")
    steps = await round_steps(session, inst)
    if not 0 <= step < len(steps):
        raise TransitionError(inst.status, "sign acceptance", "the round's chain has no such step")
    spec = steps[step]
    roles = frozenset({spec["role"]})
    if spec["side"] == "target":
        access.require_for_agency(principal, "sign", "acceptance", await problems.agency_of(session, inst), roles=roles)
    else:
        path = await access.tenant_path(session, inst.tenant_id)
        access.require(principal, "sign", "acceptance", path, roles=roles)
        if spec["role"] == "team_leader":
            await _require_own_team_leader(session, principal, inst, path)
    if decision == "reject" and not comment.strip():
        raise InvalidInput("comment", "a rejection says why")
    hashes = await files.evidence_hashes(session, inst.tenant_id, inst.id)
    s = Signoff(tenant_id=inst.tenant_id, instance_id=inst.id, agency_id=inst.agency_id,
                target_tenant_id=inst.target_tenant_id, round=round, step=step, step_name=spec["name"],
                decision=decision, comment=comment[:4000], evidence_sha256=hashes, signed_by=principal.user_id)
    session.add(s)
    before = audit.snapshot(inst)
    if decision == "reject":
        inst.status = "rectifying"
        # the measures are reopened: the unit reports progress again
        for m in (await session.execute(select(Measure).where(
                Measure.tenant_id == inst.tenant_id, Measure.instance_id == inst.id))).scalars():
            m.completed_at = None
    elif step + 1 < len(steps):
        inst.acceptance_step = step + 1
    else:
        inst.status, inst.closed_at = "closed", utcnow()
        await files.freeze(session, inst.tenant_id, inst.id)
    await session.flush()
    await audit.record(session, tenant_id=inst.tenant_id, actor_id=principal.user_id,
                       action=f"acceptance.{spec['name']}.{decision}", subject_type="problem_instance",
                       subject_id=inst.id, before=before, after={**audit.snapshot(inst), "evidence_sha256": hashes,
                                                                 "comment": comment})
    return s


async def signoffs(session: AsyncSession, tenant_id: int, instance_id: int) -> list[Signoff]:
    return list((await session.execute(select(Signoff).where(
        Signoff.tenant_id == tenant_id, Signoff.instance_id == instance_id).order_by(Signoff.round, Signoff.step))).scalars())
