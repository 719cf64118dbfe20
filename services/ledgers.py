"""Ledgers as .xlsx (openpyxl): the problem ledger (问题台账), the key-task list (重点任务清单), the
roll-up tables and the clue register (线索登记簿). Chinese headers, the header row frozen and
filtered, column widths set, dates as real dates.

Each ledger is a *source*: `keys` sums up, with one aggregate query, which rows the ledger
holds and who may see each (services/coverage.py) - asked when an export is requested -
and `rows` yields the rows themselves, for the worker that writes the file. Both run on a
system session with the same filter, so what was checked is what is written.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import calendar_store
from ducha.services.coverage import Key
from ducha.services.documents import INSTANCE_STATUS
from ducha.services.errors import InvalidInput
from ducha.services.vocab import PROBLEM_CATEGORIES, PROBLEM_SOURCES, SEVERITIES
from ducha.tenants.scope import Scope

CHINA = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 2000


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    kind: str = "text"  # text, int, date, float, percent


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]] = field(default_factory=list)


_THIN = Side(style="thin", color="808080")
_HEADER_FONT = Font(name="黑体", bold=True, size=11)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FORMATS = {"date": "yyyy-mm-dd", "int": "0", "float": "0.00", "percent": "0.0%"}


def write_xlsx(sheets: Sequence[Sheet], *, title: str, creator: str) -> bytes:
    """A workbook of the sheets: header row frozen, auto filter over the data, widths, typed cells."""
    wb = Workbook(write_only=True)
    wb.properties.title = title
    wb.properties.creator = creator
    for sh in sheets:
        ws = wb.create_sheet(sh.title[:31])
        for i, col in enumerate(sh.columns, 1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        ws.freeze_panes = "A2"
        last = get_column_letter(len(sh.columns))
        ws.auto_filter.ref = f"A1:{last}{max(1, len(sh.rows)) + 1}"
        header = []
        for col in sh.columns:
            c = WriteOnlyCell(ws, value=col.header)
            c.font, c.fill, c.alignment, c.border = _HEADER_FONT, _HEADER_FILL, _HEADER_ALIGN, _BORDER
            header.append(c)
        ws.append(header)
        # Plain values are written as they are (a date gets yyyy-mm-dd by itself); only the
        # columns that need a format get a styled cell: a cell object per value costs 10x.
        styled = [(i, _FORMATS[c.kind]) for i, c in enumerate(sh.columns) if c.kind in ("float", "percent")]
        width = len(sh.columns)
        for row in sh.rows:
            if len(row) != width:
                raise ValueError(f"a row of {len(row)} values in a sheet of {width} columns")
            if styled:
                row = list(row)
                for i, f in styled:
                    if row[i] is not None:
                        c = WriteOnlyCell(ws, value=row[i])
                        c.number_format = f
                        row[i] = c
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- params ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """What an export holds, whoever asks: the rows are chosen by these alone."""

    region_code: str
    region_path: str
    year: int | None = None
    inspection_id: int | None = None
    agency_id: int | None = None
    status: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        return {"regionCode": self.region_code, "year": self.year, "inspectionId": self.inspection_id,
                "agencyId": self.agency_id, "status": self.status, "options": self.options}


async def resolve(session: AsyncSession, raw: dict[str, Any]) -> Params:
    """Check stored/requested params and find the region's path (a system session: the caller's
    reach is checked afterwards, against the rows)."""
    code = str(raw.get("regionCode") or "")
    row = (await session.execute(text("SELECT path FROM region WHERE code = :c"), {"c": code})).first()
    if row is None:
        raise InvalidInput("params.regionCode", "no such region")
    year = raw.get("year")
    if year is not None and not 2000 <= int(year) <= 2100:
        raise InvalidInput("params.year", "a year between 2000 and 2100")
    opts = raw.get("options") or {}
    if not isinstance(opts, dict) or len(str(opts)) > 2000:
        raise InvalidInput("params.options", "an object of at most 2000 characters")
    return Params(region_code=code, region_path=row.path, year=int(year) if year is not None else None,
                  inspection_id=int(raw["inspectionId"]) if raw.get("inspectionId") is not None else None,
                  agency_id=int(raw["agencyId"]) if raw.get("agencyId") is not None else None,
                  status=str(raw["status"]) if raw.get("status") is not None else None, options=dict(opts))


# --- the problem ledger (问题台账) -------------------------------------------------------------------

# A region's problems: those at its units that were fed back to them, and every problem an
# office inside the region found there (its own findings, reported or not). An upper
# office's findings not yet fed back are that office's alone and stay out.
_PROBLEM_FROM = """
FROM problem_instance i
JOIN problem p ON p.tenant_id = i.tenant_id AND p.id = i.problem_id
LEFT JOIN inspection ins ON ins.tenant_id = p.tenant_id AND ins.id = p.inspection_id
JOIN agency a ON a.id = i.agency_id
JOIN tenant ot ON ot.id = i.tenant_id
WHERE (a.region_path || '/') LIKE :like
  AND (i.status <> 'found' OR (ot.region_path || '/') LIKE :like)
  {extra}
"""
PROBLEM_STATUSES = tuple(INSTANCE_STATUS)


def _problem_filter(p: Params) -> tuple[str, dict[str, Any]]:
    extra, args = [], {"like": p.region_path + "/%"}
    if p.year is not None:
        extra.append("AND coalesce(ins.year, extract(year FROM p.found_on)::int) = :year")
        args["year"] = p.year
    if p.inspection_id is not None:
        extra.append("AND p.inspection_id = :insp")
        args["insp"] = p.inspection_id
    if p.agency_id is not None:
        extra.append("AND i.agency_id = :agency")
        args["agency"] = p.agency_id
    if p.status is not None:
        if p.status not in PROBLEM_STATUSES:
            raise InvalidInput("params.status", f"one of {', '.join(PROBLEM_STATUSES)}")
        extra.append("AND i.status = :status")
        args["status"] = p.status
    return _PROBLEM_FROM.format(extra=" ".join(extra)), args


async def problem_keys(session: AsyncSession, p: Params) -> tuple[list[Key], int]:
    frm, args = _problem_filter(p)
    rows = (await session.execute(text(
        f"SELECT i.tenant_id, i.target_tenant_id, i.agency_id, i.status = 'found' AS hidden, count(*) AS n {frm}"
        " GROUP BY 1, 2, 3, 4"), args)).all()
    keys = [Key.of([r.tenant_id]) if r.hidden else Key.of([r.tenant_id, r.target_tenant_id], [r.agency_id]) for r in rows]
    return keys, sum(r.n for r in rows)


PROBLEM_COLUMNS = [
    Column("序号", 6, "int"), Column("问题编号", 10, "int"), Column("督察名称", 28), Column("督察机关", 30),
    Column("被督察单位", 26), Column("所属区域", 12), Column("问题", 40), Column("问题类别", 24),
    Column("问题来源", 12), Column("严重程度", 9), Column("共性/个性", 9), Column("发现日期", 12, "date"),
    Column("整改期限", 12, "date"), Column("整改措施", 50), Column("状态", 11), Column("销号日期", 12, "date"),
    Column("逾期天数", 9, "int"),
]


def _china_day(ts: datetime | None) -> date | None:
    return ts.astimezone(CHINA).date() if ts is not None else None


def days_overdue(due: date | None, closed_on: date | None, today: date) -> int:
    """Calendar days past the deadline: until today while open, until close-out once closed."""
    if due is None:
        return 0
    end = closed_on or today
    return max(0, (end - due).days)


async def problem_rows(session: AsyncSession, p: Params) -> AsyncIterator[list[Any]]:
    frm, args = _problem_filter(p)
    today = calendar_store.today()
    sql = (
        "SELECT i.id, i.problem_id, i.status, i.due_on, i.closed_at, p.title, p.category, p.source, p.severity,"
        " p.is_common, p.found_on, ins.title AS inspection_title, a.name AS unit,"
        " (SELECT r.name FROM region r WHERE r.code = a.region_code) AS region_name,"
        " (SELECT o.name FROM agency o WHERE o.tenant_id = i.tenant_id AND o.region_code = ot.region_code"
        "   AND o.kind = 'office' ORDER BY o.id LIMIT 1) AS office,"
        " (SELECT string_agg(m.content || '（责任人：' || m.responsible_person || '；期限：' || to_char(m.due_on, 'YYYY-MM-DD')"
        "   || CASE WHEN m.completed_at IS NOT NULL THEN '；已完成' ELSE '' END || '）', '；' ORDER BY m.id)"
        "   FROM measure m WHERE m.tenant_id = i.tenant_id AND m.instance_id = i.id) AS measures"
        f" {frm} ORDER BY i.tenant_id, i.id"
    )
    result = await session.stream(text(sql), args)
    n = 0
    async for r in result:
        n += 1
        closed_on = _china_day(r.closed_at)
        yield [n, r.problem_id, r.inspection_title or "", r.office or "", r.unit, r.region_name or "", r.title,
               PROBLEM_CATEGORIES.get(r.category, r.category), PROBLEM_SOURCES.get(r.source, r.source),
               SEVERITIES.get(r.severity, r.severity), "共性" if r.is_common else "个性", r.found_on, r.due_on,
               r.measures or "", INSTANCE_STATUS.get(r.status, r.status), closed_on,
               days_overdue(r.due_on, closed_on, today)]


# --- the clue register (线索登记簿) ------------------------------------------------------------------

_CLUE_FROM = """
FROM clue c
JOIN tenant t ON t.id = c.tenant_id
WHERE (t.region_path || '/') LIKE :like {extra}
"""
CLUE_STATES = ("registered", "transferred", "received", "investigating", "answered", "closed")
CLUE_STATE_LABELS = {"registered": "已登记", "transferred": "已移送", "received": "已签收", "investigating": "调查中",
                     "answered": "已反馈", "closed": "已办结"}


def _clue_filter(p: Params) -> tuple[str, dict[str, Any]]:
    extra, args = [], {"like": p.region_path + "/%"}
    if p.year is not None:
        extra.append("AND extract(year FROM c.discovered_on)::int = :year")
        args["year"] = p.year
    if p.agency_id is not None:
        extra.append("AND :agency = ANY(c.party_agency_ids)")
        args["agency"] = p.agency_id
    if p.status is not None:
        if p.status not in CLUE_STATES:
            raise InvalidInput("params.status", f"one of {', '.join(CLUE_STATES)}")
        extra.append("AND c.state = :status")
        args["status"] = p.status
    return _CLUE_FROM.format(extra=" ".join(extra)), args


async def clue_keys(session: AsyncSession, p: Params) -> tuple[list[Key], int]:
    frm, args = _clue_filter(p)
    rows = (await session.execute(text(f"SELECT c.tenant_id, c.party_agency_ids, count(*) AS n {frm} GROUP BY 1, 2"),
                                  args)).all()
    return [Key.of([r.tenant_id], r.party_agency_ids) for r in rows], sum(r.n for r in rows)


CLUE_COLUMNS = [
    Column("序号", 6, "int"), Column("线索编号", 10, "int"), Column("发现日期", 12, "date"), Column("来源", 12),
    Column("重要程度", 10), Column("线索标题", 36), Column("主要内容", 50), Column("发现单位", 26),
    Column("当前承办单位", 26), Column("状态", 10), Column("移送次数", 9, "int"), Column("最近移送日期", 13, "date"),
    Column("最近接收单位", 26), Column("签收日期", 12, "date"), Column("反馈情况", 36), Column("办结日期", 12, "date"),
]


async def clue_rows(session: AsyncSession, p: Params) -> AsyncIterator[list[Any]]:
    from ducha.services.clues import IMPORTANCE, SOURCES

    frm, args = _clue_filter(p)
    sql = (
        "SELECT c.id, c.discovered_on, c.source, c.importance, c.title, c.content, c.state, c.closed_at,"
        " (SELECT name FROM agency WHERE id = c.origin_agency_id) AS origin,"
        " (SELECT name FROM agency WHERE id = c.holder_agency_id) AS holder,"
        " (SELECT count(*) FROM clue_transfer ct WHERE ct.tenant_id = c.tenant_id AND ct.clue_id = c.id) AS n,"
        " lt.transferred_on, lt.receiver_name, lt.received_at, lt.feedback"
        " FROM clue c JOIN tenant t ON t.id = c.tenant_id"
        " LEFT JOIN LATERAL (SELECT ct.transferred_on, ct.receiver_name, ct.received_at, ct.feedback"
        "   FROM clue_transfer ct WHERE ct.tenant_id = c.tenant_id AND ct.clue_id = c.id ORDER BY ct.seq DESC LIMIT 1)"
        "   lt ON true"
        f" {frm[frm.index('WHERE'):]} ORDER BY c.tenant_id, c.id"
    )
    result = await session.stream(text(sql), args)
    n = 0
    async for r in result:
        n += 1
        yield [n, r.id, r.discovered_on, SOURCES.get(r.source, r.source), IMPORTANCE.get(r.importance, r.importance),
               r.title, r.content[:2000], r.origin or "", r.holder or "", CLUE_STATE_LABELS.get(r.state, r.state),
               int(r.n or 0), r.transferred_on, r.receiver_name or "", _china_day(r.received_at), r.feedback or "",
               _china_day(r.closed_at)]


# --- the roll-up table (汇总表), as the API's `rollup` shows it ---------------------------------------


async def _rollups() -> Any:
    return _issue5("rollups", "roll-up")


def _period(p: Params) -> Any:
    from ducha.services import rollups

    o = p.options
    start, end = o.get("from"), o.get("to")
    try:
        if start or end:
            return rollups.period(start=date.fromisoformat(start) if start else None,
                                  end=date.fromisoformat(end) if end else None)
        return rollups.period(year=p.year or calendar_store.today().year, quarter=o.get("quarter"), month=o.get("month"))
    except (TypeError, ValueError) as e:
        raise InvalidInput("params.options", f"a period: year with quarter or month, or from/to dates ({e})") from None


ROLLUP_OPTIONS = ("from", "to", "quarter", "month", "category", "ikind", "inspectionKind", "source", "severity")


def _rollup_filters(p: Params) -> Any:
    """The roll-up's filters from the options, each checked against its vocabulary (an unknown
    value would give a table of zeros that looks like a real one). Values are the codes of the
    API's enums, in either case: THREE_ENFORCEMENT_SYSTEMS or three_enforcement_systems."""
    from ducha.services import rollups
    from ducha.services.clues import SOURCES as CLUE_SOURCES
    from ducha.services.vocab import INSPECTION_KINDS

    o = p.options
    vocab = {"category": PROBLEM_CATEGORIES, "ikind": INSPECTION_KINDS, "source": {**PROBLEM_SOURCES, **CLUE_SOURCES},
             "severity": SEVERITIES}
    given: dict[str, str | None] = {}
    for dim, known in vocab.items():
        raw = o.get(dim, o.get("inspectionKind")) if dim == "ikind" else o.get(dim)
        if raw is None:
            given[dim] = None
            continue
        value = str(raw).strip().lower()
        if not isinstance(raw, str) or value not in known:
            raise InvalidInput(f"params.options.{dim}", f"one of {', '.join(sorted(known))}")
        given[dim] = value
    return rollups.Filters(**given)


def check_options(kind: str, p: Params) -> None:
    """The roll-up's options choose its figures: one it does not know is refused, not ignored (the
    file would not be what was asked). The ledgers take no options; what is given there is kept
    with the job as the requester's own note and changes nothing in the file."""
    if kind != "rollup":
        return
    unknown = sorted(k for k in p.options if k not in ROLLUP_OPTIONS)
    if unknown:
        raise InvalidInput("params.options", f"unknown option(s) {', '.join(unknown)} for a roll-up;"
                                             f" known: {', '.join(ROLLUP_OPTIONS)}")


async def rollup_keys(session: AsyncSession, p: Params, scope: Scope) -> tuple[list[Key], int]:
    """Every tenant of the region's subtree, and the requester's offices above it: the figures
    count what the requester sees, its own unreleased findings included, so a downloader must
    see those offices too."""
    await _rollups()
    _period(p)
    _rollup_filters(p)
    rows = (await session.execute(text(
        "SELECT id, (region_path || '/') LIKE :like AS below FROM tenant"
        " WHERE (region_path || '/') LIKE :like OR (:path || '/') LIKE (region_path || '/%')"),
        {"like": p.region_path + "/%", "path": p.region_path})).all()
    keys = [Key.of([r.id]) for r in rows if r.below or r.id in scope.tenant_ids]
    children = int((await session.execute(text("SELECT count(*) FROM region WHERE parent_code = :c"),
                                          {"c": p.region_code})).scalar_one())
    return keys, 1 + children


async def _rollup_sheets(session: AsyncSession, p: Params, progress: Progress, who: Who) -> list[Sheet]:
    rollups = await _rollups()
    if who is None:
        raise InvalidInput("kind", "a roll-up is computed as its requester sees it")
    principal, scope = who
    flt = _rollup_filters(p)
    r = await rollups.rollup(session, principal, scope, p.region_code, _period(p), flt)
    await progress(60)
    figures = list(rollups.FIGURES.values())
    columns = [Column("区域/单位", 28), Column("层级", 8)] + [
        Column(f.label, max(9, 2.2 * len(f.label)), "percent" if f.is_rate else "int") for f in figures]
    levels = {"province": "省", "city": "市", "county": "县", "town": "镇", "unit": "单位"}

    def row(n: Any, name: str) -> list[Any]:
        return [name, levels.get(n.level, n.level)] + [f.value(n.counters) for f in figures]

    rows = [row(r.node, f"{r.region_name}（合计）")] + [row(c, c.name) for c in r.children]
    about = Sheet("说明", [Column("项目", 14), Column("内容", 60)], [
        ["区域", f"{r.region_name}（{r.region_code}）"], ["期间", r.period.label],
        ["筛选", "，".join(f"{k}={v}" for k, v in flt.given().items()) or "无"], ["数据截至", r.as_of],
    ])
    return [Sheet("汇总表", columns, rows), about]


# --- issue 5's key-task list ----------------------------------------------------------------------------
#
# Until issue 5's task service exists this source fails with a clear message: an export of
# that kind is refused when asked, never produced empty. The contract it expects of
# services/tasks.py: `export_keys(session, params, scope) -> (keys, rows)` and
# `export_sheets(session, params, progress, who) -> [Sheet]`, like the sources here.


class MissingSource(InvalidInput):
    def __init__(self, what: str, module: str) -> None:
        super().__init__("kind", f"the {what} export needs {module} (issue 5), which is not installed")


def _issue5(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"ducha.services.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"ducha.services.{module}":
            raise MissingSource(what, f"services/{module}.py") from None
        raise


def _hook(module: str, attr: str, what: str) -> Callable[..., Any]:
    fn = getattr(_issue5(module, what), attr, None)
    if fn is None:
        raise MissingSource(what, f"services/{module}.py:{attr}")
    return fn  # type: ignore[no-any-return]


async def _task_keys(session: AsyncSession, p: Params, scope: Scope) -> tuple[list[Key], int]:
    return await _hook("tasks", "export_keys", "key-task list")(session, p, scope)  # type: ignore[no-any-return]


async def _task_sheets(session: AsyncSession, p: Params, progress: Progress, who: Who) -> list[Sheet]:
    return await _hook("tasks", "export_sheets", "key-task list")(session, p, progress, who)  # type: ignore[no-any-return]


# --- the sources -------------------------------------------------------------------------------------------

Progress = Callable[[int], Awaitable[None]]
Who = tuple[Any, Scope] | None  # the requester (principal, scope) as it is when the file is made


@dataclass(frozen=True)
class Source:
    label: str
    resource: str  # the resource kind the requester must be allowed to export
    keys: Callable[[AsyncSession, Params, Scope], Awaitable[tuple[list[Key], int]]]
    sheets: Callable[[AsyncSession, Params, Progress, Who], Awaitable[list[Sheet]]]
    per_requester: bool = False  # the rows depend on who asks (the roll-up's figures)


async def _collect(rows: AsyncIterator[list[Any]], total: int, progress: Progress) -> list[list[Any]]:
    out: list[list[Any]] = []
    async for r in rows:
        out.append(r)
        if len(out) % BATCH == 0:
            await progress(10 + int(70 * len(out) / max(total, 1)))
    return out


async def _problem_keys(session: AsyncSession, p: Params, scope: Scope) -> tuple[list[Key], int]:
    return await problem_keys(session, p)


async def _problem_sheets(session: AsyncSession, p: Params, progress: Progress, who: Who) -> list[Sheet]:
    _, total = await problem_keys(session, p)
    return [Sheet("问题台账", PROBLEM_COLUMNS, await _collect(problem_rows(session, p), total, progress))]


async def _clue_keys(session: AsyncSession, p: Params, scope: Scope) -> tuple[list[Key], int]:
    return await clue_keys(session, p)


async def _clue_sheets(session: AsyncSession, p: Params, progress: Progress, who: Who) -> list[Sheet]:
    _, total = await clue_keys(session, p)
    return [Sheet("线索登记簿", CLUE_COLUMNS, await _collect(clue_rows(session, p), total, progress))]


SOURCES: dict[str, Source] = {
    "problem_ledger": Source("问题台账", "problem", _problem_keys, _problem_sheets),
    "clue_register": Source("线索登记簿", "clue", _clue_keys, _clue_sheets),
    "task_list": Source("重点任务清单", "task", _task_keys, _task_sheets),
    "rollup": Source("汇总表", "rollup", rollup_keys, _rollup_sheets, per_requester=True),
}


def now_utc() -> datetime:
    return datetime.now(UTC)
