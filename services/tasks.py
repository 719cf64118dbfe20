"""Key-task lists (重点任务清单, seed 002): tasks with number, content, lead units (责任单位),
participating units (参加单位), responsible person, deadline and acceptance standard; progress
reports by the units; each lead unit's deadline watched by the escalation ladder.
Responsibility letters (法治建设责任书) signed per head, law-reporting reviews (述法评议) with
five-year coverage per head, and observation points (法治观察点) with coverage per town.

Unit names as a task list writes them ("县委办", "县司法局", "各镇", "县直各执法部门") are
resolved against the tenant's directory by `UnitResolver`; an import resolves every name
first and writes nothing when any is unresolvable (all of them are reported).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import access, deadlines, inbox
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, TransitionError
from ducha.tenants.principal import Principal

# Groups a task list names instead of units; what they cover in the county's directory.
NOT_DEPARTMENTS = ("office", "committee", "party_committee", "government", "town", "zone")
GROUPS: dict[str, Any] = {
    "各镇": lambda a, county: a.kind == "town",
    "各乡镇": lambda a, county: a.kind == "town",
    "县直各部门": lambda a, county: a.region_code == county and a.kind not in NOT_DEPARTMENTS,
    "县直有关部门": lambda a, county: a.region_code == county and a.kind not in NOT_DEPARTMENTS,
    "县直各执法部门": lambda a, county: a.region_code == county and a.kind == "enforcement",
    "县直重点执法部门": lambda a, county: a.region_code == county and a.kind == "enforcement",
}
# Generic names of offices every county has, by kind.
BY_KIND = {"县委依法治县办": "office", "县委全面依法治县委员会办公室": "office", "县委法治建设议事协调机构": "committee",
           "县委全面依法治县委员会": "committee", "县法院": "court", "县人民法院": "court", "县检察院": "procuratorate",
           "县人民检察院": "procuratorate", "县纪委监委": "discipline", "县纪委监委机关": "discipline",
           "县委巡察办": "inspection_tour", "县司法局": "justice", "县信访局": "petition"}
# Short forms a list may use for another short form.
SYNONYMS = {"政府办": "县政府办", "县组织部": "县委组织部", "县委办公室": "县委办", "县政府办公室": "县政府办"}
SPLIT = re.compile(r"[、，,；;\s]+")
PAREN = re.compile(r"[（(][^）)]*[）)]")


@dataclass
class Unresolved:
    row: int
    column: str
    name: str


class UnresolvedUnits(InvalidInput):
    """Some unit names match no agency of the tenant: nothing was imported."""

    def __init__(self, items: list[Unresolved]) -> None:
        names = "、".join(dict.fromkeys(u.name for u in items))
        super().__init__("units", f"无法识别的单位：{names}（未导入任何任务）")
        self.items = items


@dataclass(frozen=True)
class AgencyRow:
    id: int
    tenant_id: int
    kind: str
    name: str
    short_name: str | None
    region_code: str


class UnitResolver:
    """Names as written in a county's documents -> the county's agencies."""

    def __init__(self, county_code: str, county_name: str, agencies: Sequence[AgencyRow]) -> None:
        self.county = county_code
        self.agencies = list(agencies)
        self.names: dict[str, list[AgencyRow]] = {}
        short = county_name[:-1] if county_name.endswith("县") else county_name
        for a in agencies:
            keys = {a.name}
            if a.short_name:
                keys.add(a.short_name)
            for full in (county_name, short):
                if full in a.name:
                    local = a.name.replace(full, "县", 1)
                    keys |= {local, local.removeprefix("中共")}
            for k in keys:
                self.names.setdefault(k, []).append(a)
        for alias, kind in BY_KIND.items():
            hits = [a for a in agencies if a.kind == kind and a.region_code == county_code]
            if len(hits) == 1 and alias not in self.names:
                self.names[alias] = hits

    def split(self, cell: str | None) -> list[str]:
        return [p for p in SPLIT.split(cell or "") if p]

    def resolve(self, name: str) -> list[AgencyRow] | None:
        if name in GROUPS:
            hits = [a for a in self.agencies if GROUPS[name](a, self.county)]
            return hits or None
        for candidate in (name, PAREN.sub("", name), SYNONYMS.get(name), SYNONYMS.get(PAREN.sub("", name))):
            if candidate and candidate in self.names and len(self.names[candidate]) == 1:
                return self.names[candidate]
        return None


async def resolver_for(session: AsyncSession, tenant_id: int) -> UnitResolver:
    t = (await session.execute(text("SELECT t.region_code, r.name FROM tenant t JOIN region r ON r.code = t.region_code"
                                    " WHERE t.id = :t"), {"t": tenant_id})).first()
    if t is None:
        raise NotFoundError("Tenant", str(tenant_id))
    rows = (await session.execute(text("SELECT id, tenant_id, kind, name, short_name, region_code FROM agency"
                                       " WHERE tenant_id = :t ORDER BY id"), {"t": tenant_id})).all()
    return UnitResolver(t.region_code, t.name, [AgencyRow(*r) for r in rows])


@dataclass
class TaskIn:
    number: int
    content: str
    lead_units: str
    participating_units: str = ""
    responsible_person: str = ""
    due_on: date | None = None
    acceptance_standard: str = ""
    section: str = ""
    row: int = 0
    units: dict[str, list[AgencyRow]] = field(default_factory=dict)


def _text(value: Any, limit: int) -> str:
    return ("" if value is None else str(value)).strip()[:limit]


async def create_list(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int, title: str,
                      tasks: Sequence[TaskIn], source_name: str | None = None) -> int:
    """A task list with its tasks, every unit resolved first (nothing is written otherwise)."""
    access.require(principal, "create", "task", await access.tenant_path(session, tenant_id))
    if not 2000 <= year <= 2100:
        raise InvalidInput("year", "2000-2100")
    title = title.strip()
    if not 1 <= len(title) <= 300:
        raise InvalidInput("title", "1-300 characters")
    if not tasks:
        raise InvalidInput("tasks", "a list has at least one task")
    res = await resolver_for(session, tenant_id)
    missing: list[Unresolved] = []
    numbers: set[int] = set()
    for t in tasks:
        if t.number in numbers:
            raise InvalidInput(f"rows.{t.row}.number", f"task number {t.number} appears twice")
        numbers.add(t.number)
        if not t.content.strip():
            raise InvalidInput(f"rows.{t.row}.content", "a task has content")
        for column, cell in (("lead", t.lead_units), ("participant", t.participating_units)):
            found: dict[int, AgencyRow] = {}
            for name in res.split(cell):
                hits = res.resolve(name)
                if hits is None:
                    missing.append(Unresolved(t.row, column, name))
                else:
                    found.update({a.id: a for a in hits})
            t.units[column] = list(found.values())
        if not t.units["lead"] and not any(u.row == t.row and u.column == "lead" for u in missing):
            raise InvalidInput(f"rows.{t.row}.leadUnits", "a task names its lead unit(s)")
    if missing:
        raise UnresolvedUnits(missing)
    exists = (await session.execute(text("SELECT 1 FROM task_list WHERE tenant_id = :t AND year = :y AND title = :n"),
                                    {"t": tenant_id, "y": year, "n": title})).first()
    if exists:
        raise ConflictError(f"a task list {title!r} for {year} exists already")
    list_id = int((await session.execute(text(
        "INSERT INTO task_list (tenant_id, year, title, source_name, created_by) VALUES (:t, :y, :n, :s, :u) RETURNING id"),
        {"t": tenant_id, "y": year, "n": title, "s": source_name, "u": principal.user_id})).scalar_one())
    for t in tasks:
        task_id = int((await session.execute(text(
            "INSERT INTO task (tenant_id, list_id, number, section, content, lead_units, participating_units,"
            " responsible_person, due_on, acceptance_standard) VALUES (:t, :l, :n, :sec, :c, :lead, :part, :p, :d, :a)"
            " RETURNING id"),
            {"t": tenant_id, "l": list_id, "n": t.number, "sec": _text(t.section, 300), "c": _text(t.content, 4000),
             "lead": _text(t.lead_units, 2000), "part": _text(t.participating_units, 2000),
             "p": _text(t.responsible_person, 100), "d": t.due_on, "a": _text(t.acceptance_standard, 2000)})).scalar_one())
        for role, units in (("lead", t.units["lead"]), ("participant", t.units["participant"])):
            for a in units:
                unit_id = int((await session.execute(text(
                    "INSERT INTO task_unit (tenant_id, task_id, agency_id, agency_tenant_id, role)"
                    " VALUES (:t, :k, :a, :at, :r) ON CONFLICT DO NOTHING RETURNING id"),
                    {"t": tenant_id, "k": task_id, "a": a.id, "at": a.tenant_id, "r": role})).scalar_one_or_none() or 0)
                if role == "lead" and t.due_on is not None and unit_id:
                    # each lead unit answers for its part by the deadline: the ladder watches it
                    await deadlines.track(session, tenant_id=tenant_id, subject_type="task", subject_id=unit_id,
                                          agency_id=a.id, agency_tenant_id=a.tenant_id, due_on=t.due_on,
                                          provisional=False, title=f"重点任务{t.number}：{_text(t.content, 60)}",
                                          by_user=principal.user_id)
    return list_id


async def report_progress(session: AsyncSession, principal: Principal, *, task_id: int, agency_id: int, body: str,
                          percent: int, completes: bool = False) -> int:
    """A unit of the task reports its progress; a lead unit's completion closes its deadline."""
    task = (await session.execute(text("SELECT tenant_id, id, status FROM task WHERE id = :i"), {"i": task_id})).first()
    if task is None:
        raise NotFoundError("Task", str(task_id))
    agency = await access.agency(session, agency_id)
    access.require_for_agency(principal, "feedback", "task", agency)
    units = (await session.execute(text("SELECT id, role, done_at FROM task_unit WHERE tenant_id = :t AND task_id = :k"
                                         " AND agency_id = :a"), {"t": task.tenant_id, "k": task.id, "a": agency_id})).all()
    if not units:
        raise InvalidInput("agencyId", "not a unit of this task")
    if task.status == "done":
        raise TransitionError("done", "report progress", "the task is done")
    if not 0 <= percent <= 100:
        raise InvalidInput("percent", "0-100")
    body = body.strip()
    if not 1 <= len(body) <= 20000:
        raise InvalidInput("body", "1-20000 characters")
    pid = int((await session.execute(text(
        "INSERT INTO task_progress (tenant_id, task_id, agency_id, agency_tenant_id, body, percent, completes, author_id)"
        " VALUES (:t, :k, :a, :at, :b, :p, :c, :u) RETURNING id"),
        {"t": task.tenant_id, "k": task.id, "a": agency_id, "at": agency.tenant_id, "b": body,
         "p": 100 if completes else percent, "c": completes, "u": principal.user_id})).scalar_one())
    if completes:
        for u in units:
            if u.done_at is None:
                await session.execute(text("UPDATE task_unit SET done_at = now() WHERE tenant_id = :t AND id = :i"),
                                      {"t": task.tenant_id, "i": u.id})
                if u.role == "lead":
                    await deadlines.close(session, "task", u.id, task.tenant_id, reason="completed",
                                          by_user=principal.user_id)
        open_leads = (await session.execute(text(
            "SELECT count(*) FROM task_unit WHERE tenant_id = :t AND task_id = :k AND role = 'lead' AND done_at IS NULL"),
            {"t": task.tenant_id, "k": task.id})).scalar_one()
        if open_leads == 0:
            await session.execute(text("UPDATE task SET status = 'done', completed_at = now() WHERE tenant_id = :t"
                                       " AND id = :k"), {"t": task.tenant_id, "k": task.id})
    return pid


# --- responsibility letters, law-reporting reviews, observation points ------------------------


async def issue_letter(session: AsyncSession, principal: Principal, *, tenant_id: int, year: int, agency_id: int,
                       head_name: str, content: str) -> int:
    """The office issues a unit's head the year's responsibility letter (法治建设责任书)."""
    access.require(principal, "create", "document", await access.tenant_path(session, tenant_id))
    a = await access.agency(session, agency_id)
    if a.tenant_id != tenant_id:
        raise InvalidInput("agencyId", "a letter goes to a unit of the office's own tenant")
    if not head_name.strip() or not content.strip():
        raise InvalidInput("headName" if not head_name.strip() else "content", "required")
    exists = (await session.execute(text("SELECT 1 FROM responsibility_letter WHERE tenant_id = :t AND year = :y"
                                         " AND agency_id = :a"), {"t": tenant_id, "y": year, "a": agency_id})).first()
    if exists:
        raise ConflictError("this unit has its letter for the year already")
    lid = int((await session.execute(text(
        "INSERT INTO responsibility_letter (tenant_id, year, agency_id, agency_tenant_id, head_name, content, issued_by)"
        " VALUES (:t, :y, :a, :at, :h, :c, :u) RETURNING id"),
        {"t": tenant_id, "y": year, "a": agency_id, "at": a.tenant_id, "h": head_name.strip()[:100],
         "c": content.strip()[:20000], "u": principal.user_id})).scalar_one())
    await inbox.notify(session, tenant_id=tenant_id, agency_id=agency_id, kind="responsibility_letter.issued",
                       title=f"{year}年度法治建设责任书待主要负责人签署", subject_type="responsibility_letter",
                       subject_id=lid, dedup_key=f"responsibility_letter:{lid}:issued")
    return lid


async def sign_letter(session: AsyncSession, principal: Principal, letter_id: int) -> None:
    """The unit's head signs (签名确认) the letter."""
    row = (await session.execute(text("SELECT tenant_id, id, agency_id, signed_at FROM responsibility_letter"
                                      " WHERE id = :i FOR UPDATE"), {"i": letter_id})).first()
    if row is None:
        raise NotFoundError("ResponsibilityLetter", str(letter_id))
    access.require_for_agency(principal, "feedback", "task", await access.agency(session, row.agency_id),
                              roles=frozenset({"agency_leader"}))
    if row.signed_at is not None:
        raise TransitionError("signed", "sign", "the letter is signed already")
    await session.execute(text("UPDATE responsibility_letter SET signed_at = now(), signed_by = :u"
                               " WHERE tenant_id = :t AND id = :i"), {"u": principal.user_id, "t": row.tenant_id,
                                                                      "i": row.id})


RATINGS = ("excellent", "good", "fair", "poor")


# 述法主体: a town's two heads (党委书记, 镇长: 党政主要负责人), a county department's head.
TOWN_POSTS = ("party_secretary", "government_head")
PRINCIPAL = "principal"
POSTS = {"party_secretary": "党委书记", "government_head": "政府主要负责人", "principal": "主要负责人"}


def posts_of(agency_kind: str) -> tuple[str, ...]:
    """The posts of a unit whose holders report on the rule of law."""
    return TOWN_POSTS if agency_kind == "town" else (PRINCIPAL,)


async def record_review(session: AsyncSession, principal: Principal, *, tenant_id: int, agency_id: int,
                        head_name: str, year: int, reviewed_on: date, rating: str, comments: str = "",
                        post: str | None = None) -> int:
    """A head's law-reporting review (述法评议) in a year: one per post and year."""
    access.require(principal, "update", "task", await access.tenant_path(session, tenant_id))
    a = await access.agency(session, agency_id)
    if a.tenant_id != tenant_id:
        raise InvalidInput("agencyId", "a unit of the office's own tenant")
    if a.kind in ("office", "committee"):
        raise InvalidInput("agencyId", "the office and the committee do not report; a town or a department does")
    posts = posts_of(a.kind)
    if post is None:
        if len(posts) > 1:
            raise InvalidInput("post", "a town has two heads who report: party_secretary or government_head")
        post = posts[0]
    if post not in posts:
        raise InvalidInput("post", f"one of {', '.join(posts)} for this unit")
    if rating not in RATINGS:
        raise InvalidInput("rating", f"one of {', '.join(RATINGS)}")
    if reviewed_on.year != year:
        raise InvalidInput("reviewedOn", "the review day falls in its year")
    if not head_name.strip():
        raise InvalidInput("headName", "required")
    exists = (await session.execute(text(
        "SELECT 1 FROM law_review WHERE tenant_id = :t AND agency_id = :a AND post = :p AND year = :y"),
        {"t": tenant_id, "a": agency_id, "p": post, "y": year})).first()
    if exists:
        raise ConflictError("this head is reviewed for the year already")
    return int((await session.execute(text(
        "INSERT INTO law_review (tenant_id, agency_id, agency_tenant_id, post, head_name, year, reviewed_on, rating,"
        " comments, created_by) VALUES (:t, :a, :at, :p, :h, :y, :d, :r, :c, :u) RETURNING id"),
        {"t": tenant_id, "a": agency_id, "at": a.tenant_id, "p": post, "h": head_name.strip()[:100], "y": year,
         "d": reviewed_on, "r": rating, "c": comments[:20000], "u": principal.user_id})).scalar_one())


@dataclass(frozen=True)
class HeadCoverage:
    agency_id: int
    agency_name: str
    post: str
    last_year: int | None
    last_head_name: str | None
    covered: bool  # reviewed within the five years ending with the year asked about


async def review_coverage(session: AsyncSession, tenant_id: int, year: int) -> list[HeadCoverage]:
    """Every head who reports (a town's two, a county department's one): reviewed in the five
    years up to `year`?"""
    rows = (await session.execute(text(
        "SELECT a.id, a.name, p.post, last.year AS last, last.head_name FROM agency a"
        " CROSS JOIN LATERAL unnest(CASE WHEN a.kind = 'town' THEN ARRAY['party_secretary', 'government_head']"
        "                                 ELSE ARRAY['principal'] END) AS p(post)"
        " LEFT JOIN LATERAL (SELECT r.year, r.head_name FROM law_review r"
        "                     WHERE r.tenant_id = a.tenant_id AND r.agency_id = a.id AND r.post = p.post"
        "                       AND r.year <= :y ORDER BY r.year DESC LIMIT 1) last ON true"
        " WHERE a.tenant_id = :t AND a.kind NOT IN ('office', 'committee') ORDER BY a.id, p.post DESC"),
        {"t": tenant_id, "y": year})).all()
    return [HeadCoverage(r.id, r.name, r.post, r.last, r.head_name, r.last is not None and r.last >= year - 4)
            for r in rows]


async def add_observation_point(session: AsyncSession, principal: Principal, *, tenant_id: int, name: str,
                                region_code: str, established_on: date, observers: Sequence[str] = (),
                                agency_id: int | None = None) -> int:
    """A 法治观察点 in a town (or elsewhere in the tenant's region)."""
    path = await access.tenant_path(session, tenant_id)
    access.require(principal, "create", "task", path)
    reg = (await session.execute(text("SELECT path FROM region WHERE code = :c"), {"c": region_code})).first()
    if reg is None or not (reg.path + "/").startswith(path + "/"):
        raise InvalidInput("regionCode", "a region of the office's own")
    if not name.strip():
        raise InvalidInput("name", "required")
    exists = (await session.execute(text("SELECT 1 FROM observation_point WHERE tenant_id = :t AND name = :n"),
                                    {"t": tenant_id, "n": name.strip()})).first()
    if exists:
        raise ConflictError("an observation point of this name exists")
    return int((await session.execute(text(
        "INSERT INTO observation_point (tenant_id, name, region_code, agency_id, established_on, observers, created_by)"
        " VALUES (:t, :n, :r, :a, :d, :o, :u) RETURNING id"),
        {"t": tenant_id, "n": name.strip()[:200], "r": region_code, "a": agency_id, "d": established_on,
         "o": [o.strip() for o in observers if o.strip()], "u": principal.user_id})).scalar_one())


@dataclass(frozen=True)
class TownCoverage:
    region_code: str
    name: str
    points: int


async def observation_coverage(session: AsyncSession, tenant_id: int) -> list[TownCoverage]:
    """Every town of the tenant's region and its observation points (002: at least one per town)."""
    rows = (await session.execute(text(
        "SELECT r.code, r.name, count(p.id) AS n FROM tenant t JOIN region r ON r.parent_code = t.region_code"
        " AND r.level = 'town' LEFT JOIN observation_point p ON p.tenant_id = t.id AND p.region_code = r.code"
        " WHERE t.id = :t GROUP BY r.code, r.name ORDER BY r.code"), {"t": tenant_id})).all()
    return [TownCoverage(r.code, r.name, int(r.n)) for r in rows]


# --- the key-task list as an export (issue 6's ledgers call these) ----------------------------

_EXPORT_FROM = """
FROM task k
JOIN task_list l ON l.tenant_id = k.tenant_id AND l.id = k.list_id
JOIN tenant t ON t.id = k.tenant_id
WHERE (t.region_path || '/') LIKE :like {extra}
"""
TASK_STATUSES = ("open", "done")


def _export_filter(p: Any) -> tuple[str, dict[str, Any]]:
    extra, args = [], {"like": p.region_path + "/%"}
    if p.year is not None:
        extra.append("AND l.year = :year")
        args["year"] = p.year
    if p.agency_id is not None:
        extra.append("AND EXISTS (SELECT 1 FROM task_unit u WHERE u.tenant_id = k.tenant_id AND u.task_id = k.id"
                     " AND u.agency_id = :agency)")
        args["agency"] = p.agency_id
    if p.status is not None:
        if p.status not in TASK_STATUSES:
            raise InvalidInput("params.status", f"one of {', '.join(TASK_STATUSES)}")
        extra.append("AND k.status = :status")
        args["status"] = p.status
    return _EXPORT_FROM.format(extra=" ".join(extra)), args


async def export_keys(session: AsyncSession, p: Any, scope: Any) -> tuple[list[Any], int]:
    """Who may hold the export: a task is visible to its office's chain and to its units' (task RLS)."""
    from ducha.services.coverage import Key

    frm, args = _export_filter(p)
    rows = (await session.execute(text(
        "SELECT k.tenant_id, (SELECT array_agg(DISTINCT u.agency_tenant_id) FROM task_unit u WHERE u.tenant_id = k.tenant_id"
        " AND u.task_id = k.id) AS unit_tenants, (SELECT array_agg(DISTINCT u.agency_id) FROM task_unit u"
        f" WHERE u.tenant_id = k.tenant_id AND u.task_id = k.id) AS units {frm}"), args)).all()
    keys = {Key.of([r.tenant_id, *(r.unit_tenants or [])], r.units or []) for r in rows}
    return list(keys), len(rows)


async def export_sheets(session: AsyncSession, p: Any, progress: Any, who: Any) -> list[Any]:
    """One sheet: every task of the lists in the region (and year), with its units' progress."""
    from ducha.services.ledgers import Column, Sheet

    frm, args = _export_filter(p)
    rows = (await session.execute(text(
        "SELECT l.year, l.title AS list_title, k.number, k.section, k.content, k.lead_units, k.participating_units,"
        " k.responsible_person, k.due_on, k.acceptance_standard, k.status,"
        " (SELECT count(*) FILTER (WHERE u.done_at IS NOT NULL) || '/' || count(*) FROM task_unit u"
        "  WHERE u.tenant_id = k.tenant_id AND u.task_id = k.id AND u.role = 'lead') AS leads_done,"
        " (SELECT p.body FROM task_progress p WHERE p.tenant_id = k.tenant_id AND p.task_id = k.id ORDER BY p.id DESC"
        "  LIMIT 1) AS latest"
        f" {frm} ORDER BY l.year, l.id, k.number"), args)).all()
    await progress(60)
    columns = [Column("年度", 7, "int"), Column("清单", 28), Column("序号", 6, "int"), Column("类别", 24),
               Column("任务内容", 60), Column("责任单位", 30), Column("参加单位", 30), Column("责任人", 12),
               Column("完成时限", 12, "date"), Column("验收标准", 30), Column("状态", 8),
               Column("责任单位完成", 12), Column("最新进展", 40)]
    status = {"open": "推进中", "done": "已完成"}
    out = [[r.year, r.list_title, r.number, r.section, r.content, r.lead_units, r.participating_units,
            r.responsible_person, r.due_on, r.acceptance_standard, status.get(r.status, r.status), r.leads_done,
            r.latest or ""] for r in rows]
    return [Sheet("重点任务清单", columns, out)]
