"""Cross-level roll-ups: figures for any region and its children, a period and filters, from
the summary rows that migration 0004's triggers keep in step; drill-down to the items behind
a figure (from the fact rows, so the count is the figure); the check against the base tables.

Where a number comes from:
* whole months of the period: `rollup_summary`, one row per node, month, dimension set, owner
  and released flag - the province's dashboard reads a few hundred rows, never the problems;
* the partial months at the ends of a date range, unit leaves under filters and drill-down:
  `rollup_fact`, one row per item, read within one region's subtree and a few days;
* `check()`: the truth recomputed from the base tables (`rollup_truth_summary`, the source views).

Visibility matches the base rows' row-level security: a caller sees a node when its tenant is
in scope, and its items when they are released to their targets or their owner is in scope.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies import filters as app_filters
from ducha.policies.authz import authorize
from ducha.services.errors import InvalidInput, NotFoundError
from ducha.tenants.principal import Principal
from ducha.tenants.scope import Scope

# The counters of a fact and of a summary row, in the migration's column order.
COUNTERS: tuple[str, ...] = (
    "inspections", "insp_comprehensive", "insp_special", "insp_case", "insp_routine", "insp_joint", "insp_mobile",
    "insp_research", "insp_lookback",
    "targets", "targets_lower",
    "problems", "problems_common", "problems_rectifying", "problems_overdue", "problems_closed",
    "problems_closed_on_time", "measures", "measures_completed", "lookback", "lookback_rebound",
    "clues", "clues_transferred", "clues_transferred_on_time", "clues_received_late", "clues_fed_back", "clues_closed",
    "esc_reminder", "esc_supervision_letter", "esc_interview", "esc_public_criticism", "esc_referral", "esc_proposed",
)
KINDS = ("inspection", "target", "problem", "clue", "escalation")
ESC_ISSUED = ("esc_reminder", "esc_supervision_letter", "esc_interview", "esc_public_criticism", "esc_referral")


def kind_of(counter: str) -> str:
    """Which kind of item a counter counts."""
    if counter.startswith("insp"):
        return "inspection"
    if counter.startswith("target"):
        return "target"
    if counter.startswith(("problems", "measures", "lookback")):
        return "problem"
    if counter.startswith("clues"):
        return "clue"
    return "escalation"


@dataclass(frozen=True)
class Figure:
    """A number the dashboard shows: a counter, a derived count, or a rate of two counts."""

    name: str
    label: str
    kind: str | None  # the items behind it; None for rates (drill into their parts)
    numerator: tuple[str, ...] = ()
    minus: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()

    @property
    def is_rate(self) -> bool:
        return bool(self.denominator)

    def value(self, c: dict[str, int]) -> float:
        if len(self.numerator) == 1 and not self.minus and not self.denominator:
            return c[self.numerator[0]]
        num = sum(c.get(x, 0) for x in self.numerator) - sum(c.get(x, 0) for x in self.minus)
        if not self.denominator:
            return num
        den = sum(c.get(x, 0) for x in self.denominator)
        return round(num / den, 4) if den else 0.0


def _count(name: str, label: str, counter: str) -> Figure:
    return Figure(name, label, kind_of(counter), (counter,))


FIGURES: dict[str, Figure] = {f.name: f for f in (
    _count("inspections", "督察次数", "inspections"),
    _count("inspections_comprehensive", "全面督察", "insp_comprehensive"),
    _count("inspections_special", "专项督察", "insp_special"),
    _count("inspections_case", "个案督察", "insp_case"),
    _count("inspections_routine", "平时督察", "insp_routine"),
    _count("inspections_joint", "联合督察", "insp_joint"),
    _count("inspections_mobile", "机动式督察", "insp_mobile"),
    _count("inspections_research", "调研式督察", "insp_research"),
    _count("inspections_lookback", "回头看", "insp_lookback"),
    _count("targets", "督察对象（家次）", "targets"),
    _count("targets_lower_tenants", "其中下级地区", "targets_lower"),
    _count("problems", "发现问题", "problems"),
    _count("problems_common", "共性问题", "problems_common"),
    Figure("problems_individual", "个性问题", "problem", ("problems",), ("problems_common",)),
    _count("problems_rectifying", "整改中", "problems_rectifying"),
    _count("problems_overdue", "逾期未整改", "problems_overdue"),
    _count("problems_closed", "已整改销号", "problems_closed"),
    _count("problems_closed_on_time", "按期销号", "problems_closed_on_time"),
    Figure("rectification_rate", "整改率", None, ("problems_closed",), (), ("problems",)),
    Figure("on_time_rate", "按期整改率", None, ("problems_closed_on_time",), (), ("problems_closed",)),
    _count("measures", "整改措施", "measures"),
    _count("measures_completed", "已完成措施", "measures_completed"),
    _count("lookback", "回头看跟踪问题", "lookback"),
    _count("lookback_rebound", "回头看反弹", "lookback_rebound"),
    _count("clues", "问题线索", "clues"),
    _count("clues_transferred", "已移送线索", "clues_transferred"),
    _count("clues_transferred_on_time", "按时移送", "clues_transferred_on_time"),
    _count("clues_received_late", "逾期签收", "clues_received_late"),
    _count("clues_fed_back", "已反馈", "clues_fed_back"),
    _count("clues_closed", "已办结线索", "clues_closed"),
    Figure("escalations", "升级督办（已发出）", "escalation", ESC_ISSUED),
    _count("escalations_reminder", "催办", "esc_reminder"),
    _count("escalations_supervision_letter", "督办函", "esc_supervision_letter"),
    _count("escalations_interview", "约谈", "esc_interview"),
    _count("escalations_public_criticism", "通报批评", "esc_public_criticism"),
    _count("escalations_referral", "移送纪委监委", "esc_referral"),
    _count("escalations_proposed", "待领导决定", "esc_proposed"),
)}
DIMENSIONS = ("category", "ikind", "source", "severity")
GSET = {"category": 2, "ikind": 3, "source": 4, "severity": 5}


# --- periods and filters ---------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str

    def full_months(self) -> tuple[date | None, date | None]:
        """[first, last] first-of-month dates of the months wholly inside, or (None, None)."""
        first = self.start if self.start.day == 1 else _next_month(self.start)
        after = _next_month(self.end) if self.end.day == calendar.monthrange(self.end.year, self.end.month)[1] \
            else self.end.replace(day=1)
        if first >= after:
            return None, None
        return first, after - timedelta(days=1)

    def edges(self) -> list[tuple[date, date]]:
        """The day ranges outside the whole months (at most two)."""
        first, last = self.full_months()
        if first is None:
            return [(self.start, self.end)]
        assert last is not None
        out = []
        if self.start < first:
            out.append((self.start, first - timedelta(days=1)))
        month_end = _next_month(last.replace(day=1)) - timedelta(days=1)
        if month_end < self.end:
            out.append((month_end + timedelta(days=1), self.end))
        return out

    def months(self) -> list[date]:
        out, m = [], self.start.replace(day=1)
        while m <= self.end:
            out.append(m)
            m = _next_month(m)
        return out


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def period(*, year: int | None = None, quarter: int | None = None, month: int | None = None,
           start: date | None = None, end: date | None = None) -> Period:
    """A year, a quarter or a month of a year, or a date range (inclusive, at most ten years)."""
    if start is not None or end is not None:
        if year is not None or quarter is not None or month is not None:
            raise InvalidInput("period", "give either a year (with a quarter or a month) or from/to")
        if start is None or end is None:
            raise InvalidInput("period.from" if start is None else "period.to", "a date range needs from and to")
        if end < start:
            raise InvalidInput("period.to", "the range ends before it starts")
        if (end - start).days > 3660:
            raise InvalidInput("period.to", "at most ten years")
        return Period(start, end, f"{start.isoformat()}~{end.isoformat()}")
    if year is None:
        raise InvalidInput("period.year", "give a year, or from and to")
    if not 2000 <= year <= 2100:
        raise InvalidInput("period.year", "2000-2100")
    if quarter is not None and month is not None:
        raise InvalidInput("period.month", "a quarter or a month, not both")
    if quarter is not None:
        if not 1 <= quarter <= 4:
            raise InvalidInput("period.quarter", "1-4")
        s = date(year, 3 * quarter - 2, 1)
        return Period(s, _next_month(_next_month(_next_month(s))) - timedelta(days=1), f"{year}年第{quarter}季度")
    if month is not None:
        if not 1 <= month <= 12:
            raise InvalidInput("period.month", "1-12")
        s = date(year, month, 1)
        return Period(s, _next_month(s) - timedelta(days=1), f"{year}年{month}月")
    return Period(date(year, 1, 1), date(year, 12, 31), f"{year}年")


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    ikind: str | None = None  # the kind of the inspection that found the item
    source: str | None = None
    severity: str | None = None

    def given(self) -> dict[str, str]:
        return {d: v for d in DIMENSIONS if (v := getattr(self, d)) is not None}


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Node:
    """One node of a breakdown: a region, or a unit (agency) at the leaves."""

    region_code: str
    agency_id: int | None
    name: str
    level: str  # province/city/county/town, or 'unit'
    counters: dict[str, int] = field(default_factory=dict)
    path: str = ""
    depth: int = 0


@dataclass
class Rollup:
    region_code: str
    region_name: str
    region_level: str
    region_path: str
    depth: int
    period: Period
    filters: Filters
    as_of: date
    node: Node
    children: list[Node]


@dataclass(frozen=True)
class Target:
    code: str
    name: str
    level: str
    path: str
    depth: int
    tenant_id: int
    today: date


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def _sums(alias: str) -> str:
    return ", ".join(f"coalesce(sum({alias}.{c}), 0)::bigint AS {c}" for c in COUNTERS)


async def resolve(session: AsyncSession, principal: Principal, scope: Scope, region_code: str) -> Target:
    """The region asked about, if the caller may read roll-ups of it (its tenant in scope)."""
    row = (await session.execute(text(
        "SELECT r.code, r.name, r.level, r.path, rr.depth, rr.tenant_id,"
        " (SELECT today FROM rollup_clock WHERE id = 1) AS today FROM region r"
        " JOIN rollup_region rr ON rr.code = r.code WHERE r.code = :c"), {"c": region_code})).first()
    if row is None or (app_filters.enabled() and row.tenant_id not in scope.tenant_ids):
        raise NotFoundError("Region", region_code)
    authorize(principal, "read", "rollup", row.path)
    return Target(row.code, row.name, row.level, row.path, row.depth, row.tenant_id, row.today)


def summary_gset(depth: int, given: dict[str, str]) -> int | None:
    """The summary's dimension set that answers a region node at `depth` under these filters, or
    None where the node keeps none (then summed from the facts below it). Migration 0004's
    GSETS_AT: the province keeps all six sets, cities and counties the single dimensions, towns
    only the totals."""
    if not given:
        return 1
    if len(given) == 1:
        return GSET[next(iter(given))] if depth <= 2 else None
    return 0 if depth == 0 else None


def _dims_sql(alias: str, gset: int, given: dict[str, str], params: dict[str, Any], tag: str) -> str:
    conds = []
    for d, v in given.items():
        if gset == 0 or gset == GSET[d]:
            params[f"{tag}_{d}"] = v
            conds.append(f"{alias}.{d} = :{tag}_{d}")
    return " AND ".join(conds) or "true"


def _visible_summary(scope: Scope, alias: str, params: dict[str, Any]) -> str:
    if not app_filters.enabled():
        return "true"
    params["scope_t"] = sorted(scope.tenant_ids)
    return (f"({alias}.tenant_id = ANY(CAST(:scope_t AS bigint[])) AND ({alias}.released"
            f" OR {alias}.owner_tenant_id = ANY(CAST(:scope_t AS bigint[]))))")


def _visible_fact(scope: Scope, alias: str, params: dict[str, Any]) -> str:
    if not app_filters.enabled():
        return "true"
    params["scope_t"] = sorted(scope.tenant_ids)
    return (f"({alias}.tenant_id = ANY(CAST(:scope_t AS bigint[])) OR ({alias}.released"
            f" AND {alias}.agency_tenant_id = ANY(CAST(:scope_t AS bigint[]))))")


def _under(alias: str, path: str, params: dict[str, Any], tag: str = "p") -> str:
    params[f"{tag}_path"], params[f"{tag}_like"] = path, _like(path) + "/%"
    return f"({alias}.region_path = :{tag}_path OR {alias}.region_path LIKE :{tag}_like)"


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def rollup(session: AsyncSession, principal: Principal, scope: Scope, region_code: str, per: Period,
                 flt: Filters | None = None) -> Rollup:
    """The node's figures and its children's (regions below, and units at this region)."""
    flt = flt or Filters()
    t = await resolve(session, principal, scope, region_code)
    given = flt.given()
    self_c: dict[str, int] = _zero()
    region_c: dict[str, dict[str, int]] = {}
    unit_c: dict[int, dict[str, int]] = {}
    g_self, g_child = summary_gset(t.depth, given), summary_gset(t.depth + 1, given)
    first, last = per.full_months()
    if first is not None:
        params: dict[str, Any] = {"r": t.code, "m0": first, "m1": last}
        parts = []
        if g_self is not None:
            parts.append(f"(s.region_code = :r AND s.agency_id = 0 AND s.gset = {g_self}"
                         f" AND {_dims_sql('s', g_self, given, params, 'a')})")
        if g_child is not None:
            parts.append(f"(s.parent_code = :r AND s.agency_id = 0 AND s.gset = {g_child}"
                         f" AND {_dims_sql('s', g_child, given, params, 'b')})")
        if not given:
            parts.append("(s.parent_code = :r AND s.agency_id <> 0 AND s.gset = 1)")
        if parts:
            sql = (f"SELECT s.region_code = :r AND s.agency_id = 0 AS is_self, s.region_code, s.agency_id,"
                   f" {_sums('s')} FROM rollup_summary s WHERE s.month BETWEEN :m0 AND :m1 AND ({' OR '.join(parts)})"
                   f" AND {_visible_summary(scope, 's', params)} GROUP BY 1, 2, 3")
            for r in (await session.execute(text(sql), params)).all():
                _merge(r, self_c, region_c, unit_c)
    ranges = per.edges() if first is not None else [(per.start, per.end)]
    await _from_facts(session, scope, t, per, ranges, given, g_self is None, g_child is None, self_c, region_c, unit_c)
    children = await _children(session, t, region_c, unit_c)
    node = Node(t.code, None, t.name, t.level, self_c, t.path, t.depth)
    return Rollup(t.code, t.name, t.level, t.path, t.depth, per, flt, t.today, node, children)


def _merge(r: Any, self_c: dict[str, int], region_c: dict[str, dict[str, int]], unit_c: dict[int, dict[str, int]]) -> None:
    """Add one summary row (is_self, region_code, agency_id, counters...) to its node."""
    if r[0]:
        target = self_c
    elif r[2]:
        target = unit_c.setdefault(int(r[2]), _zero())
    else:
        target = region_c.setdefault(r[1], _zero())
    for c, v in zip(COUNTERS, r[3:], strict=True):
        target[c] += v


async def _from_facts(session: AsyncSession, scope: Scope, t: Target, per: Period, ranges: list[tuple[date, date]],
                      given: dict[str, str], self_whole: bool, child_whole: bool, self_c: dict[str, int],
                      region_c: dict[str, dict[str, int]], unit_c: dict[int, dict[str, int]]) -> None:
    """Add what the summary does not hold: the partial months at the ends of the period, the nodes
    that keep no dimension set for these filters, and (under filters) the unit leaves."""
    params: dict[str, Any] = {"r": t.code, "child_pos": t.depth + 2, "d0": per.start, "d1": per.end}
    edge = []
    for n, (a, b) in enumerate(ranges):
        params[f"e0_{n}"], params[f"e1_{n}"] = a, b
        edge.append(f"f.day BETWEEN :e0_{n} AND :e1_{n}")
    in_edges = "(" + " OR ".join(edge) + ")" if edge else "false"
    wanted = [in_edges]
    if self_whole or child_whole:
        wanted.append("true")
    if given:
        wanted.append("(f.region_code = :r AND f.agency_id <> 0)")
    if wanted == ["false"]:
        return
    dims = " AND ".join(f"f.{d} = :f_{d}" for d in given) or "true"
    params.update({f"f_{d}": v for d, v in given.items()})
    child = "CASE WHEN f.region_path = :p_path THEN NULL ELSE split_part(f.region_path, '/', :child_pos) END"
    sql = (f"SELECT {child} AS child, f.agency_id, f.region_code = :r AS at_r, {in_edges} AS in_edges,"
           f" {_sums('f')} FROM rollup_fact f WHERE {_under('f', t.path, params)} AND f.day BETWEEN :d0 AND :d1"
           f" AND {dims} AND {_visible_fact(scope, 'f', params)} AND ({' OR '.join(wanted)}) GROUP BY 1, 2, 3, 4")
    for r in (await session.execute(text(sql), params)).mappings():
        counts = {c: int(r[c]) for c in COUNTERS}
        if self_whole or r["in_edges"]:
            _add(self_c, counts)
        if r["child"] is not None and (child_whole or r["in_edges"]):
            _add(region_c.setdefault(r["child"], _zero()), counts)
        if r["at_r"] and r["agency_id"] and (given or r["in_edges"]):
            _add(unit_c.setdefault(int(r["agency_id"]), _zero()), counts)


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for c in COUNTERS:
        into[c] += counts[c]


async def _children(session: AsyncSession, t: Target, region_c: dict[str, dict[str, int]],
                    unit_c: dict[int, dict[str, int]]) -> list[Node]:
    """Every region below (with its figures, zero where none) and the units at this region with figures."""
    ids = sorted(a for a, c in unit_c.items() if any(c.values()))
    rows = (await session.execute(text(
        "SELECT g.code, NULL::bigint AS agency_id, g.name, g.level, g.path, rr.depth FROM region g"
        " JOIN rollup_region rr ON rr.code = g.code WHERE g.parent_code = :r"
        " UNION ALL SELECT a.region_code, a.id, a.name, 'unit', a.region_path, 9 FROM agency a"
        " WHERE a.id = ANY(CAST(:ids AS bigint[])) ORDER BY 2 NULLS FIRST, 1"), {"r": t.code, "ids": ids})).all()
    names = {r.agency_id: r.name for r in rows if r.agency_id is not None}
    out = [Node(r.code, None, r.name, r.level, region_c.get(r.code, _zero()), r.path, r.depth)
           for r in rows if r.agency_id is None]
    out += [Node(t.code, a, names.get(a, f"单位{a}"), "unit", unit_c[a]) for a in ids]
    return out


def of_child(r: Rollup, n: Node) -> Rollup:
    """The roll-up of a region child, for its series (same period and filters)."""
    return Rollup(n.region_code, n.name, n.level, n.path, n.depth, r.period, r.filters, r.as_of, n, [])


async def series(session: AsyncSession, scope: Scope, r: Rollup, figure: Figure,
                 agency_id: int | None = None) -> list[tuple[date, float]]:
    """The figure month by month over the period (the node's, or one unit's at this region)."""
    given = r.filters.given()
    by_month: dict[date, dict[str, int]] = {m: _zero() for m in r.period.months()}
    first, last = r.period.full_months()
    whole = {m for m in by_month if first is not None and last is not None and first <= m <= last}
    g_node = summary_gset(r.depth, given) if agency_id is None else (1 if not given else None)
    if g_node is None:
        whole = set()  # the node keeps no dimension set for these filters: all from the facts
    if whole:
        params: dict[str, Any] = {"r": r.region_code, "m0": min(whole), "m1": max(whole)}
        if agency_id is None:
            g, node = g_node, "s.region_code = :r AND s.agency_id = 0"
        else:
            g, node = 1, "s.region_code = :r AND s.agency_id = :a"
            params["a"] = agency_id
        sql = (f"SELECT s.month, {_sums('s')} FROM rollup_summary s WHERE {node} AND s.gset = {g}"
               f" AND s.month BETWEEN :m0 AND :m1 AND {_dims_sql('s', g, given, params, 'a')}"
               f" AND {_visible_summary(scope, 's', params)} GROUP BY 1")
        for row in (await session.execute(text(sql), params)).mappings():
            by_month[row["month"]] = {c: int(row[c]) for c in COUNTERS}
    rest = sorted(set(by_month) - whole)
    if rest:
        fparams: dict[str, Any] = {"d0": r.period.start, "d1": r.period.end, "months": rest}
        where = [_under("f", r.region_path, fparams), "f.day BETWEEN :d0 AND :d1", _visible_fact(scope, "f", fparams),
                 "date_trunc('month', f.day)::date = ANY(CAST(:months AS date[]))"]
        if agency_id is not None:
            where.append("f.agency_id = :a AND f.region_code = :r")
            fparams.update({"a": agency_id, "r": r.region_code})
        where += [f"f.{d} = :f_{d}" for d in given]
        fparams.update({f"f_{d}": v for d, v in given.items()})
        sql = (f"SELECT date_trunc('month', f.day)::date AS month, {_sums('f')} FROM rollup_fact f"
               f" WHERE {' AND '.join(where)} GROUP BY 1")
        for row in (await session.execute(text(sql), fparams)).mappings():
            by_month[row["month"]] = {c: int(row[c]) for c in COUNTERS}
    return [(m, figure.value(c)) for m, c in sorted(by_month.items())]


# --- drill-down ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemPage:
    kind: str  # inspection, target, problem, clue, escalation, measure
    ids: list[int]
    has_next: bool


def _item_query(figure: Figure, t: Target, agency_id: int | None, per: Period, flt: Filters, scope: Scope,
                params: dict[str, Any]) -> tuple[str, str, str]:
    """(kind of item listed, FROM ... WHERE ..., the id column)."""
    if figure.kind is None:
        raise InvalidInput("figure", "a rate has no items of its own: drill into its numerator or denominator")
    where = ["f.kind = :kind", _under("f", t.path, params), "f.day BETWEEN :d0 AND :d1",
             _visible_fact(scope, "f", params)]
    params.update({"kind": figure.kind, "d0": per.start, "d1": per.end})
    if agency_id is not None:
        where.append("f.agency_id = :agency AND f.region_code = :r")
        params.update({"agency": agency_id, "r": t.code})
    for d, v in flt.given().items():
        where.append(f"f.{d} = :f_{d}")
        params[f"f_{d}"] = v
    if figure.name in ("measures", "measures_completed"):
        done = " AND m.completed_at IS NOT NULL" if figure.name == "measures_completed" else ""
        return ("measure", "FROM measure m JOIN rollup_fact f ON f.kind = 'problem' AND f.tenant_id = m.tenant_id"
                f" AND f.item_id = m.instance_id WHERE {' AND '.join(where)}{done}", "m.id")
    num = " + ".join(f"f.{c}" for c in figure.numerator)
    minus = " + ".join(f"f.{c}" for c in figure.minus)
    where.append(f"({num}) > 0" + (f" AND ({minus}) = 0" if minus else ""))
    return figure.kind, f"FROM rollup_fact f WHERE {' AND '.join(where)}", "f.item_id"


async def items(session: AsyncSession, principal: Principal, scope: Scope, figure: Figure, region_code: str,
                per: Period, flt: Filters | None = None, *, agency_id: int | None = None, first: int = 20,
                after: int | None = None) -> tuple[ItemPage, int]:
    """The items behind a figure, by id, a page at a time; and how many there are (= the figure)."""
    t = await resolve(session, principal, scope, region_code)
    params: dict[str, Any] = {}
    kind, body, id_col = _item_query(figure, t, agency_id, per, flt or Filters(), scope, params)
    page = f" AND {id_col} > :after" if after is not None else ""
    rows = (await session.execute(text(f"SELECT {id_col} {body}{page} ORDER BY {id_col} LIMIT :n"),
                                  {**params, "after": after, "n": first + 1})).scalars().all()
    total = int((await session.execute(text(f"SELECT count(*) {body}"), params)).scalar_one())
    return ItemPage(kind, [int(i) for i in rows[:first]], len(rows) > first), total


# --- maintenance -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One disagreement between the maintained rows and the truth."""

    table: str
    key: str
    maintained: dict[str, int] | None
    truth: dict[str, int] | None

    def __str__(self) -> str:
        if self.maintained is None:
            return f"{self.table} {self.key}: missing (truth {self.truth})"
        if self.truth is None:
            return f"{self.table} {self.key}: not in the truth (maintained {self.maintained})"
        diff = {c: (self.maintained[c], self.truth[c]) for c in self.truth if self.maintained.get(c) != self.truth[c]}
        return f"{self.table} {self.key}: maintained != truth {diff}"


SUMMARY_KEY = ("tenant_id", "region_code", "agency_id", "month", "gset", "category", "ikind", "source", "severity",
               "owner_tenant_id", "released")
FACT_KEY = ("tenant_id", "kind", "item_id")
FACT_ATTRS = ("agency_id", "agency_tenant_id", "region_code", "region_path", "owner_depth", "released", "day",
              "category", "ikind", "source", "severity")


async def check(session: AsyncSession, *, limit: int = 50) -> list[Difference]:
    """Compare the facts and summary rows with the base tables' GROUP BY truth (system session)."""
    nonzero = " OR ".join(f"{c} <> 0" for c in COUNTERS)
    out: list[Difference] = []
    sources = " UNION ALL ".join(f"SELECT * FROM rollup_src_{k}" for k in KINDS)
    cols = ", ".join(FACT_KEY + FACT_ATTRS + COUNTERS)
    for table, a, b in (("rollup_fact", "rollup_fact", f"({sources}) t"), ("rollup_fact", f"({sources}) t", "rollup_fact")):
        rows = (await session.execute(text(
            f"SELECT {cols} FROM {a} EXCEPT SELECT {cols} FROM {b} LIMIT :n"), {"n": limit})).mappings().all()
        for r in rows:
            key = "/".join(str(r[k]) for k in FACT_KEY)
            vals = {c: r[c] for c in FACT_ATTRS + COUNTERS}
            if a == "rollup_fact":
                out.append(Difference(table, key, vals, None))
            else:
                out.append(Difference(table, key, None, vals))
    key = ", ".join(SUMMARY_KEY)
    counters = ", ".join(COUNTERS)
    sql = (f"WITH m AS (SELECT {key}, {counters} FROM rollup_summary WHERE {nonzero}),"
           f" t AS (SELECT {key}, {counters} FROM rollup_truth_summary WHERE {nonzero})"
           f" SELECT 'm' AS side, * FROM (SELECT * FROM m EXCEPT SELECT * FROM t) x"
           f" UNION ALL SELECT 't', * FROM (SELECT * FROM t EXCEPT SELECT * FROM m) y LIMIT :n")
    by: dict[str, dict[str, Any]] = {}
    for r in (await session.execute(text(sql), {"n": limit * 2})).mappings():
        k = "/".join(str(r[c]) for c in SUMMARY_KEY)
        by.setdefault(k, {})[r["side"]] = {c: int(r[c]) for c in COUNTERS}
    for k, sides in by.items():
        out.append(Difference("rollup_summary", k, sides.get("m"), sides.get("t")))
    return out[:limit]


async def rebuild(session: AsyncSession) -> None:
    """Recompute every fact and summary row from the base tables (system session)."""
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    await session.execute(text("SELECT ducha_rollup_rebuild()"))


async def set_today(session: AsyncSession, day: date) -> int:
    """Move the roll-ups' today (system session); returns how many problems were refreshed."""
    return int((await session.execute(text("SELECT ducha_rollup_set_today(:d)"), {"d": day})).scalar_one())


async def today(session: AsyncSession) -> date:
    return (await session.execute(text("SELECT today FROM rollup_clock WHERE id = 1"))).scalar_one()


def parse_figure(name: str) -> Figure:
    f = FIGURES.get(name)
    if f is None:
        raise InvalidInput("figure", f"unknown figure {name!r}")
    return f


def figure_names() -> Sequence[str]:
    return list(FIGURES)
