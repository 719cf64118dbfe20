"""Tenants never see peers or parents: every query field, with and without the app's filters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ducha.graphql.schema import Query
from ducha.policies import filters
from tests.isolation_documents import DOC_FORBIDDEN, DOC_REQUIRED, document_canaries, document_walk  # noqa: F401
from tests.isolation_rollups import ROLLUP_FORBIDDEN, ROLLUP_REQUIRED, rollup_canaries, rollup_walk  # noqa: F401

# Every Query field must be exercised here; a new field fails this list until it is.
COVERED = {"me", "region", "tenants", "agencies"}
# calendar, clues, escalation, inbox (issue 4)
COVERED |= {"isWorkingDay", "addWorkingDays", "workingDayPreview", "clueDeadlinePreview", "calendarMonth",
            "calendarYears", "clue", "clues", "clueTransferTargets", "deadlines", "escalations", "escalationPolicy",
            "deadLetters", "unreadCount", "inbox"}

# the inspection cycle (issue 3)
COVERED |= {"annualPlans", "inspections", "inspection", "problems", "problemInstance", "feedbacks", "inspectors",
            "auditTrail"}

# documents and exports (issue 6): canaries and walk in tests/isolation_documents.py
COVERED |= {"documents", "document", "documentTemplates", "documentSettings", "exportJobs", "exportJob"}

# roll-ups, assessment, key tasks (issue 5): canaries and walk in tests/isolation_rollups.py
COVERED |= {"rollup", "rollupItems", "assessmentSets", "assessmentRuns", "taskLists", "myTasks", "taskListXlsx",
            "responsibilityLetters", "lawReviewCoverage", "observationCoverage"}

REGION_FIELDS = "code name level path tenant { id name kind regionCode } children { code name }"
AGENCY_FIELDS = f"id name shortName kind kindLabel regionCode region {{ {REGION_FIELDS} }} tenant {{ id name parent {{ id name }} }}"
ALL_CODES = ["420000", "421200", "421221", "421221104", "420300", "420322", "429004", "420100"]

# Names that must never appear for a user (peers and parents), and names that must.
FORBIDDEN = {
    # 咸宁市's own items addressed to 嘉鱼县's units carry its name; its directory entries must not show
    "jiayu.office": ["十堰", "郧西", "中共咸宁市委", "湖北省", "省司法厅", "通城县", "武汉", "咸安区"],
    "jiayu.court": ["十堰", "郧西", "咸宁市", "湖北省", "省司法厅", "新街镇人民政府", "纪委监委"],
    "jiayu.xinjie": ["十堰", "郧西", "咸宁市", "湖北省", "嘉鱼县人民法院", "陆溪镇"],
    "xianning.office": ["十堰", "郧西", "湖北省", "省司法厅", "武汉"],
    "yunxi.office": ["嘉鱼", "咸宁", "十堰市委", "湖北省"],
    "shiyan.office": ["嘉鱼", "咸宁", "湖北省", "武汉"],
}
# Clue canaries (made by the `clue_canaries` fixture): 甲 court → office and 乙 office → discipline
# commission in 嘉鱼县, 丙 justice bureau → office in 郧西县.
CLUE_FORBIDDEN = {
    "jiayu.office": ["线索丙"],
    "jiayu.court": ["线索乙", "线索丙"],
    "jiayu.xinjie": ["线索甲", "线索乙", "线索丙"],
    "xianning.office": ["线索丙"],
    "yunxi.office": ["线索甲", "线索乙"],
    "shiyan.office": ["线索甲", "线索乙"],
    "jiayu.discipline": ["线索甲", "线索丙"],
    "yunxi.justice": ["线索甲", "线索乙"],
}
CLUE_REQUIRED = {
    "jiayu.office": ["线索甲", "线索乙"],
    "jiayu.court": ["线索甲"],
    "jiayu.discipline": ["线索乙"],
    "xianning.office": ["线索甲", "线索乙"],
    "shiyan.office": ["线索丙"],
    "hubei.justice": ["线索甲", "线索乙", "线索丙"],
    "yunxi.justice": ["线索丙"],
}
# Inspection canaries (the `cycle_canaries` fixture): 甲 嘉鱼县 inspects 新街镇; 乙 咸宁市 inspects
# 嘉鱼县's party committee (a lower tenant's unit); 丙 郧西县 inspects its court. Internal
# material carries 内部/报告/暗访/方案/理由 + the label; targets see only what is addressed to them.
CYCLE_FORBIDDEN = {
    "jiayu.office": ["督察丙", "问题丙", "内部乙", "报告乙", "暗访乙", "方案乙", "理由乙", "组长乙"],
    "jiayu.xinjie": ["督察乙", "问题乙", "督察丙", "内部甲", "报告甲", "暗访甲", "方案甲", "理由甲", "组长甲", "组员甲"],
    "jiayu.court": ["督察甲", "问题甲", "督察乙", "督察丙"],
    "xianning.office": ["督察丙", "问题丙", "内部丙"],
    "yunxi.office": ["督察甲", "督察乙", "问题甲", "问题乙"],
    "shiyan.office": ["督察甲", "督察乙"],
}
CYCLE_REQUIRED = {
    "jiayu.office": ["督察甲", "问题甲", "内部甲", "报告甲", "暗访甲", "方案甲", "督察乙", "问题乙", "反馈乙"],
    "jiayu.xinjie": ["督察甲", "问题甲", "反馈甲"],
    "xianning.office": ["督察甲", "内部甲", "督察乙", "内部乙", "报告乙"],
    "yunxi.office": ["督察丙", "内部丙", "问题丙"],
    "shiyan.office": ["督察丙", "问题丙"],
    "hubei.justice": ["督察甲", "督察乙", "督察丙", "内部乙"],
}
REQUIRED = {
    "jiayu.office": ["嘉鱼县", "新街镇", "嘉鱼县人民法院"],
    "xianning.office": ["咸宁市", "嘉鱼县", "通城县"],
    "hubei.justice": ["湖北省", "十堰市", "郧西县", "嘉鱼县", "武汉市"],
    "shiyan.office": ["十堰市", "郧西县"],
}


CANARY_IDS: list[str] = []


@pytest.fixture(scope="module")
async def clue_canaries(gql) -> list[str]:
    """Three clues made by their real actors, each transferred once; their ids."""
    if CANARY_IDS:
        return CANARY_IDS
    reg = ("mutation($t: String!) { registerClue(input: {source: MEDIA, importance: ROUTINE, discoveredOn: "
           "\"2025-06-02\", title: $t, content: \"isolation canary\"}) { ... on Clue { id } } }")
    move = "mutation($c: ID!, $r: ID!) { transferClue(input: {clueId: $c, receiverAgencyId: $r}) { __typename } }"
    for login, title in (("jiayu.court", "线索甲"), ("jiayu.office", "线索乙"), ("yunxi.justice", "线索丙")):
        cid = (await gql.data(login, reg, {"t": title}))["registerClue"]["id"]
        target = (await gql.data(login, "query($c: ID!) { clueTransferTargets(clueId: $c) { id } }", {"c": cid}))
        r = await gql.data(login, move, {"c": cid, "r": target["clueTransferTargets"][0]["id"]})
        assert r["transferClue"]["__typename"] == "Clue"
        CANARY_IDS.append(cid)
    return CANARY_IDS


CYCLES: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
async def cycle_canaries(gql, db) -> dict[str, dict[str, str]]:
    from tests.cycle_helpers import run_cycle

    if not CYCLES:
        CYCLES["甲"] = await run_cycle(gql, db, label="甲", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                                      committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府"])
        CYCLES["乙"] = await run_cycle(gql, db, label="乙", region_code="421200", office="xianning.office",
                                      leader="xianning.office", committee="hubei.office", team_leader="xianning.inspector",
                                      targets=["中共嘉鱼县委员会"])
        CYCLES["丙"] = await run_cycle(gql, db, label="丙", region_code="420322", office="yunxi.office", leader="yunxi.office",
                                      committee="hubei.office", team_leader="yunxi.inspector", targets=["郧西县人民法院"])
    return CYCLES


INSPECTION_FIELDS = ("id title focusArea status tenant { name } targets { name } workPlan { project reason } "
                     "team { name } notes { body } unannouncedVisits { place record } report { body } "
                     "selfInspections { content agency { name } files { name } } feedback { summary agency { name } "
                     "problems { problem { title description } } rectificationPlan { status } } lookbackOf { title }")
INSTANCE_FIELDS = ("id status agency { name } problem { title description } measures { content } "
                   "latestMeasure { content } signoffs { comment } evidence { name }")


async def cycle_walk(gql, login: str) -> list[Any]:
    out: list[Any] = [await gql.data(login, "{ annualPlans { title items { title } } }")]
    for field, node in (("inspections", INSPECTION_FIELDS), ("problems", INSTANCE_FIELDS),
                        ("feedbacks", "summary problems { problem { title } } inspection { title notes { body } }"),
                        ("inspectors", "name trainings { title }")):
        after = None
        while True:
            d = await gql.data(login, f"query($a: String) {{ {field}(first: 100, after: $a) {{ totalCount "
                                      f"edges {{ node {{ {node} }} }} pageInfo {{ hasNextPage endCursor }} }} }}", {"a": after})
            out.append(d)
            if not d[field]["pageInfo"]["hasNextPage"]:
                break
            after = d[field]["pageInfo"]["endCursor"]
    for c in CYCLES.values():
        out.append(await gql.data(login, "query($i: ID!) { inspection(id: $i) { __typename ... on Inspection { "
                                  + INSPECTION_FIELDS + " } } auditTrail(subjectType: \"inspection\", subjectId: $i) { action after } }",
                                  {"i": c["inspection"]}))
    for pid in range(1, 40):
        out.append(await gql.data(login, "query($i: ID!) { problemInstance(id: $i) { __typename ... on ProblemInstance { "
                                  + INSTANCE_FIELDS + " } } }", {"i": str(pid)}))
    return out


@pytest.fixture(params=["app+rls", "rls-only"])
def mode(request: pytest.FixtureRequest):
    filters.set_enabled(request.param == "app+rls")
    yield request.param
    filters.set_enabled(True)


async def everything(gql, login: str) -> str:
    """Every query field, deeply, as `login`; the concatenated JSON of all answers."""
    out: list[Any] = []
    out.append(await gql.data(login, "{ me { login name roles { role regionCode region { code name } } "
                                     "agency { " + AGENCY_FIELDS + " } tenant { id name region { code name } parent { name } } } }"))
    for code in ALL_CODES:
        out.append(await gql.data(login, "query($c: String!) { region(code: $c) { __typename "
                                         "... on Region { " + REGION_FIELDS + " parent { code name } } } }", {"c": code}))
    out.append(await gql.data(login, "{ tenants { id name kind regionCode region { code name } parent { id name } } }"))
    after = None
    while True:
        d = await gql.data(login, "query($a: String) { agencies(first: 100, after: $a) { totalCount "
                                  "edges { cursor node { " + AGENCY_FIELDS + " } } pageInfo { hasNextPage endCursor } } }",
                           {"a": after})
        out.append(d)
        if not d["agencies"]["pageInfo"]["hasNextPage"]:
            break
        after = d["agencies"]["pageInfo"]["endCursor"]
    out.append(await gql.data(login, """{ isWorkingDay(date: "2025-10-11") addWorkingDays(start: "2025-09-26", days: 5)
        workingDayPreview(start: "2025-09-26", days: 5) { dueOn provisional }
        clueDeadlinePreview(importance: ROUTINE, discoveredOn: "2025-04-01") { dueOn }
        calendarMonth(year: 2025, month: 10) { date kind holiday } calendarYears { year provisional }
        unreadCount escalationPolicy { customized rungs { rung thresholdWorkingDays } } }"""))
    clue_fields = ("id title content state sourceLabel origin { name } holder { name } files { name } "
                   "transfers { senderName receiverName sender { name } receiver { name } } "
                   "deadlines { title agency { name } escalations { label agency { name } } }")
    for name, field, node in (
        ("clues", "clues", clue_fields),
        ("deadlines", "deadlines", "id title subjectType agency { name } escalations { label }"),
        ("escalations", "escalations", "id label agency { name } deadline { title }"),
        ("inbox", "inbox", "id kind title body"),
        ("deadLetters", "deadLetters", "id actor lastError"),
    ):
        after = None
        while True:
            d = await gql.data(login, f"query($a: String) {{ {field}(first: 100, after: $a) {{ totalCount "
                                      f"edges {{ node {{ {node} }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                               {"a": after})
            out.append(d)
            if not d[name]["pageInfo"]["hasNextPage"]:
                break
            after = d[name]["pageInfo"]["endCursor"]
    for cid in CANARY_IDS:
        out.append(await gql.data(login, "query($c: ID!) { clue(id: $c) { __typename ... on Clue { " + clue_fields
                                  + " } } clueTransferTargets(clueId: $c) { name } }", {"c": cid}))
    out += await cycle_walk(gql, login)
    out += await document_walk(gql, login)
    out += await rollup_walk(gql, login, ALL_CODES)
    return json.dumps(out, ensure_ascii=False)


def test_every_query_field_is_covered():
    fields = {f.python_name for f in Query.__strawberry_definition__.fields}
    from strawberry.utils.str_converters import to_camel_case

    assert {to_camel_case(f) for f in fields} <= COVERED, "add the new query field to the isolation test"


@pytest.mark.parametrize("login", sorted(set(FORBIDDEN) | set(REQUIRED) | set(CLUE_FORBIDDEN) | set(CLUE_REQUIRED)
                                         | set(CYCLE_FORBIDDEN) | set(CYCLE_REQUIRED) | set(DOC_FORBIDDEN)
                                         | set(DOC_REQUIRED) | set(ROLLUP_FORBIDDEN) | set(ROLLUP_REQUIRED)))
async def test_users_see_down_the_tree_only(gql, login, mode, clue_canaries, cycle_canaries, document_canaries,
                                            rollup_canaries):
    seen = await everything(gql, login)
    for word in (FORBIDDEN.get(login, []) + CLUE_FORBIDDEN.get(login, []) + CYCLE_FORBIDDEN.get(login, [])
                 + DOC_FORBIDDEN.get(login, []) + ROLLUP_FORBIDDEN.get(login, [])):
        assert word not in seen, f"{login} ({mode}) sees {word}"
    for word in (REQUIRED.get(login, []) + CLUE_REQUIRED.get(login, []) + CYCLE_REQUIRED.get(login, [])
                 + DOC_REQUIRED.get(login, []) + ROLLUP_REQUIRED.get(login, [])):
        assert word in seen, f"{login} ({mode}) misses {word}"


async def test_region_outside_scope_is_not_found(gql, mode):
    for code in ("420322", "420300", "421200", "420000"):
        d = await gql.data("jiayu.office", "query($c: String!) { region(code: $c) { __typename } }", {"c": code})
        assert d["region"]["__typename"] == "NotFound"
    d = await gql.data("xianning.office", '{ region(code: "421221") { ... on Region { name parent { name } } } }')
    assert d["region"] == {"name": "嘉鱼县", "parent": {"name": "咸宁市"}}
    d = await gql.data("jiayu.office", '{ region(code: "421221") { ... on Region { name parent { name } } } }')
    assert d["region"] == {"name": "嘉鱼县", "parent": None}


async def test_agency_counts_match_scope(gql, mode):
    q = "{ agencies(first: 1) { totalCount } }"
    hubei = (await gql.data("hubei.justice", q))["agencies"]["totalCount"]
    xianning = (await gql.data("xianning.office", q))["agencies"]["totalCount"]
    jiayu = (await gql.data("jiayu.office", q))["agencies"]["totalCount"]
    court = (await gql.data("jiayu.court", q))["agencies"]["totalCount"]
    assert hubei > xianning > jiayu > court == 1


async def test_overseer_sees_all_and_changes_nothing(gql, mode):
    d = await gql.data("hubei.justice", "{ me { readOnly } tenants { id } }")
    assert d["me"]["readOnly"] is True
    assert len(d["tenants"]) == 1 + 17 + 99  # province, 13 cities + 4 direct units, 99 counties under cities
    r = await gql.data(
        "hubei.justice",
        'mutation { grantRole(input: {login: "jiayu.court", role: INSPECTOR, regionCode: "421221"}) { __typename } }',
    )
    assert r["grantRole"]["__typename"] == "NotAllowed"
