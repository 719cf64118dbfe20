"""Seed 004's figures reproduced by the roll-up the province and the city open every morning,
and every number drilled into lists exactly that many items (see tests/qingyang.py)."""

from __future__ import annotations

import pytest

from tests import qingyang
from tests.rollup_helpers import FIGS, assert_drilldowns, rollup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def world(db, demo):
    return await qingyang.build(db)


async def test_qingyang_figures_show_in_the_city_rollup(gql, world):
    period = {"year": qingyang.YEAR}
    r = await rollup(gql, "shiyan.office", qingyang.SHIYAN, period)
    f = r["figures"]
    assert (f["clues"], f["cluesClosed"]) == (313, 313)
    assert f["inspectionsComprehensive"] == 4 and f["inspectionsSpecial"] == 2

    special = (await rollup(gql, "shiyan.office", qingyang.SHIYAN, period, {"inspectionKind": "SPECIAL"}))["figures"]
    assert (special["problems"], special["problemsClosed"]) == (81, 80)
    assert special["problemsRectifying"] == 1 and special["lookback"] == 1
    assert special["rectificationRate"] == round(80 / 81, 4)

    comp = await rollup(gql, "shiyan.office", qingyang.SHIYAN, period, {"inspectionKind": "COMPREHENSIVE"})
    f = comp["figures"]
    assert (f["problems"], f["measures"], f["measuresCompleted"]) == (10, 30, 9)
    assert (f["inspections"], f["targets"], f["targetsLowerTenants"]) == (4, 84, 8)
    counties = [c for c in comp["children"] if c["level"] == "county"]
    assert len(counties) == 8 and all(c["figures"]["targets"] == 1 for c in counties)
    units = [c for c in comp["children"] if c["level"] == "unit"]
    assert sum(c["figures"]["targets"] for c in units) == 76  # the city departments, leaves of the city

    # the province sees the same city in its own breakdown
    prov = await rollup(gql, "hubei.office", "420000", period, {"inspectionKind": "SPECIAL"})
    shiyan = next(c for c in prov["children"] if c["regionCode"] == qingyang.SHIYAN)
    assert (shiyan["figures"]["problems"], shiyan["figures"]["problemsClosed"]) == (81, 80)


async def test_the_open_gengdi_problem_is_the_one_under_lookback(gql, world):
    d = await gql.data("shiyan.office", """query($p: RollupPeriodInput!) {
        rollupItems(figure: LOOKBACK, region: "420300", period: $p) { ... on RollupItemConnection { totalCount
          edges { node { kind problemInstance { id status problem { title } } } } } } }""", {"p": {"year": qingyang.YEAR}})
    items = d["rollupItems"]
    assert items["totalCount"] == 1 and items["edges"][0]["node"]["kind"] == "problem"
    node = items["edges"][0]["node"]["problemInstance"]
    assert node["problem"]["title"] == qingyang.GENGDI and node["status"] in ("rectifying", "notified")


@pytest.mark.parametrize("filters", [None, {"inspectionKind": "SPECIAL"}, {"inspectionKind": "COMPREHENSIVE"}])
async def test_every_qingyang_number_drills_down_to_that_many_items(gql, world, filters):
    await assert_drilldowns(gql, "shiyan.office", qingyang.SHIYAN, {"year": qingyang.YEAR}, filters,
                            figures=[f for f in FIGS if not f.startswith("escalations")], children=3)
