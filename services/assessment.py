"""Assessment (考核, 002 (十二); 000: bottom-ranked units' heads are interviewed): a yearly
indicator set per tenant, versioned; indicators computed from the data (through the roll-up's
summary rows, so a score and the dashboard can never disagree) or scored by hand; scores per
unit and per lower tenant with their explanation; ranking within a level; the bottom N proposed
to the office leader for an interview (约谈), who decides.

A change of the set makes a new version and supersedes the old one; every run keeps the
version it was scored on, and every score stores its explanation as computed then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, inbox
from ducha.services.errors import InvalidInput, NotFoundError, TransitionError
from ducha.tenants.principal import Principal

# metric -> (label, kind, counters behind it / how it is read)
METRICS: dict[str, tuple[str, str]] = {
    "on_time_rectification_rate": ("按期整改率", "rate"),
    "overdue_problems": ("逾期未整改问题", "count"),
    "escalation_rungs": ("升级督办层级（催办1…移送5）", "count"),
    "clue_timeliness": ("线索按时移送率", "rate"),
    "self_inspection_punctuality": ("自查报告按时提交率", "rate"),
}
DEFAULT_CAP = {"overdue_problems": 10, "escalation_rungs": 15}
# the drill-down behind each computed indicator (roll-up figure names)
DRILL = {"on_time_rectification_rate": "problems_closed", "overdue_problems": "problems_overdue",
         "escalation_rungs": "escalations", "clue_timeliness": "clues_transferred"}
UNIT_EXCLUDED = ("office", "committee")
LEVEL_LABELS = {"province": "省直单位", "city": "市直单位", "county": "县直单位", "town": "乡镇（街道）"}
TWO = Decimal("0.01")


@dataclass(frozen=True)
class IndicatorIn:
    code: str
    name: str
    kind: str  # computed | manual
    weight: Decimal
    metric: str | None = None
    cap: int | None = None


def _d(v: Any) -> Decimal:
    return Decimal(str(v)).quantize(TWO, rounding=ROUND_HALF_UP)


async def save_set(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int,
                   indicators: list[IndicatorIn], note: str = "") -> int:
    """A new version of the tenant's set for the year (the previous one is superseded); its id."""
    access.require(principal, "create", "assessment", await access.tenant_path(session, tenant_id))
    if not 2000 <= year <= 2100:
        raise InvalidInput("year", "2000-2100")
    if not 1 <= len(indicators) <= 30:
        raise InvalidInput("indicators", "1-30 indicators")
    codes: set[str] = set()
    total = Decimal(0)
    for n, i in enumerate(indicators):
        if i.code in codes:
            raise InvalidInput(f"indicators.{n}.code", "codes are unique within a set")
        codes.add(i.code)
        if not i.name.strip():
            raise InvalidInput(f"indicators.{n}.name", "an indicator has a name")
        if i.kind not in ("computed", "manual"):
            raise InvalidInput(f"indicators.{n}.kind", "computed or manual")
        if i.kind == "computed" and i.metric not in METRICS:
            raise InvalidInput(f"indicators.{n}.metric", f"one of {sorted(METRICS)}")
        if i.kind == "manual" and i.metric is not None:
            raise InvalidInput(f"indicators.{n}.metric", "a hand-scored indicator has no metric")
        if not Decimal(0) < i.weight <= Decimal(100):
            raise InvalidInput(f"indicators.{n}.weight", "a weight is more than 0 and at most 100")
        if i.cap is not None and i.cap < 1:
            raise InvalidInput(f"indicators.{n}.cap", "a cap is at least 1")
        total += i.weight
    if total != Decimal(100):
        raise InvalidInput("indicators", f"the weights add up to {total}, not 100")
    version = int((await session.execute(text(
        "SELECT coalesce(max(version), 0) + 1 FROM assessment_set WHERE tenant_id = :t AND year = :y"),
        {"t": tenant_id, "y": year})).scalar_one())
    await session.execute(text("UPDATE assessment_set SET status = 'superseded' WHERE tenant_id = :t AND year = :y"
                               " AND status = 'active'"), {"t": tenant_id, "y": year})
    set_id = int((await session.execute(text(
        "INSERT INTO assessment_set (tenant_id, year, version, status, note, created_by)"
        " VALUES (:t, :y, :v, 'active', :n, :u) RETURNING id"),
        {"t": tenant_id, "y": year, "v": version, "n": note[:2000], "u": principal.user_id})).scalar_one())
    for pos, i in enumerate(indicators):
        await session.execute(text(
            "INSERT INTO assessment_indicator (tenant_id, set_id, position, code, name, kind, metric, weight, cap)"
            " VALUES (:t, :s, :p, :c, :n, :k, :m, :w, :cap)"),
            {"t": tenant_id, "s": set_id, "p": pos, "c": i.code, "n": i.name.strip()[:200], "k": i.kind,
             "m": i.metric, "w": i.weight, "cap": i.cap})
    return set_id


async def active_set(session: AsyncSession, tenant_id: int, year: int) -> Any:
    row = (await session.execute(text(
        "SELECT id, version FROM assessment_set WHERE tenant_id = :t AND year = :y AND status = 'active'"),
        {"t": tenant_id, "y": year})).first()
    if row is None:
        raise NotFoundError("AssessmentSet", f"{tenant_id}/{year}")
    return row


async def indicators_of(session: AsyncSession, tenant_id: int, set_id: int) -> list[Any]:
    return list((await session.execute(text(
        "SELECT id, code, name, kind, metric, weight, cap FROM assessment_indicator WHERE tenant_id = :t"
        " AND set_id = :s ORDER BY position"), {"t": tenant_id, "s": set_id})).all())


async def score_by_hand(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int, code: str,
                        subject_type: str, subject_id: int, score: Decimal, note: str = "") -> None:
    """A hand score (0-100) of a manual indicator for one subject; kept across versions by code."""
    access.require(principal, "update", "assessment", await access.tenant_path(session, tenant_id))
    if subject_type not in ("agency", "tenant"):
        raise InvalidInput("subjectType", "agency or tenant")
    if not Decimal(0) <= score <= Decimal(100):
        raise InvalidInput("score", "0-100")
    s = await active_set(session, tenant_id, year)
    kinds = {i.code: i.kind for i in await indicators_of(session, tenant_id, s.id)}
    if kinds.get(code) != "manual":
        raise InvalidInput("code", "not a hand-scored indicator of this year's set")
    await _subject_name(session, tenant_id, subject_type, subject_id)
    await session.execute(text(
        "INSERT INTO assessment_manual_score (tenant_id, year, code, subject_type, subject_id, score, note, scored_by)"
        " VALUES (:t, :y, :c, :st, :si, :s, :n, :u) ON CONFLICT (tenant_id, year, code, subject_type, subject_id)"
        " DO UPDATE SET score = excluded.score, note = excluded.note, scored_by = excluded.scored_by, scored_at = now()"),
        {"t": tenant_id, "y": year, "c": code, "st": subject_type, "si": subject_id, "s": score, "n": note[:2000],
         "u": principal.user_id})


async def _subject_name(session: AsyncSession, tenant_id: int, subject_type: str, subject_id: int) -> str:
    if subject_type == "agency":
        row = (await session.execute(text("SELECT name FROM agency WHERE id = :a AND tenant_id = :t"),
                                     {"a": subject_id, "t": tenant_id})).first()
    else:
        row = (await session.execute(text("SELECT name FROM tenant WHERE id = :s AND parent_id = :t"),
                                     {"s": subject_id, "t": tenant_id})).first()
    if row is None:
        raise InvalidInput("subjectId", "not a unit of this tenant nor a tenant directly below it")
    return str(row[0])


@dataclass
class Subject:
    type: str
    id: int
    name: str
    tenant_id: int
    agency_id: int | None
    region_code: str  # the roll-up node: the unit's region (with agency_id) or the tenant's region
    group: str


async def _subjects(session: AsyncSession, tenant_id: int, level: str) -> list[Subject]:
    if level == "unit":
        rows = (await session.execute(text(
            "SELECT a.id, a.name, a.tenant_id, a.region_code, r.level FROM agency a JOIN region r ON r.code = a.region_code"
            " WHERE a.tenant_id = :t AND a.kind <> ALL(CAST(:x AS text[])) ORDER BY a.id"),
            {"t": tenant_id, "x": list(UNIT_EXCLUDED)})).all()
        return [Subject("agency", r.id, r.name, r.tenant_id, r.id, r.region_code, LEVEL_LABELS.get(r.level, r.level))
                for r in rows]
    rows = (await session.execute(text("SELECT id, name, region_code FROM tenant WHERE parent_id = :t ORDER BY id"),
                                  {"t": tenant_id})).all()
    return [Subject("tenant", r.id, r.name, r.id, None, r.region_code, "下级地区") for r in rows]


async def _counters(session: AsyncSession, s: Subject, year: int) -> dict[str, int]:
    """The subject's roll-up counters for the year (summary rows: the unit leaf or the tenant's region)."""
    from ducha.services.rollups import COUNTERS

    node = "s.region_code = :r AND s.agency_id = :a" if s.agency_id else "s.region_code = :r AND s.agency_id = 0"
    sums = ", ".join(f"coalesce(sum(s.{c}), 0)::bigint AS {c}" for c in COUNTERS)
    row = (await session.execute(text(
        f"SELECT {sums} FROM rollup_summary s WHERE {node} AND s.gset = 1 AND s.month BETWEEN :m0 AND :m1"),
        {"r": s.region_code, "a": s.agency_id or 0, "m0": date(year, 1, 1), "m1": date(year, 12, 1)})).mappings().one()
    return {c: int(row[c]) for c in COUNTERS}


async def _self_inspections(session: AsyncSession, s: Subject, year: int, as_of: date) -> tuple[int, int, list[int]]:
    """(requested, submitted on time, ids of the late or missing) for reports due in the year, as of a day:
    a report not in yet whose due day has not passed is not counted (the unit may still submit on time)."""
    col = "agency_id" if s.agency_id else "target_tenant_id"
    rows = (await session.execute(text(
        f"SELECT id, submitted_at IS NOT NULL AND NOT coalesce(late, false) AS ok FROM self_inspection"
        f" WHERE {col} = :i AND due_on BETWEEN :d0 AND :d1 AND (submitted_at IS NOT NULL OR due_on < :today)"
        f" ORDER BY id"),
        {"i": s.agency_id or s.tenant_id, "d0": date(year, 1, 1), "d1": date(year, 12, 31), "today": as_of})).all()
    return len(rows), sum(1 for r in rows if r.ok), [int(r.id) for r in rows if not r.ok]


def _line(ind: Any, value: Decimal | None, score: Decimal, **more: Any) -> dict[str, Any]:
    weight = _d(ind.weight)
    return {"code": ind.code, "name": ind.name, "kind": ind.kind, "metric": ind.metric, "weight": str(weight),
            "value": None if value is None else str(value), "score": str(score), "lost": str(weight - score), **more}


async def _explain(session: AsyncSession, s: Subject, year: int, inds: list[Any],
                   manual: dict[tuple[str, str, int], Any], as_of: date) -> tuple[Decimal, list[dict[str, Any]]]:
    c = await _counters(session, s, year)
    lines = []
    for ind in inds:
        weight = _d(ind.weight)
        drill = {"figure": DRILL.get(ind.metric or ""), "regionCode": s.region_code,
                 "agencyId": str(s.agency_id) if s.agency_id else None, "year": year}
        if ind.kind == "manual":
            m = manual.get((ind.code, s.type, s.id))
            if m is None:
                lines.append(_line(ind, None, Decimal("0.00"), note="未评分（尚无人工评分）", missing=True))
            else:
                lines.append(_line(ind, _d(m.score), _d(weight * Decimal(m.score) / 100), note=m.note or "人工评分"))
            continue
        metric = ind.metric
        if metric in ("on_time_rectification_rate", "clue_timeliness"):
            num, den = ((c["problems_closed_on_time"], c["problems_closed"]) if metric == "on_time_rectification_rate"
                        else (c["clues_transferred_on_time"], c["clues_transferred"]))
            rate = Decimal(num) / Decimal(den) if den else None
            score = _d(weight * (rate if rate is not None else 1))
            lines.append(_line(ind, None if rate is None else rate.quantize(Decimal("0.0001")), score,
                               numerator=num, denominator=den, drillDown=drill,
                               note="无可计算事项，记满分" if den == 0 else f"{num}/{den}"))
        elif metric == "self_inspection_punctuality":
            asked, ok, bad = await _self_inspections(session, s, year, as_of)
            rate = Decimal(ok) / Decimal(asked) if asked else None
            score = _d(weight * (rate if rate is not None else 1))
            lines.append(_line(ind, None if rate is None else rate.quantize(Decimal("0.0001")), score, numerator=ok,
                               denominator=asked, itemIds=[str(i) for i in bad[:50]], itemType="self_inspection",
                               note="本年度未要求自查，记满分" if not asked else f"{ok}/{asked} 按时提交"))
        else:
            from ducha.services.rollups import ESC_ISSUED

            if metric == "overdue_problems":
                value = c["problems_overdue"]
                note = f"逾期未整改问题 {value} 个"
            else:  # escalation rungs: a referral weighs five reminders
                value = sum(c[k] * (n + 1) for n, k in enumerate(ESC_ISSUED))
                note = "、".join(f"{lbl}{c[k]}次" for k, lbl in zip(ESC_ISSUED, ("催办", "督办函", "约谈", "通报批评", "移送"),
                                                                    strict=True) if c[k]) or "无升级督办"
            cap = ind.cap or DEFAULT_CAP[metric]
            score = _d(weight * max(Decimal(0), 1 - Decimal(value) / Decimal(cap)))
            lines.append(_line(ind, Decimal(value), score, cap=cap, drillDown=drill, note=note))
    total = sum((Decimal(x["score"]) for x in lines), Decimal(0))
    return total.quantize(TWO), lines


async def run(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int, level: str,
              bottom_n: int = 0, as_of: date | None = None) -> int:
    """Score every subject of a level on the active set, rank within each group, and propose the
    bottom N of each group for an interview; returns the run id."""
    path = await access.tenant_path(session, tenant_id)
    access.require(principal, "create", "assessment", path)
    if level not in ("unit", "tenant"):
        raise InvalidInput("level", "unit or tenant")
    if not 0 <= bottom_n <= 50:
        raise InvalidInput("bottomN", "0-50")
    s = await active_set(session, tenant_id, year)
    inds = await indicators_of(session, tenant_id, s.id)
    subjects = await _subjects(session, tenant_id, level)
    if not subjects:
        raise TransitionError("no_subjects", "run the assessment", "this level has no subjects")
    manual = {(r.code, r.subject_type, r.subject_id): r for r in (await session.execute(text(
        "SELECT code, subject_type, subject_id, score, note FROM assessment_manual_score WHERE tenant_id = :t AND year = :y"),
        {"t": tenant_id, "y": year})).all()}
    from ducha.services import calendar_store

    today = as_of or calendar_store.today()  # the day in China
    run_id = int((await session.execute(text(
        "INSERT INTO assessment_run (tenant_id, set_id, year, level, as_of, bottom_n, computed_by)"
        " VALUES (:t, :s, :y, :l, :d, :n, :u) RETURNING id"),
        {"t": tenant_id, "s": s.id, "y": year, "l": level, "d": today, "n": bottom_n, "u": principal.user_id})).scalar_one())
    scored = []
    for subj in subjects:
        total, lines = await _explain(session, subj, year, inds, manual, today)
        scored.append((subj, total, lines))
    groups: dict[str, list[tuple[Subject, Decimal, list[dict[str, Any]]]]] = {}
    for item in scored:
        groups.setdefault(item[0].group, []).append(item)
    for group, items in groups.items():
        items.sort(key=lambda x: (-x[1], x[0].id))
        proposed, straddling_at = bottom_cut([t for _, t, _ in items], bottom_n)
        straddling: list[Subject] = []
        straddle_rank = 0
        rank = 0
        for n, (subj, total, lines) in enumerate(items):
            if n == 0 or total != items[n - 1][1]:
                rank = n + 1  # competition ranking: ties share a rank
            score_id = int((await session.execute(text(
                "INSERT INTO assessment_score (tenant_id, run_id, subject_type, subject_id, subject_name,"
                " subject_tenant_id, subject_agency_id, group_label, total, rank, group_size, explanation)"
                " VALUES (:t, :r, :st, :si, :sn, :stt, :sa, :g, :tot, :rank, :size, CAST(:e AS jsonb)) RETURNING id"),
                {"t": tenant_id, "r": run_id, "st": subj.type, "si": subj.id, "sn": subj.name, "stt": subj.tenant_id,
                 "sa": subj.agency_id, "g": group, "tot": total, "rank": rank, "size": len(items),
                 "e": json.dumps({"set_version": s.version, "lines": lines}, ensure_ascii=False)})).scalar_one())
            if n in proposed:
                await _propose(session, tenant_id, run_id, score_id, subj, group, rank, len(items), total, year)
            elif n in straddling_at:
                straddling.append(subj)
                straddle_rank = rank
        if straddling:
            await _tie_at_cut(session, tenant_id, run_id, group, straddling, straddle_rank, len(items), bottom_n, year)
    return run_id


def bottom_cut(totals: list[Any], bottom_n: int) -> tuple[set[int], set[int]]:
    """Of totals sorted best first, the positions proposed as the bottom N, and those of a tie
    that straddles the cut. Whole tie groups only: an interview is a sanction, so a tie across
    the line is not broken by an arbitrary order; the office leader is told who shares it."""
    size = len(totals)
    cut = size - bottom_n if 0 < bottom_n else size
    proposed: set[int] = set()
    straddling: set[int] = set()
    start = 0
    while start < size:
        end = start
        while end + 1 < size and totals[end + 1] == totals[start]:
            end += 1
        group = set(range(start, end + 1))
        if start >= cut:
            proposed |= group
        elif end >= cut:
            straddling |= group
        start = end + 1
    return proposed, straddling


async def _tie_at_cut(session: AsyncSession, tenant_id: int, run_id: int, group: str, tied: list[Subject], rank: int,
                      size: int, bottom_n: int, year: int) -> None:
    office = await _office_agency(session, tenant_id)
    if office is None:
        return
    names = "、".join(x.name for x in tied)
    await inbox.notify(session, tenant_id=tenant_id, agency_id=office, kind="assessment.interview.tie",
                       title=f"【待研究】{group}末位{bottom_n}名分界处并列：{len(tied)}个单位并列第{rank}/{size}名",
                       body=f"{year}年度法治建设考核{group}：{names}并列第{rank}名，跨越末位{bottom_n}名分界线，"
                            "未自动拟约谈，请研究确定。",
                       subject_type="assessment_run", subject_id=run_id,
                       dedup_key=f"assessment_run:{run_id}:tie:{group}")


async def _office_agency(session: AsyncSession, tenant_id: int) -> int | None:
    row = (await session.execute(text(
        "SELECT a.id FROM agency a JOIN tenant t ON t.id = a.tenant_id AND t.region_code = a.region_code"
        " WHERE a.tenant_id = :t AND a.kind = 'office' ORDER BY a.id LIMIT 1"), {"t": tenant_id})).first()
    return int(row[0]) if row else None


async def _propose(session: AsyncSession, tenant_id: int, run_id: int, score_id: int, subj: Subject, group: str,
                   rank: int, size: int, total: Decimal, year: int) -> None:
    reason = f"{year}年度法治建设考核{group}排名第{rank}/{size}（{total}分），拟约谈主要负责人"
    iid = int((await session.execute(text(
        "INSERT INTO assessment_interview (tenant_id, run_id, score_id, subject_type, subject_id, subject_tenant_id,"
        " subject_agency_id, reason) VALUES (:t, :r, :s, :st, :si, :stt, :sa, :why) RETURNING id"),
        {"t": tenant_id, "r": run_id, "s": score_id, "st": subj.type, "si": subj.id, "stt": subj.tenant_id,
         "sa": subj.agency_id, "why": reason})).scalar_one())
    office = await _office_agency(session, tenant_id)
    if office is not None:  # the leader's inbox is the office's: like a rung awaiting a decision
        await inbox.notify(session, tenant_id=tenant_id, agency_id=office, kind="assessment.interview.proposed",
                           title=f"【待决定】拟约谈：{subj.name}（考核排名倒数）", body=reason,
                           subject_type="assessment_interview", subject_id=iid,
                           dedup_key=f"assessment_interview:{iid}:proposed")


async def decide_interview(session: AsyncSession, principal: Principal, interview_id: int, *, approve: bool,
                           reason: str = "") -> None:
    """The office leader approves (the unit's head is told) or declines a proposed interview."""
    row = (await session.execute(text(
        "SELECT tenant_id, id, status, subject_type, subject_id, subject_tenant_id, subject_agency_id, reason"
        " FROM assessment_interview WHERE id = :i FOR UPDATE"), {"i": interview_id})).first()
    if row is None:
        raise NotFoundError("AssessmentInterview", str(interview_id))
    access.require(principal, "approve", "assessment", await access.tenant_path(session, row.tenant_id),
                   roles=frozenset({"office_leader"}))
    if row.status != "proposed":
        raise TransitionError(row.status, "decide", "the interview is decided already")
    if not approve and not reason.strip():
        raise InvalidInput("reason", "say why the interview is declined")
    status = "approved" if approve else "declined"
    await session.execute(text(
        "UPDATE assessment_interview SET status = :s, decided_by = :u, decided_at = now(), decision_reason = :r"
        " WHERE tenant_id = :t AND id = :i"),
        {"s": status, "u": principal.user_id, "r": reason.strip()[:2000], "t": row.tenant_id, "i": row.id})
    if approve:
        to = row.subject_agency_id or await _office_agency(session, row.subject_tenant_id)
        if to is not None:
            await inbox.notify(session, tenant_id=row.tenant_id, agency_id=to, kind="assessment.interview",
                               title="【约谈通知】法治建设考核排名靠后，请主要负责人按时参加约谈", body=row.reason,
                               subject_type="assessment_interview", subject_id=row.id,
                               dedup_key=f"assessment_interview:{row.id}:approved")
