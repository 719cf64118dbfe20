"""The deadline registry: every domain with a deadline registers one row per subject here, and
the escalation sweep watches them all.

A row keeps how its date was computed (``rule``, ``basis_on``, ``rule_days``, plus
``extra_days`` working days from extensions and suspensions), so that a deadline computed
on a provisional calendar year is recomputed when the official schedule is loaded.

Subject types in use: ``clue.transfer`` (subject = clue), ``clue.receipt`` and
``clue.feedback`` (subject = clue transfer); the inspection cycle adds its own
(``rectification.measure``, ``rectification.notice``, ``inspection.self_report``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services.calendar import WorkingCalendar, routine_clue_deadline
from ducha.services.errors import InvalidInput, NotFoundError

RULES = ("fixed", "working_days", "routine_clue")
# The default ladder: thresholds in working days past due, and which rungs need no decision.
DEFAULT_THRESHOLDS: tuple[int, ...] = (1, 3, 5, 10, 15)
DEFAULT_AUTOMATIC: tuple[bool, ...] = (True, True, False, False, False)


@dataclass(frozen=True)
class Deadline:
    tenant_id: int
    id: int
    subject_type: str
    subject_id: int
    title: str
    agency_id: int
    agency_tenant_id: int
    requester_agency_id: int | None
    rule: str
    basis_on: date
    rule_days: int
    extra_days: int
    due_on: date
    provisional: bool
    rung: int
    escalate_from: date | None
    suspended_at: datetime | None
    suspend_reason: str | None
    closed_at: datetime | None
    close_reason: str | None
    created_at: datetime


COLUMNS = (
    "tenant_id, id, subject_type, subject_id, title, agency_id, agency_tenant_id, requester_agency_id, rule,"
    " basis_on, rule_days, extra_days, due_on, provisional, rung, escalate_from, suspended_at, suspend_reason,"
    " closed_at, close_reason, created_at"
)


def of_row(r: Any) -> Deadline:
    return Deadline(**{k: getattr(r, k) for k in Deadline.__dataclass_fields__})


def compute_due(cal: WorkingCalendar, rule: str, basis_on: date, rule_days: int = 0,
                extra_days: int = 0) -> tuple[date, bool]:
    """The due date of a rule on a calendar, and whether it rests on provisional days."""
    if rule == "fixed":
        due, provisional = basis_on, False
    elif rule == "working_days":
        due, provisional = cal.add_working_days(basis_on, rule_days)
    elif rule == "routine_clue":
        due, provisional = routine_clue_deadline(cal, basis_on)
    else:
        raise InvalidInput("rule", f"unknown deadline rule {rule!r}")
    if extra_days:
        due, more = cal.add_working_days(due, extra_days)
        provisional = provisional or more
    return due, provisional


# escalate_from: the day the next rung is due, from the tenant's thresholds; NULL while a
# leader's decision is pending, at the top rung, or once closed.
_NEXT = """
CASE
  WHEN d.closed_at IS NOT NULL OR d.rung >= 5 THEN NULL
  WHEN EXISTS (SELECT 1 FROM escalation e WHERE e.tenant_id = d.tenant_id AND e.deadline_id = d.id
               AND e.status = 'proposed') THEN NULL
  ELSE ducha_add_working_days(d.due_on, (coalesce(
         (SELECT p.thresholds FROM escalation_policy p WHERE p.tenant_id = d.tenant_id),
         CAST(:default_thresholds AS integer[])))[d.rung + 1])
END
"""


def _defaults() -> dict[str, Any]:
    return {"default_thresholds": list(DEFAULT_THRESHOLDS)}


async def refresh_next(session: AsyncSession, *, tenant_id: int | None = None, ids: list[int] | None = None) -> int:
    """Recompute escalate_from of open deadlines (all, a tenant's, or some of a tenant's)."""
    where = ["d.closed_at IS NULL"]
    params: dict[str, Any] = _defaults()
    if tenant_id is not None:
        where.append("d.tenant_id = :tenant_id")
        params["tenant_id"] = tenant_id
    if ids is not None:
        where.append("d.id = ANY(CAST(:ids AS bigint[]))")
        params["ids"] = ids
    sql = (f"UPDATE deadline d SET escalate_from = {_NEXT} WHERE {' AND '.join(where)}"
           f" AND d.escalate_from IS DISTINCT FROM ({_NEXT})")
    return (await session.execute(text(sql), params)).rowcount  # type: ignore[attr-defined,no-any-return]


async def _log(session: AsyncSession, tenant_id: int, deadline_id: int, kind: str, old: date | None,
               new: date | None, reason: str = "", by_user: int | None = None) -> None:
    await session.execute(
        text("INSERT INTO deadline_change (tenant_id, deadline_id, kind, old_due_on, new_due_on, reason, by_user)"
             " VALUES (:t, :d, :k, :o, :n, :r, :u)"),
        {"t": tenant_id, "d": deadline_id, "k": kind, "o": old, "n": new, "r": reason[:1000], "u": by_user},
    )


async def track(
    session: AsyncSession,
    *,
    tenant_id: int,
    subject_type: str,
    subject_id: int,
    agency_id: int,
    due_on: date,
    provisional: bool,
    title: str,
    rule: str = "fixed",
    basis_on: date | None = None,
    rule_days: int = 0,
    requester_agency_id: int | None = None,
    agency_tenant_id: int | None = None,
    by_user: int | None = None,
) -> int:
    """Register (or reopen and re-date) the deadline of a subject; returns its id.

    Pass ``rule``/``basis_on``/``rule_days`` when ``due_on`` was computed from working days,
    so that a provisional date is recomputed when the official calendar arrives; a ``fixed``
    date (chosen by a person) is never moved. Rungs already reached are kept on reopening.
    """
    if rule not in RULES:
        raise InvalidInput("rule", f"unknown deadline rule {rule!r}")
    if rule == "fixed":
        basis_on = due_on
    elif basis_on is None:
        raise InvalidInput("basisOn", "a computed deadline needs the day it is computed from")
    if agency_tenant_id is None:
        found = (await session.execute(text("SELECT tenant_id FROM agency WHERE id = :a"), {"a": agency_id})).first()
        if found is None:
            raise NotFoundError("Agency", str(agency_id))
        agency_tenant_id = int(found[0])
    row = (
        await session.execute(
            text(
                "INSERT INTO deadline (tenant_id, subject_type, subject_id, title, agency_id, agency_tenant_id,"
                " requester_agency_id, rule, basis_on, rule_days, due_on, provisional)"
                " VALUES (:t, :st, :sid, :title, :a, :at, :req, :rule, :basis, :days, :due, :prov)"
                " ON CONFLICT (tenant_id, subject_type, subject_id) DO UPDATE SET title = excluded.title,"
                " agency_id = excluded.agency_id, agency_tenant_id = excluded.agency_tenant_id,"
                " requester_agency_id = excluded.requester_agency_id, rule = excluded.rule,"
                " basis_on = excluded.basis_on, rule_days = excluded.rule_days, extra_days = 0,"
                " due_on = excluded.due_on, provisional = excluded.provisional, closed_at = NULL,"
                " close_reason = NULL, updated_at = now()"
                " RETURNING id, (xmax = 0) AS inserted"
            ),
            {"t": tenant_id, "st": subject_type, "sid": subject_id, "title": title[:300], "a": agency_id,
             "at": agency_tenant_id, "req": requester_agency_id, "rule": rule, "basis": basis_on,
             "days": rule_days, "due": due_on, "prov": provisional},
        )
    ).one()
    await _log(session, tenant_id, row.id, "track" if row.inserted else "reopen", None, due_on, by_user=by_user)
    await refresh_next(session, tenant_id=tenant_id, ids=[row.id])
    return int(row.id)


async def track_working_days(
    session: AsyncSession, cal: WorkingCalendar, *, start: date, days: int, **kw: Any
) -> tuple[int, date, bool]:
    """Track a deadline `days` working days after `start`; returns (id, due_on, provisional)."""
    due, provisional = compute_due(cal, "working_days", start, days)
    i = await track(session, due_on=due, provisional=provisional, rule="working_days", basis_on=start,
                    rule_days=days, **kw)
    return i, due, provisional


async def get(session: AsyncSession, tenant_id: int, deadline_id: int, *, lock: bool = False) -> Deadline:
    sql = f"SELECT {COLUMNS} FROM deadline WHERE tenant_id = :t AND id = :i" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(sql), {"t": tenant_id, "i": deadline_id})).first()
    if row is None:
        raise NotFoundError("Deadline", str(deadline_id))
    return of_row(row)


async def find(session: AsyncSession, deadline_id: int, *, lock: bool = False) -> Deadline:
    """A deadline by id alone (ids are unique across tenants), as far as the session may see."""
    sql = f"SELECT {COLUMNS} FROM deadline WHERE id = :i" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(sql), {"i": deadline_id})).first()
    if row is None:
        raise NotFoundError("Deadline", str(deadline_id))
    return of_row(row)


async def for_subject(session: AsyncSession, subject_type: str, subject_id: int, tenant_id: int) -> Deadline | None:
    row = (
        await session.execute(
            text(f"SELECT {COLUMNS} FROM deadline WHERE tenant_id = :t AND subject_type = :st AND subject_id = :s"),
            {"t": tenant_id, "st": subject_type, "s": subject_id},
        )
    ).first()
    return of_row(row) if row else None


async def close(session: AsyncSession, subject_type: str, subject_id: int, tenant_id: int, *,
                reason: str = "done", by_user: int | None = None) -> bool:
    """Close a subject's open deadline (rectified, received, answered...): the climb stops and
    pending proposals are cancelled. False if there was none open."""
    row = (
        await session.execute(
            text("UPDATE deadline SET closed_at = now(), close_reason = :r, escalate_from = NULL, updated_at = now()"
                 " WHERE tenant_id = :t AND subject_type = :st AND subject_id = :s AND closed_at IS NULL"
                 " RETURNING id, due_on"),
            {"t": tenant_id, "st": subject_type, "s": subject_id, "r": reason[:200]},
        )
    ).first()
    if row is None:
        return False
    await session.execute(
        text("UPDATE escalation SET status = 'cancelled', decided_at = now(), decision_reason = :r"
             " WHERE tenant_id = :t AND deadline_id = :d AND status = 'proposed'"),
        {"t": tenant_id, "d": row.id, "r": f"closed: {reason}"[:200]},
    )
    await _log(session, tenant_id, row.id, "close", row.due_on, None, reason, by_user)
    return True


async def reschedule(
    session: AsyncSession,
    *,
    tenant_id: int,
    subject_type: str,
    subject_id: int,
    due_on: date,
    provisional: bool = False,
    rule: str = "fixed",
    basis_on: date | None = None,
    rule_days: int = 0,
    reason: str = "",
    by_user: int | None = None,
) -> Deadline:
    """Give a subject's deadline a new date (a new plan, a corrected notice); rungs are kept."""
    if rule not in RULES:
        raise InvalidInput("rule", f"unknown deadline rule {rule!r}")
    basis = due_on if rule == "fixed" else basis_on
    if basis is None:
        raise InvalidInput("basisOn", "a computed deadline needs the day it is computed from")
    row = (
        await session.execute(
            text("UPDATE deadline n SET due_on = :due, provisional = :prov, rule = :rule, basis_on = :basis,"
                 " rule_days = :days, extra_days = 0, updated_at = now()"
                 " FROM deadline o WHERE o.tenant_id = n.tenant_id AND o.id = n.id"
                 " AND n.tenant_id = :t AND n.subject_type = :st AND n.subject_id = :s"
                 " RETURNING n.id, o.due_on AS old"),
            {"t": tenant_id, "st": subject_type, "s": subject_id, "due": due_on, "prov": provisional,
             "rule": rule, "basis": basis, "days": rule_days},
        )
    ).first()
    if row is None:
        raise NotFoundError("Deadline", f"{subject_type}/{subject_id}")
    await _log(session, tenant_id, row.id, "reschedule", row.old, due_on, reason, by_user)
    await refresh_next(session, tenant_id=tenant_id, ids=[row.id])
    return await get(session, tenant_id, row.id)


async def set_due(session: AsyncSession, d: Deadline, *, due_on: date, provisional: bool, kind: str,
                  reason: str, by_user: int | None, extra_days: int | None = None, rule: str | None = None,
                  basis_on: date | None = None) -> Deadline:
    """Move one deadline (extend, resume, recompute); logs the change and refreshes the ladder."""
    await session.execute(
        text("UPDATE deadline SET due_on = :due, provisional = :prov, extra_days = :extra, rule = :rule,"
             " basis_on = :basis, rule_days = :days, updated_at = now() WHERE tenant_id = :t AND id = :i"),
        {"t": d.tenant_id, "i": d.id, "due": due_on, "prov": provisional,
         "extra": d.extra_days if extra_days is None else extra_days, "rule": rule or d.rule,
         "basis": basis_on or d.basis_on, "days": 0 if rule == "fixed" else d.rule_days},
    )
    await _log(session, d.tenant_id, d.id, kind, d.due_on, due_on, reason, by_user)
    await refresh_next(session, tenant_id=d.tenant_id, ids=[d.id])
    return await get(session, d.tenant_id, d.id)


async def recompute_provisional(session: AsyncSession, cal: WorkingCalendar) -> tuple[int, int]:
    """Recompute every open provisional deadline on `cal` and tell the acting and waiting
    agencies; returns (recomputed, changed). System session (it spans tenants)."""
    from ducha.services import inbox

    rows = (
        await session.execute(text(f"SELECT {COLUMNS} FROM deadline WHERE provisional AND closed_at IS NULL"
                                   " ORDER BY tenant_id, id FOR UPDATE"))
    ).all()
    changed = 0
    for r in rows:
        d = of_row(r)
        due, provisional = compute_due(cal, d.rule, d.basis_on, d.rule_days, d.extra_days)
        await session.execute(
            text("UPDATE deadline SET due_on = :due, provisional = :prov, updated_at = now()"
                 " WHERE tenant_id = :t AND id = :i"),
            {"t": d.tenant_id, "i": d.id, "due": due, "prov": provisional},
        )
        moved = due != d.due_on
        changed += moved
        await _log(session, d.tenant_id, d.id, "recompute", d.due_on, due, "official calendar loaded")
        if moved:
            title = f"期限调整：{d.title} 由 {d.due_on:%Y-%m-%d} 改为 {due:%Y-%m-%d}（按正式公布的节假日安排重新计算）"
        else:
            title = f"期限确认：{d.title} 仍为 {due:%Y-%m-%d}（正式节假日安排已公布）"
        for agency in {d.agency_id, d.requester_agency_id} - {None}:
            await inbox.notify(
                session, tenant_id=d.tenant_id, agency_id=agency, kind="deadline.recomputed", title=title,
                subject_type="deadline", subject_id=d.id,
                dedup_key=f"deadline:{d.id}:recomputed:{d.due_on}:{due}:{provisional}:{agency}",
            )
    return len(rows), changed
