"""Roll-ups through GraphQL: figures for a region and its children, periods and filters, the
drill-down behind every number, who sees what, and the check against the base tables."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from ducha.services import rollups
from tests.cycle_helpers import run_cycle
from tests.rollup_helpers import FIGS, assert_drilldowns, items, rollup

YEAR = dt.date.today().year  # run_cycle's problems are found today


@pytest.fixture(scope="module")
async def cycles(gql, db, demo):
    """嘉鱼县 inspects two towns (fed back); 咸宁市 inspects 嘉鱼县's party committee (not fed back yet)."""
    a = await run_cycle(gql, db, label="卷甲", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector",
                        targets=["新街镇人民政府", "陆溪镇人民政府"])
    b = await run_cycle(gql, db, label="卷乙", region_code="421200", office="xianning.office", leader="xianning.office",
                        committee="hubei.office", team_leader="xianning.inspector", targets=["中共嘉鱼县委员会"],
                        fed_back=False)
    return {"jiayu": a, "xianning": b}


async def test_county_rollup_counts_its_inspection_and_breaks_down_by_town(gql, cycles):
    r = await rollup(gql, "jiayu.office", "421221", {"year": YEAR})
    assert r["figures"]["inspections"] >= 1 and r["figures"]["problems"] >= 2
    towns = {c["name"]: c["figures"] for c in r["children"] if c["level"] == "town"}
    assert len(towns) == 8
    assert towns["新街镇"]["problems"] >= 1 and towns["陆溪镇"]["problems"] >= 1
    assert sum(c["figures"]["problems"] for c in r["children"]) == r["figures"]["problems"]


async def test_a_higher_offices_problem_counts_for_the_county_only_once_fed_back(gql, db, cycles):
    before = (await rollup(gql, "jiayu.office", "421221", {"year": YEAR}))["figures"]["problems"]
    city = await rollup(gql, "xianning.office", "421200", {"year": YEAR})
    jiayu_in_city = next(c for c in city["children"] if c["regionCode"] == "421221")["figures"]["problems"]
    assert jiayu_in_city == before + 1  # the city sees its own unreleased finding at 嘉鱼县
    i = cycles["xianning"]["inspection"]
    aid = (await gql.data("xianning.office", f'{{ inspection(id: "{i}") {{ ... on Inspection {{ targets {{ id }} }} }} }}'))
    agency = aid["inspection"]["targets"][0]["id"]
    d = await gql.data("xianning.office", f"""mutation {{ issueFeedback(inspectionId: "{i}", agencyId: "{agency}",
        noticeRequired: true, noticeWorkingDays: 20) {{ __typename }} }}""")
    assert d["issueFeedback"]["__typename"] == "Feedback"
    after = (await rollup(gql, "jiayu.office", "421221", {"year": YEAR}))["figures"]["problems"]
    assert after == before + 1


@pytest.mark.parametrize("login,region", [("jiayu.office", "421221"), ("xianning.office", "421200"),
                                          ("hubei.justice", "420000")])
async def test_every_figure_drills_down_to_exactly_that_many_items(gql, cycles, login, region):
    await assert_drilldowns(gql, login, region, {"year": YEAR}, children=3)


@pytest.mark.parametrize("filters", [{"category": "ENFORCEMENT"}, {"inspectionKind": "SPECIAL"},
                                     {"severity": "GENERAL", "category": "ENFORCEMENT"},
                                     {"source": "INSPECTION", "inspectionKind": "SPECIAL", "severity": "GENERAL"}])
@pytest.mark.parametrize("region", ["420000", "421200", "421221"])
async def test_filters_at_every_level_agree_with_their_items(gql, cycles, filters, region):
    r = await rollup(gql, "hubei.office", region, {"year": YEAR}, filters)
    assert r["figures"]["problems"] >= 1
    assert r["figures"]["clues"] == 0  # a clue has no category, inspection kind or severity
    await assert_drilldowns(gql, "hubei.office", region, {"year": YEAR}, filters,
                            figures=["problems", "problemsRectifying", "targets", "inspections", "measures"], children=2)


async def test_periods_quarter_month_and_ranges_with_partial_months(gql, cycles):
    today = dt.date.today()
    q = (today.month - 1) // 3 + 1
    year = (await rollup(gql, "jiayu.office", "421221", {"year": YEAR}))["figures"]["problems"]
    quarter = (await rollup(gql, "jiayu.office", "421221", {"year": YEAR, "quarter": q}))["figures"]["problems"]
    month = (await rollup(gql, "jiayu.office", "421221", {"year": YEAR, "month": today.month}))["figures"]["problems"]
    assert year >= quarter >= month >= 2
    # a range ending today and starting mid-month a year back: two partial months from the facts
    start = (today - dt.timedelta(days=380)).replace(day=15)
    for p in ({"from": start.isoformat(), "to": today.isoformat()},
              {"from": today.isoformat(), "to": today.isoformat()}):
        r = await rollup(gql, "jiayu.office", "421221", p)
        assert r["figures"]["problems"] >= 2
        await assert_drilldowns(gql, "jiayu.office", "421221", p, figures=["problems", "targets", "inspections"])
    none = await rollup(gql, "jiayu.office", "421221", {"from": "2001-01-02", "to": "2001-02-27"})
    assert all(none["figures"][f] == 0 for f in FIGS)


async def test_monthly_series_adds_up_to_the_year(gql, cycles):
    d = await gql.data("jiayu.office", f"""{{ rollup(region: "421221", period: {{year: {YEAR}}}) {{ ... on Rollup {{
        figures {{ problems }} series(figure: PROBLEMS) {{ month value }}
        children {{ name series(figure: PROBLEMS) {{ value }} figures {{ problems }} }} }} }} }}""")
    r = d["rollup"]
    assert len(r["series"]) == 12 and sum(p["value"] for p in r["series"]) == r["figures"]["problems"]
    for c in r["children"]:
        assert sum(p["value"] for p in c["series"]) == c["figures"]["problems"], c["name"]


async def test_the_table_form_carries_the_same_numbers(gql, cycles):
    d = await gql.data("xianning.office", f"""{{ rollup(region: "421200", period: {{year: {YEAR}}}) {{ ... on Rollup {{
        figures {{ problems targets }} children {{ regionCode figures {{ problems }} }}
        table(figures: [PROBLEMS, TARGETS]) {{ figures rows {{ regionCode agencyId values }} }} }} }} }}""")
    r = d["rollup"]
    rows = r["table"]["rows"]
    assert r["table"]["figures"] == ["PROBLEMS", "TARGETS"]
    assert rows[0]["values"] == [r["figures"]["problems"], r["figures"]["targets"]]
    by = {c["regionCode"]: c["figures"]["problems"] for c in r["children"]}
    assert all(row["values"][0] == by[row["regionCode"]] for row in rows[1:] if row["agencyId"] is None)


@pytest.mark.parametrize("login,region,typename", [
    ("jiayu.office", "420322", "NotFound"), ("jiayu.office", "421200", "NotFound"), ("yunxi.office", "421221", "NotFound"),
    ("jiayu.court", "421221", "NotFound"), ("jiayu.xinjie", "421221104", "NotFound"),
    ("jiayu.inspector", "421221", "NotAllowed"), ("xianning.office", "421221", "Rollup"),
    ("hubei.justice", "421221104", "Rollup")])
async def test_rollups_reach_down_the_tree_only(gql, cycles, login, region, typename):
    d = await gql.data(login, "query($r: String!) { rollup(region: $r, period: {year: 2025}) { __typename } }", {"r": region})
    assert d["rollup"]["__typename"] == typename


async def test_bad_periods_and_rates_are_typed_errors(gql, cycles):
    for p in ({"year": 2025, "quarter": 5}, {"from": "2025-02-01", "to": "2025-01-01"}, {"year": 2025, "quarter": 1, "month": 2}, {}):
        d = await gql.data("jiayu.office", "query($p: RollupPeriodInput!) { rollup(region: \"421221\", period: $p) { __typename } }", {"p": p})
        assert d["rollup"]["__typename"] == "ValidationError", p
    d = await gql.data("jiayu.office", '{ rollupItems(figure: RECTIFICATION_RATE, region: "421221", period: {year: 2025}) { __typename } }')
    assert d["rollupItems"]["__typename"] == "ValidationError"


async def test_check_finds_a_tampered_summary_row_and_rebuild_repairs_it(db, cycles):
    async with db.system_session() as s:
        assert await rollups.check(s) == []
        await s.execute(text("UPDATE rollup_summary SET problems = problems + 1 WHERE region_code = '421221'"
                             " AND agency_id = 0 AND gset = 1 AND problems > 0"))
    async with db.system_session() as s:
        diffs = await rollups.check(s)
    assert diffs and all(d.table == "rollup_summary" for d in diffs)
    assert "problems" in str(diffs[0])
    import subprocess
    import sys

    cli = subprocess.run([sys.executable, "-m", "ducha.cli", "rollup", "check"], capture_output=True, text=True)
    assert cli.returncode == 1 and "difference" in cli.stdout
    async with db.system_session() as s:
        await rollups.rebuild(s)
    cli = subprocess.run([sys.executable, "-m", "ducha.cli", "rollup", "check"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr


async def test_the_clock_moves_problems_into_overdue_and_drilldown_follows(gql, db, cycles):
    far = dt.date.today() + dt.timedelta(days=400)
    async with db.system_session() as s:
        moved = await rollups.set_today(s, far)
    assert moved >= 1
    r = await rollup(gql, "jiayu.office", "421221", {"year": YEAR})
    assert r["asOf"] == far.isoformat() and r["figures"]["problemsOverdue"] >= 1
    total, ids = await items(gql, "jiayu.office", "problemsOverdue", "421221", {"year": YEAR})
    assert total == len(ids) == r["figures"]["problemsOverdue"]
    async with db.system_session() as s:
        await rollups.set_today(s, dt.date.today())
        assert await rollups.check(s) == []


async def test_a_write_that_changes_no_fact_moves_no_summary_row(db, cycles):
    """Delivering a rung or rewording a problem changes no figure: no summary row is rewritten
    (so such writes in one region never queue on the same summary rows); a write that does
    change a fact still moves them, and the check agrees throughout."""
    snap = "SELECT xmin::text || ':' || region_code || ':' || agency_id || ':' || gset AS v FROM rollup_summary"
    async with db.system_session() as s:
        before = set((await s.execute(text(snap))).scalars())
        facts = set((await s.execute(text("SELECT xmin::text || item_id FROM rollup_fact"))).scalars())
        pid = (await s.execute(text("SELECT id FROM problem ORDER BY id LIMIT 1"))).scalar_one()
        await s.execute(text("UPDATE problem SET description = description || '（补充说明）' WHERE id = :i"), {"i": pid})
        await s.execute(text("UPDATE escalation SET deliveries = deliveries WHERE true"))
    async with db.system_session() as s:
        assert set((await s.execute(text(snap))).scalars())== before
        assert set((await s.execute(text("SELECT xmin::text || item_id FROM rollup_fact"))).scalars()) == facts
        # a severity change is a fact change: the instance's facts and its summary rows move
        sev = (await s.execute(text("SELECT severity FROM problem WHERE id = :i"), {"i": pid})).scalar_one()
        other = "serious" if sev != "serious" else "general"
        await s.execute(text("UPDATE problem SET severity = :v WHERE id = :i"), {"v": other, "i": pid})
    async with db.system_session() as s:
        assert set((await s.execute(text(snap))).scalars()) != before
        assert await rollups.check(s) == []
        await s.execute(text("UPDATE problem SET severity = :v WHERE id = :i"), {"v": sev, "i": pid})
    async with db.system_session() as s:
        assert await rollups.check(s) == []
