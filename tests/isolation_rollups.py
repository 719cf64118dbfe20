"""Roll-up, assessment and key-task canaries for tests/test_isolation.py: 嘉鱼县 (甲) and 郧西县 (丙)
each import a one-task list, save an indicator set, run an assessment and issue a responsibility
letter, every text carrying their label; the walk reads every roll-up, assessment and task
query field as each user (roll-ups and their drill-downs over the cycle canaries)."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from sqlalchemy import text

ROLLUP_FORBIDDEN = {
    "jiayu.office": ["任务丙", "考核丙", "责任人丙", "督察丙", "问题丙"],
    "jiayu.xinjie": ["任务丙", "考核甲", "考核丙", "责任人丙", "督察乙"],
    "jiayu.court": ["任务甲", "任务丙", "考核甲", "责任人甲", "督察甲"],
    "xianning.office": ["任务丙", "考核丙", "责任人丙", "督察丙"],
    "yunxi.office": ["任务甲", "考核甲", "责任人甲", "督察甲", "督察乙", "问题甲"],
    "shiyan.office": ["任务甲", "考核甲", "责任人甲", "督察甲", "督察乙"],
}
ROLLUP_REQUIRED = {
    "jiayu.office": ["任务甲", "考核甲", "责任人甲", "督察甲", "问题甲"],
    "jiayu.xinjie": ["责任人甲", "任务甲"],
    "xianning.office": ["任务甲", "考核甲", "责任人甲", "督察乙"],
    "yunxi.office": ["任务丙", "考核丙", "责任人丙", "督察丙", "问题丙"],
    "hubei.justice": ["任务甲", "任务丙", "考核甲", "考核丙", "督察甲", "督察乙", "督察丙"],
}
OFFICES = {"甲": ("jiayu.office", "421221", "新街镇人民政府"), "丙": ("yunxi.office", "420322", "郧西县司法局")}
STATE: dict[str, Any] = {}
PERIOD = {"from": "2020-01-01", "to": "2029-12-31"}
INDICATORS = [{"code": "on_time", "name": "按期整改率", "kind": "COMPUTED", "metric": "ON_TIME_RECTIFICATION_RATE",
               "weight": 60}, {"code": "rated", "name": "评议", "kind": "MANUAL", "weight": 40}]


def _workbook(label: str, lead: str) -> str:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "类别", "任务内容", "责任单位", "参加单位", "责任人", "完成时限", "验收标准"])
    ws.append([1, "", f"任务{label}：推进法治建设", lead, "", "负责人", "2025-12-31", "按期完成"])
    buf = io.BytesIO()
    wb.save(buf)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
async def rollup_canaries(gql, db, cycle_canaries) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if STATE:
        return STATE
    async with db.system_session() as s:
        STATE["tenants"] = [str(t) for t in (await s.execute(text(
            "SELECT id FROM tenant WHERE region_code IN ('420000', '421200', '421221', '420300', '420322') ORDER BY id"
        ))).scalars()]
    STATE["lists"] = []
    for label, (office, region, unit) in OFFICES.items():
        tid = cycle_canaries[label]["tenant"]
        lead = "县司法局" if label == "丙" else unit
        r = (await gql.data(office, "mutation($i: ImportTaskListInput!) { importTaskList(input: $i) { __typename"
                                    " ... on TaskList { id } ... on UserError { message } } }",
                            {"i": {"tenantId": tid, "year": 2025, "title": f"任务{label}清单",
                                   "fileBase64": _workbook(label, lead)}}))["importTaskList"]
        assert r["__typename"] == "TaskList", r
        STATE["lists"].append(r["id"])
        r = (await gql.data(office, "mutation($i: AssessmentSetInput!) { saveAssessmentSet(input: $i) { __typename } }",
                            {"i": {"tenantId": tid, "year": 2025, "note": f"考核{label}", "indicators": INDICATORS}}))
        assert r["saveAssessmentSet"]["__typename"] == "AssessmentSetSaved", r
        r = (await gql.data(office, "mutation($i: RunAssessmentInput!) { runAssessment(input: $i) { __typename } }",
                            {"i": {"tenantId": tid, "year": 2025, "level": "UNIT", "bottomN": 1}}))
        assert r["runAssessment"]["__typename"] == "AssessmentRun", r
        async with db.system_session() as s:
            aid = (await s.execute(text("SELECT id FROM agency WHERE name = :n"), {"n": unit})).scalar_one()
        r = (await gql.data(office, "mutation($i: LetterInput!) { issueResponsibilityLetter(input: $i) { __typename } }",
                            {"i": {"tenantId": tid, "year": 2025, "agencyId": str(aid), "headName": f"责任人{label}",
                                   "content": f"责任书{label}"}}))
        assert r["issueResponsibilityLetter"]["__typename"] == "Created", r
    return STATE


ROLLUP_Q = ("query($r: String!, $p: RollupPeriodInput!) { rollup(region: $r, period: $p) { __typename"
            " ... on Rollup { name figures { problems inspections clues } children { name agency { name }"
            " figures { problems } } table(figures: [PROBLEMS]) { rows { name values } } } } }")
ITEMS_Q = ("query($f: RollupFigure!, $r: String!, $p: RollupPeriodInput!) { rollupItems(figure: $f, region: $r,"
           " period: $p, first: 100) { __typename ... on RollupItemConnection { totalCount edges { node { kind id"
           " problemInstance { problem { title } agency { name } } inspection { title }"
           " target { inspection { title } agency { name } } clue { title } } } } } }")


async def rollup_walk(gql, login: str, codes: list[str]) -> list[Any]:  # type: ignore[no-untyped-def]
    out: list[Any] = []
    for code in codes:
        out.append(await gql.data(login, ROLLUP_Q, {"r": code, "p": PERIOD}))
        for fig in ("PROBLEMS", "INSPECTIONS", "TARGETS", "CLUES"):
            out.append(await gql.data(login, ITEMS_Q, {"f": fig, "r": code, "p": PERIOD}))
    for t in STATE.get("tenants", []):
        out.append(await gql.data(login, """query($t: ID!) { assessmentSets(tenantId: $t, year: 2025) { note indicators { name } }
            assessmentRuns(tenantId: $t, year: 2025) { scores { subjectName explanation { note } } interviews { reason } }
            taskLists(tenantId: $t) { title tasks { content units { agency { name } } progress { body } } }
            responsibilityLetters(year: 2025, tenantId: $t) { headName content agency { name } }
            lawReviewCoverage(year: 2025, tenantId: $t) { items { agencyName } }
            observationCoverage(tenantId: $t) { items { name } } }""", {"t": t}))
    out.append(await gql.data(login, "{ myTasks { content } responsibilityLetters(year: 2025) { headName } }"))
    for lid in STATE.get("lists", []):
        d = await gql.data(login, "query($l: ID!) { taskListXlsx(listId: $l) }", {"l": lid})
        out.append({"xlsx": _titles(d["taskListXlsx"])})
    return out


def _titles(b64: str | None) -> list[str]:
    """The workbook's cells as text (the canaries are inside the zipped sheet)."""
    if b64 is None:
        return []
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(base64.b64decode(b64)), read_only=True)
    return [str(c) for row in wb.worksheets[0].iter_rows(values_only=True) for c in row if c is not None]
