"""The escalation ladder (000 task 5; 001; 003 art. 31): overdue items climb
reminder (催办) → supervision letter (督办函) → interview (约谈) → public criticism (通报批评) →
referral (移送纪委监委).

Per tenant (the responsible office's): a threshold in working days past the due date for
each rung, and whether the rung is automatic or waits for an office leader's decision
(default: the first two automatic). The sweep is set-based SQL over the deadline registry:
each pass gives every due deadline its next rung - a record (UNIQUE per deadline and rung),
a notification and, for an issued rung, an outbox job - in one statement. A rung awaiting
a decision halts the climb until the leader approves or declines it; closing the deadline
(rectified, received, answered) stops the climb and cancels pending proposals; a leader
may suspend (the clock stops; on resume the due date moves by the working days suspended)
or extend (a new due date, or N more working days), always with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.authz import authorize
from ducha.services import calendar_store, deadlines, inbox
from ducha.services.deadlines import DEFAULT_AUTOMATIC, DEFAULT_THRESHOLDS, Deadline
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.tenants.principal import Principal


@dataclass(frozen=True)
class Rung:
    level: int
    name: str
    label: str


RUNGS: tuple[Rung, ...] = (
    Rung(1, "reminder", "催办"),
    Rung(2, "supervision_letter", "督办函"),
    Rung(3, "interview", "约谈"),
    Rung(4, "public_criticism", "通报批评"),
    Rung(5, "referral", "移送纪委监委"),
)
DELIVER = "escalation.deliver"  # the outbox job of an issued rung


@dataclass(frozen=True)
class Policy:
    tenant_id: int
    thresholds: tuple[int, ...]
    automatic: tuple[bool, ...]
    customized: bool


@dataclass(frozen=True)
class Record:
    tenant_id: int
    id: int
    deadline_id: int
    rung: int
    agency_id: int
    agency_tenant_id: int
    status: str
    automatic: bool
    working_days_overdue: int
    as_of: date
    created_at: datetime
    issued_at: datetime | None
    decided_at: datetime | None
    decided_by: int | None
    decision_reason: str | None
    delivered_at: datetime | None
    deliveries: int


RECORD_COLUMNS = ", ".join(Record.__dataclass_fields__)


def record_of(r: Any) -> Record:
    return Record(**{k: getattr(r, k) for k in Record.__dataclass_fields__})


async def _tenant_path(session: AsyncSession, tenant_id: int) -> str:
    row = (await session.execute(text("SELECT region_path FROM tenant WHERE id = :t"), {"t": tenant_id})).first()
    if row is None:
        raise NotFoundError("Tenant", str(tenant_id))
    return str(row[0])


# --- the policy ----------------------------------------------------------------------------


async def get_policy(session: AsyncSession, tenant_id: int) -> Policy:
    row = (
        await session.execute(text("SELECT thresholds, automatic FROM escalation_policy WHERE tenant_id = :t"),
                              {"t": tenant_id})
    ).first()
    if row is None:
        return Policy(tenant_id, DEFAULT_THRESHOLDS, DEFAULT_AUTOMATIC, False)
    return Policy(tenant_id, tuple(row.thresholds), tuple(row.automatic), True)


async def set_policy(session: AsyncSession, principal: Principal, tenant_id: int, *,
                     thresholds: list[int], automatic: list[bool]) -> Policy:
    """Change a tenant's ladder; open deadlines are re-timed at once."""
    authorize(principal, "update", "escalation", await _tenant_path(session, tenant_id))
    if len(thresholds) != len(RUNGS):
        raise InvalidInput("thresholds", f"give {len(RUNGS)} thresholds, one per rung")
    if len(automatic) != len(RUNGS):
        raise InvalidInput("automatic", f"give {len(RUNGS)} flags, one per rung")
    for i, t in enumerate(thresholds):
        if not 1 <= t <= 250:
            raise InvalidInput(f"thresholds.{i}", "a threshold is 1-250 working days past due")
        if i and t <= thresholds[i - 1]:
            raise InvalidInput(f"thresholds.{i}", "thresholds must increase rung by rung")
    await session.execute(
        text("INSERT INTO escalation_policy (tenant_id, thresholds, automatic, updated_by)"
             " VALUES (:t, :th, :au, :u) ON CONFLICT (tenant_id) DO UPDATE SET thresholds = excluded.thresholds,"
             " automatic = excluded.automatic, updated_by = excluded.updated_by, updated_at = now()"),
        {"t": tenant_id, "th": thresholds, "au": automatic, "u": principal.user_id},
    )
    await deadlines.refresh_next(session, tenant_id=tenant_id)
    return await get_policy(session, tenant_id)


# --- the sweep -----------------------------------------------------------------------------

_RUNG_NAMES = "CAST(:rung_names AS text[])"
_RUNG_LABELS = "CAST(:rung_labels AS text[])"

# One pass: lock a batch of deadlines whose next rung is due, add the rung records, notices
# and jobs, and move each deadline one rung up; all in one statement (one transaction).
_SWEEP = f"""
WITH now_seq AS (
  SELECT working_seq AS seq FROM calendar_day WHERE day = :today
), due AS (
  SELECT d.tenant_id, d.id, d.rung + 1 AS rung, d.agency_id, d.agency_tenant_id, d.title, d.due_on,
         (SELECT seq FROM now_seq) - c.working_seq AS overdue,
         (coalesce(p.automatic, CAST(:default_automatic AS boolean[])))[d.rung + 1] AS automatic,
         coalesce(p.thresholds, CAST(:default_thresholds AS integer[])) AS thresholds
  FROM deadline d
  JOIN calendar_day c ON c.day = d.due_on
  LEFT JOIN escalation_policy p ON p.tenant_id = d.tenant_id
  WHERE d.escalate_from <= :today AND d.closed_at IS NULL AND d.suspended_at IS NULL
    AND d.escalate_from IS NOT NULL AND d.rung < 5
  ORDER BY d.escalate_from, d.tenant_id, d.id
  LIMIT :batch
  FOR UPDATE OF d SKIP LOCKED
), ins AS (
  INSERT INTO escalation (tenant_id, deadline_id, rung, agency_id, agency_tenant_id, status, automatic,
                          working_days_overdue, as_of, issued_at)
  SELECT tenant_id, id, rung, agency_id, agency_tenant_id,
         CASE WHEN automatic THEN 'issued' ELSE 'proposed' END, automatic, overdue, :today,
         CASE WHEN automatic THEN now() END
  FROM due
  ON CONFLICT (tenant_id, deadline_id, rung) DO NOTHING
  RETURNING tenant_id, id, deadline_id, rung, agency_id, status
), moved AS (
  UPDATE deadline d SET rung = due.rung, updated_at = now(),
         escalate_from = CASE WHEN due.rung >= 5 OR NOT due.automatic THEN NULL
                              ELSE ducha_add_working_days(due.due_on, due.thresholds[due.rung + 1]) END
  FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id
  RETURNING d.id
), offices AS (
  SELECT DISTINCT ON (a.tenant_id) a.tenant_id, a.id
  FROM agency a JOIN tenant t ON t.id = a.tenant_id AND t.region_code = a.region_code
  WHERE a.kind = 'office' AND a.tenant_id IN (SELECT tenant_id FROM ins)
  ORDER BY a.tenant_id, a.id
), notes AS (
  INSERT INTO notification (tenant_id, agency_id, kind, title, body, subject_type, subject_id, dedup_key)
  SELECT i.tenant_id,
         CASE WHEN i.status = 'issued' THEN i.agency_id ELSE coalesce(o.id, i.agency_id) END,
         'escalation.' || ({_RUNG_NAMES})[i.rung] || CASE WHEN i.status = 'issued' THEN '' ELSE '.proposed' END,
         CASE WHEN i.status = 'issued'
              THEN '【' || ({_RUNG_LABELS})[i.rung] || '】' || due.title || '：已逾期' || due.overdue || '个工作日'
              ELSE '【待决定】拟' || ({_RUNG_LABELS})[i.rung] || '：' || due.title || '（已逾期' || due.overdue || '个工作日）'
         END,
         '期限：' || to_char(due.due_on, 'YYYY-MM-DD'),
         'escalation', i.id, 'escalation:' || i.id || ':' || i.status
  FROM ins i JOIN due ON due.tenant_id = i.tenant_id AND due.id = i.deadline_id
  LEFT JOIN offices o ON o.tenant_id = i.tenant_id
  ON CONFLICT DO NOTHING
  RETURNING 1
), jobs AS (
  INSERT INTO outbox (tenant_id, actor, payload, dedup_key)
  SELECT tenant_id, '{DELIVER}', jsonb_build_object('escalation_id', id), '{DELIVER}:' || id
  FROM ins WHERE status = 'issued'
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM due) AS due,
       (SELECT count(*) FROM ins WHERE status = 'issued') AS issued,
       (SELECT count(*) FROM ins WHERE status = 'proposed') AS proposed,
       (SELECT count(*) FROM moved) AS moved,
       (SELECT count(*) FROM notes) AS notes,
       (SELECT count(*) FROM jobs) AS jobs
"""


@dataclass
class SweepResult:
    passes: int = 0
    due: int = 0
    issued: int = 0
    proposed: int = 0
    notifications: int = 0
    jobs: int = 0


def _sweep_params(today: date, batch: int) -> dict[str, Any]:
    return {
        "today": today, "batch": batch, "default_automatic": list(DEFAULT_AUTOMATIC),
        "default_thresholds": list(DEFAULT_THRESHOLDS),
        "rung_names": [r.name for r in RUNGS], "rung_labels": [r.label for r in RUNGS],
    }


async def sweep_once(session: AsyncSession, today: date, *, batch: int = 5000) -> SweepResult:
    """One pass of at most `batch` deadlines, in the caller's (system) transaction."""
    row = (await session.execute(text(_SWEEP), _sweep_params(today, batch))).one()
    return SweepResult(1, row.due, row.issued, row.proposed, row.notes, row.jobs)


async def sweep(db: Any, today: date | None = None, *, batch: int = 5000, max_passes: int = 1000) -> SweepResult:
    """Run passes (each its own transaction) until nothing is due; the scheduler's job."""
    today = today or calendar_store.today()
    total = SweepResult()
    async with db.system_session() as s:
        await calendar_store.ensure_years(s, today.year + 1)
    for _ in range(max_passes):
        async with db.system_session() as s:
            r = await sweep_once(s, today, batch=batch)
        total.passes += 1
        total.due += r.due
        total.issued += r.issued
        total.proposed += r.proposed
        total.notifications += r.notifications
        total.jobs += r.jobs
        if r.due == 0:
            break
    return total


# --- decisions and delivery ------------------------------------------------------------------


async def get_record(session: AsyncSession, escalation_id: int, *, lock: bool = False) -> Record:
    sql = f"SELECT {RECORD_COLUMNS} FROM escalation WHERE id = :i" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(sql), {"i": escalation_id})).first()
    if row is None:
        raise NotFoundError("Escalation", str(escalation_id))
    return record_of(row)


async def _issue(session: AsyncSession, rec: Record, title: str) -> None:
    """Tell the target and queue the delivery job of an issued rung (same transaction)."""
    rung = RUNGS[rec.rung - 1]
    await inbox.notify(
        session, tenant_id=rec.tenant_id, agency_id=rec.agency_id, kind=f"escalation.{rung.name}",
        title=f"【{rung.label}】{title}：已逾期{rec.working_days_overdue}个工作日",
        subject_type="escalation", subject_id=rec.id, dedup_key=f"escalation:{rec.id}:issued",
    )
    await session.execute(
        text("INSERT INTO outbox (tenant_id, actor, payload, dedup_key) VALUES (:t, :a, CAST(:p AS jsonb), :k)"
             " ON CONFLICT DO NOTHING"),
        {"t": rec.tenant_id, "a": DELIVER, "p": f'{{"escalation_id": {rec.id}}}', "k": f"{DELIVER}:{rec.id}"},
    )


async def decide(session: AsyncSession, principal: Principal, escalation_id: int, *, approve: bool,
                 reason: str) -> Record:
    """An office leader approves (the rung is issued) or declines a proposed rung; the climb resumes."""
    rec = await get_record(session, escalation_id, lock=True)
    authorize(principal, "decide", "escalation", await _tenant_path(session, rec.tenant_id))
    if rec.status != "proposed":
        raise TransitionError(rec.status, "decide", f"escalation {rec.id} is {rec.status}, not awaiting a decision")
    if not reason.strip() and not approve:
        raise InvalidInput("reason", "say why the rung is declined")
    status = "issued" if approve else "declined"
    await session.execute(
        text("UPDATE escalation SET status = :s, decided_at = now(), decided_by = :u, decision_reason = :r,"
             " issued_at = CASE WHEN :s = 'issued' THEN now() END WHERE tenant_id = :t AND id = :i"),
        {"s": status, "u": principal.user_id, "r": reason.strip()[:1000], "t": rec.tenant_id, "i": rec.id},
    )
    d = await deadlines.get(session, rec.tenant_id, rec.deadline_id)
    if approve:
        await _issue(session, rec, d.title)
    await deadlines.refresh_next(session, tenant_id=rec.tenant_id, ids=[rec.deadline_id])
    return await get_record(session, escalation_id)


async def deliver(session: AsyncSession, tenant_id: int, escalation_id: int) -> bool:
    """Apply an issued rung's delivery (the hook for its document). Counts every application,
    so a duplicate that slipped past the outbox's once-only guard would show as deliveries > 1."""
    row = (
        await session.execute(
            text("UPDATE escalation SET delivered_at = coalesce(delivered_at, now()), deliveries = deliveries + 1"
                 " WHERE tenant_id = :t AND id = :i AND status = 'issued' RETURNING id"),
            {"t": tenant_id, "i": escalation_id},
        )
    ).first()
    return row is not None


# --- leader actions on a deadline -----------------------------------------------------------


async def _leader_deadline(session: AsyncSession, principal: Principal, deadline_id: int, reason: str) -> Deadline:
    d = await deadlines.find(session, deadline_id, lock=True)
    authorize(principal, "decide", "escalation", await _tenant_path(session, d.tenant_id))
    if not reason.strip():
        raise InvalidInput("reason", "a reason is required")
    if d.closed_at is not None:
        raise TransitionError("closed", "change", "the deadline is closed (rectified or answered)")
    return d


async def suspend(session: AsyncSession, principal: Principal, deadline_id: int, *, reason: str) -> Deadline:
    """Stop the clock and the climb (e.g. a matter under review); resume restarts both."""
    d = await _leader_deadline(session, principal, deadline_id, reason)
    if d.suspended_at is not None:
        raise TransitionError("suspended", "suspend", "the deadline is already suspended")
    await session.execute(
        text("UPDATE deadline SET suspended_at = now(), suspended_by = :u, suspend_reason = :r, updated_at = now()"
             " WHERE tenant_id = :t AND id = :i"),
        {"u": principal.user_id, "r": reason.strip()[:1000], "t": d.tenant_id, "i": d.id},
    )
    await deadlines._log(session, d.tenant_id, d.id, "suspend", d.due_on, d.due_on, reason.strip(), principal.user_id)
    await inbox.notify(session, tenant_id=d.tenant_id, agency_id=d.agency_id, kind="deadline.suspended",
                       title=f"期限暂停：{d.title}", body=reason.strip()[:1000], subject_type="deadline",
                       subject_id=d.id, dedup_key=f"deadline:{d.id}:suspend:{d.due_on}:{d.rung}:{principal.user_id}:"
                                                  f"{calendar_store.today()}")
    return await deadlines.get(session, d.tenant_id, d.id)


async def resume(session: AsyncSession, principal: Principal, deadline_id: int, *, reason: str,
                 today: date | None = None) -> Deadline:
    """Restart a suspended deadline; its due date moves by the working days it was suspended."""
    d = await _leader_deadline(session, principal, deadline_id, reason)
    if d.suspended_at is None:
        raise TransitionError("running", "resume", "the deadline is not suspended")
    today = today or calendar_store.today()
    cal = await calendar_store.working_calendar(session)
    since = d.suspended_at.astimezone(calendar_store.CHINA).date()
    paused = max(0, cal.working_days_between(since, today)) if today > since else 0
    await session.execute(
        text("UPDATE deadline SET suspended_at = NULL, suspended_by = NULL, suspend_reason = NULL, updated_at = now()"
             " WHERE tenant_id = :t AND id = :i"),
        {"t": d.tenant_id, "i": d.id},
    )
    if paused:
        extra = d.extra_days + paused
        due, provisional = deadlines.compute_due(cal, d.rule, d.basis_on, d.rule_days, extra)
        return await deadlines.set_due(session, d, due_on=due, provisional=provisional, kind="resume",
                                       reason=reason.strip(), by_user=principal.user_id, extra_days=extra)
    await deadlines._log(session, d.tenant_id, d.id, "resume", d.due_on, d.due_on, reason.strip(), principal.user_id)
    await deadlines.refresh_next(session, tenant_id=d.tenant_id, ids=[d.id])
    return await deadlines.get(session, d.tenant_id, d.id)


async def extend(session: AsyncSession, principal: Principal, deadline_id: int, *, reason: str,
                 working_days: int | None = None, new_due_on: date | None = None) -> Deadline:
    """Give more time: N more working days, or a later date chosen by the leader."""
    d = await _leader_deadline(session, principal, deadline_id, reason)
    if (working_days is None) == (new_due_on is None):
        raise InvalidInput("workingDays", "give either workingDays or newDueOn")
    cal = await calendar_store.working_calendar(session)
    if working_days is not None:
        if not 1 <= working_days <= 250:
            raise InvalidInput("workingDays", "extend by 1-250 working days")
        extra = d.extra_days + working_days
        due, provisional = deadlines.compute_due(cal, d.rule, d.basis_on, d.rule_days, extra)
        d2 = await deadlines.set_due(session, d, due_on=due, provisional=provisional, kind="extend",
                                     reason=reason.strip(), by_user=principal.user_id, extra_days=extra)
    else:
        assert new_due_on is not None
        if new_due_on <= d.due_on:
            raise InvalidInput("newDueOn", f"the new date must be after {d.due_on:%Y-%m-%d}")
        if new_due_on not in cal:
            raise InvalidInput("newDueOn", "the date is beyond the stored calendar")
        d2 = await deadlines.set_due(session, d, due_on=new_due_on, provisional=False, kind="extend",
                                     reason=reason.strip(), by_user=principal.user_id, extra_days=0,
                                     rule="fixed", basis_on=new_due_on)
    await inbox.notify(session, tenant_id=d.tenant_id, agency_id=d.agency_id, kind="deadline.extended",
                       title=f"期限延长：{d.title} 延至 {d2.due_on:%Y-%m-%d}", body=reason.strip()[:1000],
                       subject_type="deadline", subject_id=d.id,
                       dedup_key=f"deadline:{d.id}:extend:{d.due_on}:{d2.due_on}")
    return d2
