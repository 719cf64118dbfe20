"""Every root field of the SDL has an operation document in graphql/operations/ (in production
only those run, by their SHA-256); every document is valid against the committed SDL; and each
document added for the calendar, clues, directory, escalation, inbox, roll-ups, assessment and
key tasks runs here through the HTTP endpoint by its persisted hash alone, as a demo user of the
right role with real ids, answering data without errors or a typed error member."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from graphql import OperationDefinitionNode, build_schema, parse, validate
from sqlalchemy import text

from ducha.graphql import persisted
from ducha.services import calendar_store, deadlines, escalation
from ducha.services.demo_scenario import seed_scenario
from tests.conftest import token
from tests.cycle_helpers import agency_ids, tenant_id
from tests.rollup_helpers import ALL
from tests.test_assessment import INDICATORS
from tests.test_tasks import workbook

ROOT = Path(__file__).resolve().parent.parent
OPS = ROOT / "graphql" / "operations"
SDL = ROOT / "graphql" / "schema.graphql"
SHA = "cd" * 32
RAN: set[str] = set()

# Root fields the front end never calls, so no document ships for them ("Type.field": why).
# Empty: every Query and Mutation field is for a screen.
NOT_FOR_THE_FRONT_END: dict[str, str] = {}

# The documents added with this module; each must run here (the last test checks it).
NEW_DOCS = {
    # directory
    "Tenants", "GrantRole", "RevokeRole",
    # calendar
    "IsWorkingDay", "AddWorkingDays", "WorkingDayPreview", "ClueDeadlinePreview", "CalendarMonth", "CalendarYears",
    "LoadOfficialCalendar",
    # clues
    "ClueDetail", "Clues", "ClueTransferTargets", "RegisterClue", "TransferClue", "ReceiveClue",
    "StartClueInvestigation", "FeedBackClue", "CloseClue", "LinkClueToProblem", "AddClueFiles",
    # escalation
    "Deadlines", "Escalations", "EscalationPolicy", "DeadLetters", "DecideEscalation", "SuspendDeadline",
    "ResumeDeadline", "ExtendDeadline", "SetEscalationPolicy",
    # inbox
    "UnreadCount", "Inbox", "MarkNotificationsRead", "MarkAllNotificationsRead",
    # roll-ups
    "RollupDashboard", "RollupItems",
    # assessment
    "AssessmentSets", "AssessmentRuns", "SaveAssessmentSet", "ScoreAssessmentIndicator", "RunAssessment",
    "DecideAssessmentInterview",
    # key tasks
    "TaskLists", "MyTasks", "TaskListXlsx", "ResponsibilityLetters", "LawReviewCoverage", "ObservationCoverage",
    "ImportTaskList", "ReportTaskProgress", "IssueResponsibilityLetter", "SignResponsibilityLetter", "RecordLawReview",
    "AddObservationPoint",
}
ERRORS = {"NotAllowed", "NotFound", "ValidationError", "InvalidTransition", "Conflict", "UnresolvedUnits"}


def _documents() -> dict[str, OperationDefinitionNode]:
    out = {}
    for f in sorted(OPS.glob("*.graphql")):
        (definition,) = parse(f.read_text(encoding="utf-8")).definitions
        assert isinstance(definition, OperationDefinitionNode) and definition.name is not None, f.name
        out[f.stem] = definition
    return out


async def run(client: Any, login: str, name: str, /, expect: str | None = None, **variables: Any) -> Any:
    """POST the operation by its persisted hash only (as production does), as `login`; the value of
    its one root field. A union answer must be `expect` (when given) and, if an error member, typed."""
    doc = (OPS / f"{name}.graphql").read_text(encoding="utf-8")
    body = {"operationName": name, "variables": variables,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": persisted.sha256(doc)}}}
    r = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token(login)}"})
    assert r.status_code == 200, (name, r.text)
    out = r.json()
    assert not out.get("errors"), (name, out["errors"])
    RAN.add(name)
    (value,) = out["data"].values()
    if isinstance(value, dict) and "__typename" in value:
        if value["__typename"] in ERRORS:
            assert value["code"] and value["message"], (name, value)
        if expect is not None:
            assert value["__typename"] == expect, (name, value)
    return value


# ---- (a) and (b): coverage and validity ----------------------------------------------------------

def test_every_root_field_has_an_operation_document():
    schema = build_schema(SDL.read_text(encoding="utf-8"))
    used: set[str] = set()
    for definition in _documents().values():
        root = schema.mutation_type if definition.operation.value == "mutation" else schema.query_type
        assert root is not None
        for sel in definition.selection_set.selections:
            name = getattr(sel, "name", None)
            if name is not None and not name.value.startswith("__"):
                used.add(f"{root.name}.{name.value}")
    fields = {f"{t.name}.{n}" for t in (schema.query_type, schema.mutation_type) if t is not None for n in t.fields}
    assert set(NOT_FOR_THE_FRONT_END) <= fields, "an exclusion names a field the SDL no longer has"
    assert fields - used - set(NOT_FOR_THE_FRONT_END) == set()


def test_every_document_validates_and_is_in_the_manifest():
    schema = build_schema(SDL.read_text(encoding="utf-8"))
    manifest = persisted.manifest()
    docs = _documents()
    for f in sorted(OPS.glob("*.graphql")):
        source = f.read_text(encoding="utf-8")
        assert validate(schema, parse(source)) == [], f.name
        assert docs[f.stem].name.value == f.stem  # one named operation per file, named like the file
        assert manifest.get(persisted.sha256(source)) == source, f.name
    assert NEW_DOCS <= set(docs)


def test_documents_take_user_input_as_variables():
    """No string literal argument in the new documents: what a user types travels as a variable."""
    from graphql import StringValueNode, visit
    from graphql.language import Visitor

    class Literals(Visitor):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def enter_argument(self, node, *_):  # type: ignore[no-untyped-def]
            if isinstance(node.value, StringValueNode):
                self.found.append(node.name.value)

    for name in sorted(NEW_DOCS):
        v = Literals()
        visit(parse((OPS / f"{name}.graphql").read_text(encoding="utf-8")), v)
        assert v.found == [], (name, v.found)


# ---- (c): every new document runs by its hash ----------------------------------------------------

@pytest.fixture(scope="module")
async def world(db, demo):
    """The demo province with the running 2024 scenario (嘉鱼县's inspections, 咸宁市's of 嘉鱼县)."""
    async with db.system_session() as s:
        await seed_scenario(s)
    xinjie, court = await agency_ids(db, "新街镇人民政府", "嘉鱼县人民法院")
    return {"jiayu": await tenant_id(db, "421221"), "xianning": await tenant_id(db, "421200"),
            "yunxi": await tenant_id(db, "420322"), "xinjie": xinjie, "court": court,
            "today": calendar_store.today()}


async def test_directory_documents(client, world):
    tenants = await run(client, "xianning.office", "Tenants")
    assert {t["regionCode"] for t in tenants} >= {"421200", "421221"}
    assert "420300" not in {t["regionCode"] for t in tenants}  # 十堰市: not 咸宁's
    role = {"login": "yunxi.inspector", "role": "COMMITTEE_MEMBER", "regionCode": "420322"}
    g = await run(client, "yunxi.office", "GrantRole", "RoleGrantChanged", input=role)
    assert g["grant"]["role"] == "COMMITTEE_MEMBER" and g["grant"]["region"]["code"] == "420322"
    await run(client, "yunxi.office", "GrantRole", "Conflict", input=role)  # held already: typed
    await run(client, "yunxi.office", "RevokeRole", "RoleGrantChanged", input=role)
    await run(client, "jiayu.office", "RevokeRole", "NotFound", input=role)  # a peer's user


async def test_calendar_documents(client, world):
    assert await run(client, "jiayu.xinjie", "IsWorkingDay", date="2026-10-10") is True  # make-up Saturday
    assert await run(client, "jiayu.court", "AddWorkingDays", start="2026-09-30", days=1) == "2026-10-08"
    p = await run(client, "jiayu.office", "WorkingDayPreview", start="2026-02-13", days=2)
    assert p == {"dueOn": "2026-02-24", "provisional": False, "workingDays": 2}
    c = await run(client, "jiayu.court", "ClueDeadlinePreview", importance="IMPORTANT", discoveredOn="2025-09-26")
    assert c["dueOn"] == "2025-10-10"
    month = await run(client, "jiayu.office", "CalendarMonth", year=2026, month=10)
    assert len(month) == 31 and {d["kind"] for d in month} >= {"HOLIDAY", "WORKDAY", "WEEKEND", "MAKEUP_WORKDAY"}
    years = {y["year"]: y for y in await run(client, "jiayu.office", "CalendarYears")}
    assert years[2026]["source"] == "PACKAGE" and not years[2026]["provisional"]
    await run(client, "jiayu.office", "LoadOfficialCalendar", "NotAllowed", input={"year": 2026, "fromPackage": True})
    # the platform admin reloads a year the package knows: the same days, deadlines unchanged
    loaded = await run(client, "hubei.office", "LoadOfficialCalendar", "CalendarYearLoaded",
                       input={"year": 2026, "fromPackage": True, "note": "国务院办公厅通知（重新载入）"})
    assert loaded["year"]["source"] == "PACKAGE" and loaded["changedDeadlines"] == 0


async def test_clue_and_inbox_documents(client, world):
    found = (world["today"] - dt.timedelta(days=7)).isoformat()
    c = await run(client, "jiayu.court", "RegisterClue", "Clue", input={
        "source": "LITIGATION", "importance": "IMPORTANT", "discoveredOn": found, "title": "行政处罚程序违法（文档）",
        "content": "法院审理中发现某局处罚未听证。", "files": [{"name": "判决书.pdf", "sha256": SHA, "sizeBytes": 2048}]})
    cid = c["id"]
    assert c["state"] == "REGISTERED" and c["deadlines"][0]["subjectType"] == "clue.transfer"
    f = await run(client, "jiayu.court", "AddClueFiles", "Clue",
                  input={"clueId": cid, "files": [{"name": "庭审笔录.pdf", "sha256": "ef" * 32, "sizeBytes": 4096}]})
    assert {x["name"] for x in f["files"]} == {"判决书.pdf", "庭审笔录.pdf"}
    targets = await run(client, "jiayu.court", "ClueTransferTargets", clueId=cid)
    office = next(t["id"] for t in targets if t["kind"] == "OFFICE")
    t = await run(client, "jiayu.court", "TransferClue", "Clue", input={"clueId": cid, "receiverAgencyId": office,
                                                                         "note": "请依法督察"})
    assert t["state"] == "TRANSFERRED" and t["transfers"][-1]["receiverName"] == "中共嘉鱼县委全面依法治县委员会办公室"
    await run(client, "jiayu.court", "ReceiveClue", "NotAllowed", clueId=cid)  # only the receiver signs
    assert (await run(client, "jiayu.office", "ReceiveClue", "Clue", clueId=cid))["state"] == "RECEIVED"
    assert (await run(client, "jiayu.office", "StartClueInvestigation", "Clue", clueId=cid))["state"] == "INVESTIGATING"
    # the office turns it into a problem of its own 2024 inspection (the demo scenario's)
    problems = await run(client, "jiayu.office", "ProblemList", first=5, filter={"year": 2024})
    problem = problems["edges"][0]["node"]["problem"]["id"]
    linked = await run(client, "jiayu.office", "LinkClueToProblem", "Clue",
                       input={"clueId": cid, "problemType": "problem", "problemId": problem})
    assert linked["problemId"] == problem and linked["problem"]["id"] == problem
    fb = await run(client, "jiayu.office", "FeedBackClue", "Clue",
                   input={"clueId": cid, "feedback": "经核查属实，已纳入督察问题清单。"})
    assert fb["state"] == "ANSWERED" and fb["transfers"][-1]["feedback"].startswith("经核查")
    await run(client, "jiayu.court", "CloseClue", "ValidationError", input={"clueId": cid, "note": " "})
    closed = await run(client, "jiayu.court", "CloseClue", "Clue", input={"clueId": cid, "note": "反馈已收悉，办结。"})
    assert closed["state"] == "CLOSED" and all(d["closedAt"] for d in closed["deadlines"])
    detail = await run(client, "jiayu.office", "ClueDetail", "Clue", id=cid)
    assert (detail["origin"]["name"], [h["direction"] for h in detail["transfers"]]) == ("嘉鱼县人民法院", ["TO_OFFICE"])
    assert len(detail["files"]) == 2 and detail["problem"]["id"] == problem
    await run(client, "yunxi.office", "ClueDetail", "NotFound", id=cid)
    listed = await run(client, "jiayu.court", "Clues", first=20, filter={"search": "行政处罚程序违法（文档）"})
    assert [e["node"]["id"] for e in listed["edges"]] == [cid] and listed["totalCount"] == 1

    # the court's inbox: told of the receipt, the feedback; it reads them
    unread = await run(client, "jiayu.court", "UnreadCount")
    box = await run(client, "jiayu.court", "Inbox", first=20, unreadOnly=True)
    assert unread == box["totalCount"] >= 2
    mine = [e["node"]["id"] for e in box["edges"] if e["node"]["subjectType"] == "clue" and e["node"]["subjectId"] == cid]
    assert mine
    marked = await run(client, "jiayu.court", "MarkNotificationsRead", "NotificationsMarked", ids=mine)
    assert marked == {"__typename": "NotificationsMarked", "count": len(mine), "unreadCount": unread - len(mine)}
    await run(client, "jiayu.court", "MarkNotificationsRead", "ValidationError", ids=["x1"])
    done = await run(client, "jiayu.court", "MarkAllNotificationsRead", "NotificationsMarked")
    assert done["unreadCount"] == 0 and await run(client, "jiayu.court", "UnreadCount") == 0


async def test_escalation_documents(client, db, world):
    cal = await _cal(db)
    async with db.system_session() as s:
        late = await deadlines.track(s, tenant_id=int(world["jiayu"]), subject_type="ops.notice", subject_id=1,
                                     agency_id=int(world["xinjie"]), due_on=dt.date(2025, 3, 3), provisional=False,
                                     title="整改通知书回执（文档）")
        due = cal.add_working_days(world["today"], 10)[0]
        running = await deadlines.track(s, tenant_id=int(world["jiayu"]), subject_type="ops.notice", subject_id=2,
                                        agency_id=int(world["xinjie"]), due_on=due, provisional=False,
                                        title="整改方案报送（文档）")
        last = (await s.execute(text("SELECT coalesce(max(id), 0) FROM outbox"))).scalar_one()
    await escalation.sweep(db, cal.add_working_days(dt.date(2025, 3, 3), 5)[0])  # reminder, letter; interview proposed

    listed = await run(client, "jiayu.office", "Deadlines", first=10, filter={"subjectType": "ops.notice"})
    by = {e["node"]["id"]: e["node"] for e in listed["edges"]}
    assert by[str(late)]["rung"] == 3 and by[str(late)]["agency"]["name"] == "新街镇人民政府"
    # the shared test database holds other tests' proposals too: page until this one
    proposal, after = None, None
    while proposal is None:
        pending = await run(client, "jiayu.leader", "Escalations", first=100, after=after,
                            filter={"status": "PROPOSED", "agencyId": world["xinjie"]})
        proposal = next((e["node"] for e in pending["edges"] if e["node"]["deadline"]["id"] == str(late)), None)
        assert proposal is not None or pending["pageInfo"]["hasNextPage"], "the interview proposal is not listed"
        after = pending["pageInfo"]["endCursor"]
    assert proposal["rung"] == "INTERVIEW"
    decide = {"escalationId": proposal["id"], "approve": True, "reason": "约谈主要负责人"}
    await run(client, "jiayu.office", "DecideEscalation", "NotAllowed", input=decide)  # staff do not decide
    assert (await run(client, "jiayu.leader", "DecideEscalation", "Escalation", input=decide))["status"] == "ISSUED"

    s_ = await run(client, "jiayu.leader", "SuspendDeadline", "Deadline",
                   input={"deadlineId": str(running), "reason": "涉及上级统一部署，暂停计时"})
    assert s_["suspendedAt"] is not None
    r = await run(client, "jiayu.leader", "ResumeDeadline", "Deadline", input={"deadlineId": str(running), "reason": "恢复计时"})
    assert r["suspendedAt"] is None
    e = await run(client, "jiayu.leader", "ExtendDeadline", "Deadline",
                  input={"deadlineId": str(running), "reason": "申请延期获批", "workingDays": 5})
    assert e["dueOn"] == cal.add_working_days(dt.date.fromisoformat(r["dueOn"]), 5)[0].isoformat()
    await run(client, "jiayu.office", "ExtendDeadline", "NotAllowed",
              input={"deadlineId": str(running), "reason": "x", "workingDays": 1})

    policy = await run(client, "jiayu.office", "EscalationPolicy")
    assert [x["thresholdWorkingDays"] for x in policy["rungs"]] == list(deadlines.DEFAULT_THRESHOLDS)
    # 咸宁市 writes the default ladder down as its own: the same rungs, now customized
    same = {"tenantId": world["xianning"], "thresholds": list(deadlines.DEFAULT_THRESHOLDS),
            "automatic": list(deadlines.DEFAULT_AUTOMATIC)}
    await run(client, "jiayu.office", "SetEscalationPolicy", "NotFound", input=same)
    p = await run(client, "xianning.office", "SetEscalationPolicy", "EscalationPolicy", input=same)
    assert p["customized"] and [x["automatic"] for x in p["rungs"]] == list(deadlines.DEFAULT_AUTOMATIC)
    dead = await run(client, "jiayu.office", "DeadLetters", first=20)
    assert dead["totalCount"] == len(dead["edges"]) or dead["pageInfo"]["hasNextPage"]
    async with db.system_session() as s:
        # the 2025 sweep issued rungs across the shared test database: their delivery jobs are no
        # business of this test, and would keep later tests' workers busy
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE id > :last AND done_at IS NULL"
                             " AND actor = 'escalation.deliver'"), {"last": last})


async def _cal(db):
    async with db.system_session() as s:
        return await calendar_store.working_calendar(s)


async def test_rollup_documents(client, world):
    period = {"year": 2024}
    r = await run(client, "jiayu.office", "RollupDashboard", "Rollup", region="421221", period=period)
    assert r["figures"]["problems"] >= 5 and set(r["figures"]) == set(ALL)
    assert sum(c["figures"]["problems"] for c in r["children"]) == r["figures"]["problems"]
    assert all(set(c["figures"]) == set(ALL) for c in r["children"])
    assert len(r["series"]) == 12 and sum(p["value"] for p in r["series"]) >= 1
    city = await run(client, "xianning.office", "RollupDashboard", "Rollup", region="421200", period=period,
                     seriesFigure="INSPECTIONS", filters={"inspectionKind": "COMPREHENSIVE"})
    assert next(c for c in city["children"] if c["regionCode"] == "421221")["figures"]["inspections"] >= 1
    await run(client, "yunxi.office", "RollupDashboard", region="421221", period=period)  # typed refusal
    # the drill-down behind the county's figure, and behind one unit's
    items = await run(client, "jiayu.office", "RollupItems", "RollupItemConnection", figure="PROBLEMS", region="421221",
                      period=period, first=100)
    assert items["totalCount"] == r["figures"]["problems"] == len(items["edges"])
    assert all(e["node"]["problemInstance"]["problem"]["title"] for e in items["edges"])
    unit = next(c for c in r["children"] if c["agencyId"] and c["figures"]["targets"])
    targets = await run(client, "jiayu.office", "RollupItems", "RollupItemConnection", figure="TARGETS", region="421221",
                        agencyId=unit["agencyId"], period=period, first=20)
    assert targets["totalCount"] == unit["figures"]["targets"]
    assert {e["node"]["target"]["agency"]["id"] for e in targets["edges"]} == {unit["agencyId"]}


async def test_assessment_documents(client, world):
    j = world["jiayu"]
    saved = await run(client, "jiayu.office", "SaveAssessmentSet", "AssessmentSetSaved",
                      input={"tenantId": j, "year": 2024, "indicators": INDICATORS, "note": "2024年度考核指标"})
    await run(client, "jiayu.office", "SaveAssessmentSet", "ValidationError",
              input={"tenantId": j, "year": 2024, "indicators": INDICATORS[:2]})  # weights do not add up to 100
    sets = await run(client, "jiayu.office", "AssessmentSets", tenantId=j, year=2024)
    assert sets[0]["id"] == saved["setId"] and sets[0]["status"] == "active"
    assert {i["code"] for i in sets[0]["indicators"]} == {i["code"] for i in INDICATORS}
    score = {"tenantId": j, "year": 2024, "code": "leadership", "subjectType": "AGENCY", "subjectId": world["xinjie"],
             "score": 85, "note": "述职评议良好"}
    await run(client, "jiayu.office", "ScoreAssessmentIndicator", "Done", input=score)
    ran = await run(client, "jiayu.office", "RunAssessment", "AssessmentRun",
                    input={"tenantId": j, "year": 2024, "level": "UNIT", "bottomN": 1, "asOf": "2024-12-31"})
    assert ran["scores"] and ran["interviews"]
    xj = next(s for s in ran["scores"] if s["subjectId"] == world["xinjie"])
    assert next(x for x in xj["explanation"] if x["code"] == "leadership")["value"] == 85.0
    iv = ran["interviews"][0]["id"]
    await run(client, "jiayu.office", "DecideAssessmentInterview", "NotAllowed", interviewId=iv, approve=True)
    await run(client, "jiayu.leader", "DecideAssessmentInterview", "Done", interviewId=iv, approve=True)
    await run(client, "jiayu.leader", "DecideAssessmentInterview", "InvalidTransition", interviewId=iv, approve=False,
              reason="已约谈")
    runs = await run(client, "jiayu.office", "AssessmentRuns", tenantId=j, year=2024)
    assert runs[0]["id"] == ran["id"]
    assert next(i for i in runs[0]["interviews"] if i["id"] == iv)["status"] != "proposed"


async def test_task_documents(client, world):
    j, year = world["jiayu"], 2026
    rows = [{"number": 1, "section": "一、党政主要负责人履行推进法治建设第一责任人职责", "content": "镇党委专题研究法治建设",
             "lead": "新街镇人民政府", "part": "嘉鱼县人民法院"},
            {"number": 2, "section": "二、法治政府建设", "content": "开展行政执法案卷评查", "lead": "陆溪镇人民政府", "part": ""}]
    bad = [{**rows[0], "lead": "县外星局"}]
    u = await run(client, "jiayu.office", "ImportTaskList", "UnresolvedUnits",
                  input={"tenantId": j, "year": year, "title": "试导入（文档）", "fileBase64": workbook(bad)})
    assert [x["name"] for x in u["units"]] == ["县外星局"]
    lst = await run(client, "jiayu.office", "ImportTaskList", "TaskList",
                    input={"tenantId": j, "year": year, "title": "2026年度重点任务清单（文档）", "fileBase64": workbook(rows),
                           "fileName": "重点任务.xlsx"})
    assert [t["number"] for t in lst["tasks"]] == [1, 2]
    lists = await run(client, "jiayu.office", "TaskLists", tenantId=j, year=year)
    assert [x["id"] for x in lists] == [lst["id"]]
    assert await run(client, "jiayu.office", "TaskListXlsx", listId=lst["id"])
    assert await run(client, "yunxi.office", "TaskListXlsx", listId=lst["id"]) is None
    mine = await run(client, "jiayu.xinjie", "MyTasks")
    task = next(t for t in mine if t["content"] == "镇党委专题研究法治建设")
    progress = {"taskId": task["id"], "agencyId": world["xinjie"], "body": "已召开专题会议", "percent": 100, "completes": True}
    await run(client, "jiayu.office", "ReportTaskProgress", "NotAllowed", input=progress)
    t = await run(client, "jiayu.xinjie", "ReportTaskProgress", "Task", input=progress)
    assert t["progress"][-1]["percent"] == 100 and any(x["doneAt"] for x in t["units"] if x["role"] == "lead")

    letter = {"tenantId": j, "year": year, "agencyId": world["xinjie"], "headName": "邓红梅",
              "content": "2026年度法治建设责任书"}
    lid = (await run(client, "jiayu.office", "IssueResponsibilityLetter", "Created", input=letter))["id"]
    await run(client, "jiayu.office", "IssueResponsibilityLetter", "Conflict", input=letter)
    await run(client, "jiayu.xinjie", "SignResponsibilityLetter", "NotAllowed", letterId=lid)
    await run(client, "jiayu.xinjie.head", "SignResponsibilityLetter", "Created", letterId=lid)
    letters = await run(client, "jiayu.xinjie", "ResponsibilityLetters", year=year)
    assert [(x["id"], bool(x["signedAt"])) for x in letters] == [(lid, True)]

    # 郧西县's office: a law-reporting review and an observation point in its towns
    y = world["yunxi"]
    cov = await run(client, "yunxi.office", "ObservationCoverage", tenantId=y)
    town = next(x for x in cov["items"] if x["points"] == 0)
    await run(client, "yunxi.office", "AddObservationPoint", "Created", input={
        "tenantId": y, "name": f"{town['name']}法治观察点（文档）", "regionCode": town["regionCode"],
        "establishedOn": "2026-03-01", "observers": ["观察员甲", "观察员乙"]})
    after = await run(client, "yunxi.office", "ObservationCoverage", tenantId=y)
    assert after["covered"] == cov["covered"] + 1
    agencies = await run(client, "yunxi.office", "Agencies", first=100, filter={"kind": "TOWN", "regionCode": "420322"})
    head = agencies["edges"][-1]["node"]
    review = {"tenantId": y, "agencyId": head["id"], "headName": "镇长（文档）", "year": 2025, "reviewedOn": "2025-12-10",
              "rating": "good", "comments": "述法报告规范", "post": "GOVERNMENT_HEAD"}
    await run(client, "yunxi.office", "RecordLawReview", "ValidationError", input={**review, "rating": "GOOD"})
    await run(client, "yunxi.office", "RecordLawReview", "Created", input=review)
    c = await run(client, "yunxi.office", "LawReviewCoverage", year=2025, tenantId=y)
    mine = {i["post"]: i for i in c["items"] if i["agencyId"] == head["id"]}
    assert mine["GOVERNMENT_HEAD"]["covered"] is True and mine["GOVERNMENT_HEAD"]["lastHeadName"] == "镇长（文档）"
    assert mine["PARTY_SECRETARY"]["covered"] is False


def test_every_new_document_ran_here():
    """Runs last in this module: each document added with it was executed by its hash above."""
    assert NEW_DOCS - RAN == set()
