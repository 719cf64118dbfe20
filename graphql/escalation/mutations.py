"""Escalation mutations: leaders decide rungs, suspend, resume and extend; admins set the ladder."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ducha.graphql import mutation
from ducha.graphql.context import Info
from ducha.graphql.errors import InvalidTransition, NotAllowed, NotFound, ValidationError
from ducha.graphql.escalation.types import (
    DecideEscalationInput,
    Deadline,
    Escalation,
    EscalationPolicy,
    EscalationPolicyInput,
    ExtendDeadlineInput,
    SuspendDeadlineInput,
    policy_of,
)
from ducha.services import escalation as esvc
from ducha.services.errors import InvalidInput

DecideEscalationResult = Annotated[
    Escalation | NotAllowed | NotFound | ValidationError | InvalidTransition, strawberry.union("DecideEscalationResult")
]
DeadlineChangeResult = Annotated[
    Deadline | NotAllowed | NotFound | ValidationError | InvalidTransition, strawberry.union("DeadlineChangeResult")
]
EscalationPolicyResult = Annotated[
    EscalationPolicy | NotAllowed | NotFound | ValidationError, strawberry.union("EscalationPolicyResult")
]


def _id(value: str | None, field: str) -> int:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(value)


@strawberry.type
class EscalationMutation:
    @strawberry.mutation(description="An office leader approves (issues) or declines a proposed rung.")
    async def decide_escalation(self, info: Info, input: DecideEscalationInput) -> DecideEscalationResult:
        ctx = info.context

        async def act() -> Escalation:
            rec = await esvc.decide(ctx.session, ctx.principal, _id(input.escalation_id, "escalationId"),
                                    approve=input.approve, reason=input.reason)
            return Escalation.from_record(rec)

        return await mutation.run(info, act)

    @strawberry.mutation(description="An office leader stops a deadline's clock and climb, with a reason.")
    async def suspend_deadline(self, info: Info, input: SuspendDeadlineInput) -> DeadlineChangeResult:
        ctx = info.context

        async def act() -> Deadline:
            return Deadline.from_row(await esvc.suspend(ctx.session, ctx.principal,
                                                        _id(input.deadline_id, "deadlineId"), reason=input.reason))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Restart a suspended deadline; it moves by the working days it was suspended.")
    async def resume_deadline(self, info: Info, input: SuspendDeadlineInput) -> DeadlineChangeResult:
        ctx = info.context

        async def act() -> Deadline:
            return Deadline.from_row(await esvc.resume(ctx.session, ctx.principal,
                                                       _id(input.deadline_id, "deadlineId"), reason=input.reason))

        return await mutation.run(info, act)

    @strawberry.mutation(description="An office leader gives more time, with a reason; the ladder is re-timed.")
    async def extend_deadline(self, info: Info, input: ExtendDeadlineInput) -> DeadlineChangeResult:
        ctx = info.context

        async def act() -> Deadline:
            return Deadline.from_row(await esvc.extend(
                ctx.session, ctx.principal, _id(input.deadline_id, "deadlineId"), reason=input.reason,
                working_days=input.working_days, new_due_on=input.new_due_on))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Set a tenant's ladder (office admins): thresholds and automatic rungs.")
    async def set_escalation_policy(self, info: Info, input: EscalationPolicyInput) -> EscalationPolicyResult:
        ctx = info.context

        async def act() -> EscalationPolicy:
            tid = _id(input.tenant_id, "tenantId") if input.tenant_id is not None else ctx.principal.tenant_id
            return policy_of(await esvc.set_policy(ctx.session, ctx.principal, tid, thresholds=list(input.thresholds),
                                                   automatic=list(input.automatic)))

        return await mutation.run(info, act)
