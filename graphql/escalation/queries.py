"""Deadline and escalation queries: overdue tracking, the ladder's records, the policy, dead letters."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import text

from ducha.graphql import pagination
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input, parse_id
from ducha.graphql.escalation.types import (
    LEVEL_BY_RUNG,
    DeadLetter,
    Deadline,
    DeadlineFilter,
    Escalation,
    EscalationFilter,
    EscalationPolicy,
    policy_of,
)
from ducha.policies import filters
from ducha.policies.authz import allowed
from ducha.services import calendar_store, deadlines as dsvc, escalation as esvc
from ducha.tenants.scope import Scope


def visible(scope: Scope, alias: str, *, requester: bool) -> tuple[str, dict[str, Any]]:
    """Rows of the office chain (owner's or target's tenant) or addressed to the scope's agencies."""
    if not filters.enabled():
        return "true", {}
    conds = [f"{alias}.tenant_id = ANY(CAST(:scope_t AS bigint[]))",
             f"{alias}.agency_tenant_id = ANY(CAST(:scope_t AS bigint[]))",
             f"{alias}.agency_id = ANY(CAST(:scope_a AS bigint[]))"]
    if requester:
        conds.append(f"{alias}.requester_agency_id = ANY(CAST(:scope_a AS bigint[]))")
    return "(" + " OR ".join(conds) + ")", {"scope_t": sorted(scope.tenant_ids), "scope_a": sorted(scope.agency_ids)}


def _page_args(info: Info, first: int, after: str | None, kind: str) -> tuple[int, int | None]:
    try:
        return pagination.check_first(first, info.context.settings.max_page_size), pagination.decode_cursor(kind, after)
    except pagination.PageError as e:
        raise bad_input(e.field, str(e)) from None


async def _connection(info: Info, kind: str, select: str, where: list[str], params: dict[str, Any], n: int,
                      after_id: int | None, alias: str, make: Any) -> Any:
    ctx = info.context
    page = [*where, f"{alias}.id > :after"] if after_id is not None else where
    rows = (await ctx.session.execute(
        text(f"{select} WHERE {' AND '.join(page)} ORDER BY {alias}.id LIMIT :n"),
        {**params, "after": after_id, "n": n + 1})).all()

    async def count() -> int:
        sql = f"SELECT count(*) FROM ({select} WHERE {' AND '.join(where)}) x"
        return int((await ctx.session.execute(text(sql), params)).scalar_one())

    nodes = [make(r) for r in rows]
    return pagination.build(kind, nodes, n, lambda x: int(x.id), count, after_id)


@strawberry.type
class EscalationQuery:
    @strawberry.field(description="Deadlines the caller may see (its agency's, or its office chain's), by id.")
    async def deadlines(self, info: Info, first: int = 20, after: str | None = None,
                        filter: DeadlineFilter | None = None) -> pagination.Connection[Deadline]:
        n, after_id = _page_args(info, first, after, "deadline")
        cond, params = visible(info.context.scope, "d", requester=True)
        where = [cond]
        f = filter or DeadlineFilter()
        if f.open is not None:
            where.append("d.closed_at IS NULL" if f.open else "d.closed_at IS NOT NULL")
        if f.overdue is not None:
            params["today"] = calendar_store.today()
            overdue = "(d.closed_at IS NULL AND d.due_on < :today)"
            where.append(overdue if f.overdue else f"NOT {overdue}")
        if f.subject_type is not None:
            if len(f.subject_type) > 60:
                raise bad_input("filter.subjectType", "a subject type has at most 60 characters")
            where.append("d.subject_type = :st")
            params["st"] = f.subject_type
        if f.agency_id is not None:
            where.append("d.agency_id = :agency")
            params["agency"] = parse_id(f.agency_id, "filter.agencyId")
        if f.provisional is not None:
            where.append("d.provisional" if f.provisional else "NOT d.provisional")
        if f.suspended is not None:
            where.append("d.suspended_at IS NOT NULL" if f.suspended else "d.suspended_at IS NULL")
        return await _connection(info, "deadline", f"SELECT {dsvc.COLUMNS} FROM deadline d", where, params, n,
                                 after_id, "d", lambda r: Deadline.from_row(dsvc.of_row(r)))

    @strawberry.field(description="Rungs of the ladder the caller may see; status PROPOSED lists those awaiting "
                                  "an office leader's decision.")
    async def escalations(self, info: Info, first: int = 20, after: str | None = None,
                          filter: EscalationFilter | None = None) -> pagination.Connection[Escalation]:
        n, after_id = _page_args(info, first, after, "escalation")
        cond, params = visible(info.context.scope, "e", requester=False)
        where = [cond]
        f = filter or EscalationFilter()
        if f.status is not None:
            where.append("e.status = :status")
            params["status"] = f.status.value
        if f.rung is not None:
            where.append("e.rung = :rung")
            params["rung"] = LEVEL_BY_RUNG[f.rung]
        if f.agency_id is not None:
            where.append("e.agency_id = :agency")
            params["agency"] = parse_id(f.agency_id, "filter.agencyId")
        return await _connection(info, "escalation", f"SELECT {esvc.RECORD_COLUMNS} FROM escalation e", where, params,
                                 n, after_id, "e", lambda r: Escalation.from_record(esvc.record_of(r)))

    @strawberry.field(description="The ladder of a tenant the caller may see (default: its own).")
    async def escalation_policy(self, info: Info, tenant_id: strawberry.ID | None = None) -> EscalationPolicy | None:
        ctx = info.context
        tid = parse_id(tenant_id, "tenantId") if tenant_id is not None else ctx.principal.tenant_id
        if filters.enabled() and tid not in ctx.scope.tenant_ids:
            return None
        seen = (await ctx.session.execute(text("SELECT 1 FROM tenant WHERE id = :t AND id = ANY(ducha_tenant_ids())"),
                                          {"t": tid})).first()
        if seen is None:
            return None
        return policy_of(await esvc.get_policy(ctx.session, tid))

    @strawberry.field(description="Background jobs that failed for good in the caller's tenants (office roles).")
    async def dead_letters(self, info: Info, first: int = 20, after: str | None = None) -> pagination.Connection[DeadLetter]:
        n, after_id = _page_args(info, first, after, "deadletter")
        ctx = info.context
        if not allowed(ctx.principal, "read", "audit"):
            where = ["false"]
            params: dict[str, Any] = {}
        elif filters.enabled():
            where = ["o.dead_at IS NOT NULL", "o.tenant_id = ANY(CAST(:scope_t AS bigint[]))"]
            params = {"scope_t": sorted(ctx.scope.tenant_ids)}
        else:
            where, params = ["o.dead_at IS NOT NULL"], {}
        return await _connection(
            info, "deadletter", "SELECT o.id, o.actor, o.attempts, o.last_error, o.created_at, o.dead_at FROM outbox o",
            where, params, n, after_id, "o",
            lambda r: DeadLetter(id=strawberry.ID(str(r.id)), actor=r.actor, attempts=r.attempts,
                                 last_error=r.last_error, created_at=r.created_at, dead_at=r.dead_at))
