"""Assessment: a versioned indicator set per tenant and year, computed and hand-scored indicators,
scores per unit and per lower tenant with their explanation, ranking within a level, and the
bottom N proposed to the office leader for an interview (约谈)."""

from __future__ import annotations

import datetime as dt

import pytest

from ducha.services import rollups
from tests.cycle_helpers import run_cycle, tenant_id

YEAR = dt.date.today().year
SET = """mutation($i: AssessmentSetInput!) { saveAssessmentSet(input: $i) { __typename
    ... on AssessmentSetSaved { setId version } ... on UserError { code message } } }"""
RUN = """mutation($i: RunAssessmentInput!) { runAssessment(input: $i) { __typename ... on UserError { code message }
    ... on AssessmentRun { id setVersion scores { subjectId subjectName group total rank groupSize setVersion
      explanation { code kind weight value numerator denominator score lost note itemIds
        drillDown { figure regionCode agencyId year } } }
      interviews { id status reason subjectId } } } }"""
INDICATORS = [
    {"code": "on_time", "name": "按期整改率", "kind": "COMPUTED", "metric": "ON_TIME_RECTIFICATION_RATE", "weight": 30},
    {"code": "overdue", "name": "逾期未整改问题", "kind": "COMPUTED", "metric": "OVERDUE_PROBLEMS", "weight": 20, "cap": 4},
    {"code": "rungs", "name": "升级督办", "kind": "COMPUTED", "metric": "ESCALATION_RUNGS", "weight": 10},
    {"code": "clues", "name": "线索按时移送", "kind": "COMPUTED", "metric": "CLUE_TIMELINESS", "weight": 10},
    {"code": "self_check", "name": "自查按时", "kind": "COMPUTED", "metric": "SELF_INSPECTION_PUNCTUALITY", "weight": 10},
    {"code": "leadership", "name": "第一责任人履职（评议）", "kind": "MANUAL", "weight": 20},
]


@pytest.fixture(scope="module")
async def world(gql, db, demo):
    await run_cycle(gql, db, label="考甲", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                    committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府", "陆溪镇人民政府"])
    # 陆溪镇's problems are overdue by the roll-up's clock
    async with db.system_session() as s:
        await rollups.set_today(s, dt.date.today() + dt.timedelta(days=200))
    return {"jiayu": await tenant_id(db, "421221"), "xianning": await tenant_id(db, "421200")}


async def test_a_set_is_versioned_and_weights_add_up_to_100(gql, world):
    bad = await gql.data("jiayu.office", SET, {"i": {"tenantId": world["jiayu"], "year": YEAR,
                                                     "indicators": INDICATORS[:2]}})
    assert bad["saveAssessmentSet"]["__typename"] == "ValidationError"
    v1 = (await gql.data("jiayu.office", SET, {"i": {"tenantId": world["jiayu"], "year": YEAR, "indicators": INDICATORS}}))
    assert v1["saveAssessmentSet"]["version"] == 1
    peer = await gql.data("yunxi.office", SET, {"i": {"tenantId": world["jiayu"], "year": YEAR, "indicators": INDICATORS}})
    assert peer["saveAssessmentSet"]["__typename"] in ("NotAllowed", "NotFound")


async def test_units_are_scored_ranked_explained_and_the_last_proposed_for_interview(gql, db, world):
    xinjie = (await gql.data("jiayu.xinjie", "{ me { agency { id } } }"))["me"]["agency"]["id"]
    d = await gql.data("jiayu.office", """mutation($t: ID!, $a: ID!, $y: Int!) { scoreAssessmentIndicator(input: {tenantId: $t,
        year: $y, code: "leadership", subjectType: AGENCY, subjectId: $a, score: 80, note: "述职评议良好"}) { __typename } }""",
                       {"t": world["jiayu"], "a": xinjie, "y": YEAR})
    assert d["scoreAssessmentIndicator"]["__typename"] == "Done"
    r = (await gql.data("jiayu.office", RUN, {"i": {"tenantId": world["jiayu"], "year": YEAR, "level": "UNIT",
                                                    "bottomN": 1}}))["runAssessment"]
    assert r["__typename"] == "AssessmentRun", r
    scores = r["scores"]
    groups: dict[str, list] = {}
    for s in scores:
        groups.setdefault(s["group"], []).append(s)
        assert abs(sum(x["score"] for x in s["explanation"]) - s["total"]) < 0.011
        assert {x["code"] for x in s["explanation"]} == {i["code"] for i in INDICATORS}
        for x in s["explanation"]:
            assert abs(x["score"] + x["lost"] - x["weight"]) < 0.011
    for g, members in groups.items():
        totals = [m["total"] for m in sorted(members, key=lambda m: m["rank"])]
        assert totals == sorted(totals, reverse=True), g
        assert members[0]["groupSize"] == len(members)
    towns = {s["subjectName"]: s for s in groups["乡镇（街道）"]}
    xj, lx = towns["新街镇人民政府"], towns["陆溪镇人民政府"]
    lead = next(x for x in xj["explanation"] if x["code"] == "leadership")
    assert (lead["value"], lead["score"]) == (80.0, 16.0)
    overdue = next(x for x in lx["explanation"] if x["code"] == "overdue")
    assert overdue["value"] >= 1 and overdue["lost"] > 0
    assert overdue["drillDown"] == {"figure": "PROBLEMS_OVERDUE", "regionCode": "421221100",
                                    "agencyId": overdue["drillDown"]["agencyId"], "year": YEAR}
    # the drill-down behind the indicator lists the very problems that cost the points
    items = await gql.data("jiayu.office", """query($r: String!, $a: ID, $y: Int!) { rollupItems(figure: PROBLEMS_OVERDUE,
        region: $r, agencyId: $a, period: {year: $y}) { ... on RollupItemConnection { totalCount } } }""",
                           {"r": "421221100", "a": overdue["drillDown"]["agencyId"], "y": YEAR})
    assert items["rollupItems"]["totalCount"] == overdue["value"]
    # the last of each group, unless several share the last rank: then none is picked by an
    # arbitrary order, and the leader is told who ties at the cut
    proposed = {i["subjectId"] for i in r["interviews"]}
    tied_groups = []
    for g, members in groups.items():
        lowest = min(m["total"] for m in members)
        last = [m["subjectId"] for m in members if m["total"] == lowest]
        if len(last) == 1:
            assert last[0] in proposed, g
        else:
            assert not proposed & set(last), g
            tied_groups.append(g)
    assert len(proposed) == len(groups) - len(tied_groups)
    last_town = max(groups["乡镇（街道）"], key=lambda m: (m["rank"], m["subjectId"]))
    assert last_town["subjectId"] in proposed
    # the office leader is told, like a rung awaiting a decision
    inbox = await gql.data("jiayu.leader", "{ inbox(first: 50) { edges { node { kind title body } } } }")
    assert any(e["node"]["kind"] == "assessment.interview.proposed" for e in inbox["inbox"]["edges"])
    ties = [e["node"] for e in inbox["inbox"]["edges"] if e["node"]["kind"] == "assessment.interview.tie"]
    assert len(ties) == len(tied_groups)
    for g in tied_groups:
        note = next(t for t in ties if g in t["title"])
        lowest = min(m["total"] for m in groups[g])
        assert all(m["subjectName"] in note["body"] for m in groups[g] if m["total"] == lowest)
    iv = next(i for i in r["interviews"] if i["subjectId"] == last_town["subjectId"])
    q = 'mutation($i: ID!) { decideAssessmentInterview(interviewId: $i, approve: true) { __typename } }'
    assert (await gql.data("jiayu.office", q, {"i": iv["id"]}))["decideAssessmentInterview"]["__typename"] == "NotAllowed"
    assert (await gql.data("jiayu.leader", q, {"i": iv["id"]}))["decideAssessmentInterview"]["__typename"] == "Done"
    assert (await gql.data("jiayu.leader", q, {"i": iv["id"]}))["decideAssessmentInterview"]["__typename"] == "InvalidTransition"


async def test_a_new_version_leaves_past_scores_as_they_were(gql, world):
    before = (await gql.data("jiayu.office", "query($t: ID!, $y: Int!) { assessmentRuns(tenantId: $t, year: $y) { id setVersion"
                                             " scores { subjectId total } } }", {"t": world["jiayu"], "y": YEAR}))["assessmentRuns"]
    changed = [dict(i, weight=35) if i["code"] == "on_time" else dict(i, weight=15) if i["code"] == "leadership" else i
               for i in INDICATORS]
    v2 = await gql.data("jiayu.office", SET, {"i": {"tenantId": world["jiayu"], "year": YEAR, "indicators": changed}})
    assert v2["saveAssessmentSet"]["version"] == 2
    sets = (await gql.data("jiayu.office", "query($t: ID!, $y: Int!) { assessmentSets(tenantId: $t, year: $y) { version status"
                                           " indicators { code weight } } }", {"t": world["jiayu"], "y": YEAR}))["assessmentSets"]
    assert [(s["version"], s["status"]) for s in sets] == [(2, "active"), (1, "superseded")]
    r = (await gql.data("jiayu.office", RUN, {"i": {"tenantId": world["jiayu"], "year": YEAR, "level": "UNIT"}}))["runAssessment"]
    assert r["setVersion"] == 2 and all(s["setVersion"] == 2 for s in r["scores"])
    after = (await gql.data("jiayu.office", "query($t: ID!, $y: Int!) { assessmentRuns(tenantId: $t, year: $y) { id setVersion"
                                            " scores { subjectId total } } }", {"t": world["jiayu"], "y": YEAR}))["assessmentRuns"]
    old = {r["id"]: r for r in before}
    for run in after:
        if run["id"] in old:
            assert run == old[run["id"]]


async def test_lower_tenants_are_ranked_by_their_city_and_see_only_their_own_score(gql, db, world):
    inds = [dict(i) for i in INDICATORS]
    assert (await gql.data("xianning.office", SET, {"i": {"tenantId": world["xianning"], "year": YEAR,
                                                          "indicators": inds}}))["saveAssessmentSet"]["version"] == 1
    r = (await gql.data("xianning.office", RUN, {"i": {"tenantId": world["xianning"], "year": YEAR, "level": "TENANT",
                                                       "bottomN": 2}}))["runAssessment"]
    assert {s["group"] for s in r["scores"]} == {"下级地区"} and len(r["scores"]) == 6
    assert sorted(s["rank"] for s in r["scores"])[0] == 1
    # the bottom two, whole tie groups only
    ordered = sorted(r["scores"], key=lambda s: s["total"])
    cut_total = ordered[1]["total"]
    expected = {s["subjectId"] for s in ordered if s["total"] < cut_total}
    if sum(s["total"] == cut_total for s in ordered) == sum(s["total"] == cut_total for s in ordered[:2]):
        expected |= {s["subjectId"] for s in ordered if s["total"] == cut_total}
    assert {i["subjectId"] for i in r["interviews"]} == expected and len(expected) <= 2
    # 嘉鱼县 cannot list its city's runs; peers see nothing
    for login in ("jiayu.office", "yunxi.office"):
        d = await gql.data(login, "query($t: ID!, $y: Int!) { assessmentRuns(tenantId: $t, year: $y) { id } }",
                           {"t": world["xianning"], "y": YEAR})
        assert d["assessmentRuns"] == []
    async with db.system_session() as s:
        await rollups.set_today(s, dt.date.today())


@pytest.mark.parametrize(("totals", "n", "proposed", "straddling"), [
    ([90, 80, 70, 60], 1, {3}, set()),
    ([90, 80, 70, 60], 2, {2, 3}, set()),
    ([90, 80, 70, 70], 1, set(), {2, 3}),          # two share the last place: the leader decides
    ([90, 70, 70, 60], 2, {3}, {1, 2}),            # the last is clear, the second-last is a tie
    ([90, 70, 70, 70], 3, {1, 2, 3}, set()),       # the whole tie fits inside the bottom 3
    ([80, 80, 80], 1, set(), {0, 1, 2}),           # all equal: nobody is last
    ([90, 80], 0, set(), set()),
    ([90, 80], 5, {0, 1}, set()),                  # N over the group: everyone
    ([], 2, set(), set()),
])
def test_the_bottom_n_takes_whole_tie_groups_only(totals, n, proposed, straddling):
    from decimal import Decimal

    from ducha.services.assessment import bottom_cut

    assert bottom_cut([Decimal(t) for t in totals], n) == (proposed, straddling)
