"""Audit of the roll-ups over many dimension values (not only the cycle helper's one
category/kind/source/severity): every filter value partitions the unfiltered figure at every
level (the summary's single-dimension sets at the province, city and county, the facts at a
town and at a unit leaf); the monthly series of every count adds up to its figure under
filters, at a unit leaf and over a date range with partial months; drill-downs under those
filters list exactly that many items; and the rates equal their drilled-down parts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from strawberry.utils.str_converters import to_camel_case

from ducha.services import inspections, problems, rollups
from ducha.services.vocab import PROBLEM_CATEGORIES, PROBLEM_SOURCES, SEVERITIES
from ducha.tenants.auth import load_identity
from ducha.tenants.models import Agency, Tenant
from tests.rollup_helpers import FIGS, ITEMS, assert_drilldowns, items, rollup

TODAY = dt.date.today()
YEAR = TODAY.year
JIAYU = "421221"
PLAN = [  # (kind, category, source, severity, common, month offset back from this month)
    ("routine", "lawful_decision_making", "hotline_12345", "major", False, 0),
    ("routine", "business_environment", "petition", "minor", True, 0),
    ("case", "enforcement", "media", "serious", False, 1),
    ("case", "other", "inspection", "general", True, 2),
    ("comprehensive", "power_supervision", "judicial_suggestion", "major", False, 3),
    ("comprehensive", "enforcement", "hotline_12345", "minor", False, 0),
]


def _found_on(months_back: int) -> dt.date:
    """A day in this year, `months_back` months before this month (clamped into January)."""
    m = max(1, TODAY.month - months_back)
    return min(TODAY, dt.date(YEAR, m, 10))


@pytest.fixture(scope="module")
async def world(db, demo) -> dict[str, Any]:
    """嘉鱼县 runs three inspections of different kinds at two towns, finding problems of many
    categories, sources and severities over several months (common and individual)."""
    async with db.system_session() as s:
        office = (await load_identity(s, "jiayu.office")).principal
        leader = (await load_identity(s, "jiayu.leader")).principal
        inspector = (await load_identity(s, "jiayu.inspector")).principal
        tenant = (await s.execute(select(Tenant.id).where(Tenant.region_code == JIAYU))).scalar_one()
        units = [(await s.execute(select(Agency).where(Agency.name == n))).scalar_one()
                 for n in ("新街镇人民政府", "陆溪镇人民政府")]
        by_kind: dict[str, int] = {}
        for kind in dict.fromkeys(k for k, *_ in PLAN):
            i = await inspections.create(s, office, tenant_id=tenant, title=f"审计五{kind}", kind=kind, form="onsite",
                                         year=YEAR, off_plan_reason="审计", starts_on=dt.date(YEAR, 1, 2))
            await inspections.decide_off_plan(s, leader, i.id, approve=True)
            await inspections.add_targets(s, office, i.id, [u.id for u in units])
            await inspections.save_work_plan(s, office, i.id, project="p", reason="r", legal_basis="b",
                                             methods=["site_visits"])
            await inspections.submit_work_plan(s, office, i.id)
            await inspections.decide_work_plan(s, leader, i.id, approve=True)
            ins = await inspections.add_inspector(s, office, tenant_id=tenant, name=f"组长{kind}", category="office",
                                                  user_id=inspector.user_id)
            await inspections.add_team_member(s, office, i.id, inspector_id=ins.id, is_leader=True)
            await inspections.start(s, office, i.id)
            by_kind[kind] = i.id
        for n, (kind, category, source, severity, common, back) in enumerate(PLAN):
            await problems.record(s, office, inspection_id=by_kind[kind], title=f"审计五问题{n}", description="",
                                  category=category, source=source, severity=severity,
                                  agency_ids=[u.id for u in (units if common else units[n % 2:n % 2 + 1])],
                                  found_on=_found_on(back))
        town = units[0].region_code
    return {"town": town, "units": [u.id for u in units]}


LEVELS = ["420000", "421200", "421221"]
DIMS = {"category": PROBLEM_CATEGORIES, "inspectionKind": None, "source": PROBLEM_SOURCES, "severity": SEVERITIES}


@pytest.mark.parametrize("dim", list(DIMS))
async def test_each_filter_value_partitions_the_figures_at_every_level(gql, world, dim):
    """Problems and targets carry every dimension they have: summing a filter over its values gives
    the unfiltered figure (items lacking the dimension - inspections, clues - drop out)."""
    values = DIMS[dim]
    if values is None:
        from ducha.services.vocab import INSPECTION_KINDS as values
    for region in [*LEVELS, world["town"]]:
        whole = await rollup(gql, "hubei.office", region, {"year": YEAR})
        total = {f: 0 for f in ("problems", "problemsCommon", "problemsRectifying", "problemsClosed", "measures")}
        per_unit: dict[str, int] = {}
        for v in values:
            part = await rollup(gql, "hubei.office", region, {"year": YEAR}, {dim: v.upper()})
            for f in total:
                total[f] += part["figures"][f]
            for c in part["children"]:
                if c["agencyId"]:
                    per_unit[c["agencyId"]] = per_unit.get(c["agencyId"], 0) + c["figures"]["problems"]
        assert total == {f: whole["figures"][f] for f in total}, (region, dim)
        for c in whole["children"]:
            if c["agencyId"] and c["figures"]["problems"]:
                assert per_unit.get(c["agencyId"], 0) == c["figures"]["problems"], (region, dim, c["name"])
    # the plan's values really are there, not only the cycle helper's: more than one value is non-empty
    county = [await rollup(gql, "hubei.office", JIAYU, {"year": YEAR}, {dim: v.upper()}) for v in values]
    assert sum(1 for c in county if c["figures"]["problems"]) >= 3, dim


@pytest.mark.parametrize("filters", [None, {"category": "ENFORCEMENT"}, {"inspectionKind": "ROUTINE"},
                                     {"source": "HOTLINE_12345", "severity": "MINOR"}])
@pytest.mark.parametrize("region", ["420000", "421221", "town"])
async def test_every_counts_series_adds_up_to_its_figure(gql, world, filters, region):
    code = world["town"] if region == "town" else region
    counts = [n for n, f in rollups.FIGURES.items() if not f.is_rate]
    for period in ({"year": YEAR}, {"from": f"{YEAR - 1}-11-17", "to": TODAY.isoformat()}):
        for chunk in (counts[:20], counts[20:]):  # at most 30 aliases a request
            fig = " ".join(f"{to_camel_case(n)}: series(figure: {n.upper()}) {{ value }}" for n in chunk)
            q = ("query($r: String!, $p: RollupPeriodInput!, $f: RollupFilterInput) { rollup(region: $r, period: $p,"
                 " filters: $f) { ... on Rollup { figures { " + " ".join(FIGS) + " } " + fig + " children { name agencyId"
                 " figures { problems targets } problems: series(figure: PROBLEMS) { value }"
                 " targets: series(figure: TARGETS) { value } } } } }")
            r = (await gql.data("hubei.office", q, {"r": code, "p": period, "f": filters}))["rollup"]
            for f in (to_camel_case(n) for n in chunk):
                assert sum(p["value"] for p in r[f]) == r["figures"][f], (code, filters, period, f)
            for c in r["children"]:
                for f in ("problems", "targets"):
                    assert sum(p["value"] for p in c[f]) == c["figures"][f], (code, filters, period, c["name"], f)


@pytest.mark.parametrize("filters", [{"category": "BUSINESS_ENVIRONMENT"}, {"inspectionKind": "CASE"},
                                     {"source": "HOTLINE_12345"}, {"severity": "MAJOR"},
                                     {"inspectionKind": "COMPREHENSIVE", "category": "ENFORCEMENT"}])
async def test_drilldowns_under_each_filter_list_the_figure_at_town_and_unit_leaves(gql, world, filters):
    for region in ("421221", world["town"]):
        await assert_drilldowns(gql, "jiayu.office", region, {"year": YEAR}, filters,
                                figures=["problems", "problemsCommon", "problemsIndividual", "problemsRectifying",
                                         "measures", "targets", "inspections"], children=4)
    # a range whose ends are partial months: edges from the facts, the middle from the summary
    await assert_drilldowns(gql, "jiayu.office", "421221", {"from": f"{YEAR - 1}-12-15", "to": TODAY.isoformat()},
                            filters, figures=["problems", "problemsCommon", "targets"], children=4)


async def test_the_planned_problems_show_by_kind_and_common_vs_individual(gql, world):
    r = await rollup(gql, "jiayu.office", "421221", {"year": YEAR}, {"inspectionKind": "ROUTINE"})
    f = r["figures"]
    # plan: one individual (1 instance) and one common at two towns (2 instances) under 平时督察
    assert f["problems"] >= 3 and f["problemsCommon"] >= 2 and f["problemsIndividual"] >= 1
    assert f["problems"] == f["problemsCommon"] + f["problemsIndividual"]
    assert f["inspections"] >= 1 and f["inspectionsRoutine"] == f["inspections"]
    total, ids = await items(gql, "jiayu.office", "problemsIndividual", "421221", {"year": YEAR}, {"inspectionKind": "ROUTINE"})
    assert total == len(ids) == f["problemsIndividual"]


async def test_rates_equal_their_drilled_down_parts(gql, world):
    for region in ("420000", "421221", world["town"]):
        r = await rollup(gql, "hubei.office", region, {"year": YEAR})
        f = r["figures"]
        closed, _ = await items(gql, "hubei.office", "problemsClosed", region, {"year": YEAR})
        found, _ = await items(gql, "hubei.office", "problems", region, {"year": YEAR})
        on_time, _ = await items(gql, "hubei.office", "problemsClosedOnTime", region, {"year": YEAR})
        assert f["rectificationRate"] == (round(closed / found, 4) if found else 0.0)
        assert f["onTimeRate"] == (round(on_time / closed, 4) if closed else 0.0)
        d = await gql.data("hubei.office", ITEMS, {"fig": "ON_TIME_RATE", "r": region, "p": {"year": YEAR}, "f": None,
                                                   "a": None, "after": None})
        assert d["rollupItems"]["__typename"] == "ValidationError"
