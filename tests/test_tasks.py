"""Seed 002's key-task list imported from a workbook into 嘉鱼县, every lead and participating
unit resolved to one of its agencies; progress, the escalation ladder on overdue parts, export;
responsibility letters, law-reporting reviews and observation points with their coverage."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import text

from ducha.services import escalation, tasks_xlsx

DATA = Path(__file__).parent / "data" / "nanling_tasks_002.txt"
JIAYU = "421221"
# Units 002's list names that the demo county's directory lacks: made here, as its office would
# register them (name, kind, the short form documents use).
MISSING = [
    ("中共嘉鱼县委办公室", "party_committee", "县委办"), ("嘉鱼县人民政府办公室", "government", "县政府办"),
    ("中共嘉鱼县委组织部", "organization", None), ("中共嘉鱼县委宣传部", "department", None),
    ("中共嘉鱼县委政法委员会", "department", "县委政法委"), ("中共嘉鱼县委党校", "department", None),
    ("中共嘉鱼县委机构编制委员会办公室", "department", "县委编办"),
    ("嘉鱼县法治宣传教育领导小组办公室", "department", "县法宣办"),
    ("嘉鱼县依法行政工作领导小组办公室", "department", "县依法行政办"),
    ("嘉鱼县人力资源和社会保障局", "department", "县人社局"), ("嘉鱼县财政局", "department", None),
    ("嘉鱼县公安局", "enforcement", None), ("嘉鱼县市场监督管理局", "enforcement", None),
    ("嘉鱼县自然资源和规划局", "enforcement", None),
]
E = "... on UserError { code message }"


def seed_tasks() -> list[dict[str, str | int]]:
    """The 45 tasks of 002's attachment: number, section, content, lead units, participating units."""
    out: list[dict[str, str | int]] = []
    section = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if re.match(r"^[一二三四五六七八九十]+、", line):
            section = line
        elif m := re.match(r"^(\d+)\.(.+)$", line):
            out.append({"number": int(m[1]), "section": section, "content": m[2].strip(), "lead": "", "part": ""})
        elif line.startswith("责任单位:"):
            out[-1]["lead"] = line.removeprefix("责任单位:").strip()
        elif line.startswith("参加单位:"):
            out[-1]["part"] = line.removeprefix("参加单位:").strip()
    return out


def workbook(rows: list[dict[str, str | int]], title: str = "重点任务清单") -> str:
    wb = Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(tasks_xlsx.HEADERS)
    for r in rows:
        ws.append([r["number"], r["section"], r["content"], r["lead"], r["part"], "主要负责人", dt.date(2024, 12, 31),
                   "按期完成并报送落实情况"])
    buf = io.BytesIO()
    wb.save(buf)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
async def jiayu(db, demo):
    from ducha.tenants import directory

    async with db.system_session() as s:
        have = set((await s.execute(text("SELECT name FROM agency"))).scalars())
        for name, kind, short in MISSING:
            if name not in have:
                await directory.create_agency(s, region_code=JIAYU, kind=kind, name=name, short_name=short)
        tid = (await s.execute(text("SELECT id FROM tenant WHERE region_code = :c"), {"c": JIAYU})).scalar_one()
    return str(tid)


IMPORT = ("mutation($i: ImportTaskListInput!) { importTaskList(input: $i) { __typename " + E +
          " ... on UnresolvedUnits { units { row column name } } ... on TaskList { id title tasks { id number content"
          " leadUnits dueOn units { role agency { name } } } } } }")


@pytest.fixture(scope="module")
async def imported(gql, jiayu):
    rows = seed_tasks()
    d = await gql.data("jiayu.office", IMPORT, {"i": {"tenantId": jiayu, "year": 2024, "title": "南陵县重点任务清单（002附件）",
                                                      "fileBase64": workbook(rows), "fileName": "002附件.xlsx"}})
    return d["importTaskList"]


async def test_the_45_tasks_of_002_import_with_every_unit_resolved(imported):
    assert imported["__typename"] == "TaskList", imported
    tasks = imported["tasks"]
    assert [t["number"] for t in tasks] == list(range(1, 46))
    for t in tasks:
        assert any(u["role"] == "lead" for u in t["units"]), t["number"]
    by = {t["number"]: {(u["role"], u["agency"]["name"]) for u in t["units"]} for t in tasks}
    towns = {n for r, n in by[1] if n.endswith("镇人民政府")}
    assert {("lead", "中共嘉鱼县委办公室"), ("lead", "嘉鱼县人民政府办公室")} <= by[1] and len(towns) == 8
    assert by[27] == {("lead", "中共嘉鱼县委政法委员会"), ("lead", "嘉鱼县人民法院"), ("lead", "嘉鱼县人民检察院")}
    assert by[14] == {("lead", "嘉鱼县纪委监委"), ("participant", "中共嘉鱼县委全面依法治县委员会办公室")}
    assert ("lead", "中共嘉鱼县委全面依法治县委员会") in by[3]  # 县委法治建设议事协调机构
    assert ("lead", "嘉鱼县人民政府办公室") in by[18]  # 县政府办(目标考核办)
    assert ("lead", "嘉鱼县公安局") in by[24]  # 县直各执法部门


async def test_unresolvable_names_are_reported_and_nothing_is_imported(gql, jiayu, imported):
    rows = seed_tasks()[:3] + [{"number": 46, "section": "", "content": "新增任务", "lead": "县外星局、县委办", "part": "火星镇"}]
    d = await gql.data("jiayu.office", IMPORT, {"i": {"tenantId": jiayu, "year": 2024, "title": "试导入",
                                                      "fileBase64": workbook(rows)}})
    r = d["importTaskList"]
    assert r["__typename"] == "UnresolvedUnits" and r["code"] == "UNRESOLVED_UNITS"
    assert {(u["row"], u["column"], u["name"]) for u in r["units"]} == {(6, "lead", "县外星局"), (6, "participant", "火星镇")}
    lists = await gql.data("jiayu.office", "{ taskLists(year: 2024) { title } }")
    assert [x["title"] for x in lists["taskLists"]] == ["南陵县重点任务清单（002附件）"]


async def test_the_list_exports_as_a_workbook_that_reads_back_the_same(gql, imported):
    d = await gql.data("jiayu.office", "query($l: ID!) { taskListXlsx(listId: $l) }", {"l": imported["id"]})
    back = tasks_xlsx.read(base64.b64decode(d["taskListXlsx"]))
    seed = seed_tasks()
    assert [(t.number, t.content, t.lead_units, t.participating_units, t.due_on) for t in back] == [
        (s["number"], s["content"], s["lead"], s["part"], dt.date(2024, 12, 31)) for s in seed]
    d = await gql.data("yunxi.office", "query($l: ID!) { taskListXlsx(listId: $l) }", {"l": imported["id"]})
    assert d["taskListXlsx"] is None


async def test_lead_units_report_progress_and_overdue_parts_climb_the_ladder(gql, db, imported):
    task1 = next(t for t in imported["tasks"] if t["number"] == 1)
    d = await gql.data("jiayu.xinjie", "{ myTasks { number } me { agency { id } } }")
    assert 1 in {t["number"] for t in d["myTasks"]}
    xinjie = d["me"]["agency"]["id"]
    q = ("mutation($i: TaskProgressInput!) { reportTaskProgress(input: $i) { __typename " + E +
         " ... on Task { status progress { percent completes } units { role doneAt agency { name } } } } }")
    r = await gql.data("jiayu.xinjie", q, {"i": {"taskId": task1["id"], "agencyId": xinjie, "body": "已纳入镇年度重点工作",
                                               "percent": 100, "completes": True}})
    t = r["reportTaskProgress"]
    assert t["__typename"] == "Task" and t["status"] == "open"  # other lead units still owe their part
    assert any(u["doneAt"] for u in t["units"] if u["agency"] and u["agency"]["name"] == "新街镇人民政府")
    r = await gql.data("jiayu.court", q, {"i": {"taskId": task1["id"], "agencyId": xinjie, "body": "x"}})
    assert r["reportTaskProgress"]["__typename"] == "NotFound"  # the court takes no part: it cannot see the task
    r = await gql.data("jiayu.office", q, {"i": {"taskId": task1["id"], "agencyId": xinjie, "body": "x"}})
    assert r["reportTaskProgress"]["__typename"] == "NotAllowed"  # the office does not report for the town
    async with db.system_session() as s:
        last = (await s.execute(text("SELECT coalesce(max(id), 0) FROM outbox"))).scalar_one()
    await escalation.sweep(db, dt.date(2025, 1, 10))
    async with db.system_session() as s:
        rows = (await s.execute(text(
            "SELECT a.name, d.rung, d.closed_at IS NOT NULL AS closed FROM deadline d JOIN task_unit u ON u.id = d.subject_id"
            " JOIN agency a ON a.id = u.agency_id WHERE d.subject_type = 'task' AND u.task_id = :t"),
            {"t": int(task1["id"])})).all()
    state = {r.name: (r.rung, r.closed) for r in rows}
    assert state["新街镇人民政府"] == (0, True)
    assert state["中共嘉鱼县委办公室"][0] >= 1 and not state["中共嘉鱼县委办公室"][1]
    async with db.system_session() as s:
        # the sweep of a day in 2025 issued rungs all over the shared test database: their
        # delivery jobs are not this test's business, and would keep later tests' workers busy
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE id > :last AND done_at IS NULL"
                             " AND actor = 'escalation.deliver'"), {"last": last})


async def test_responsibility_letters_are_signed_by_the_head(gql, jiayu):
    d = await gql.data("jiayu.xinjie", "{ me { agency { id } } }")
    xinjie = d["me"]["agency"]["id"]
    d = await gql.data("jiayu.office", """mutation($a: ID!, $t: ID!) { issueResponsibilityLetter(input: {tenantId: $t,
        year: 2024, agencyId: $a, headName: "邓红梅", content: "2024年度法治建设责任书"}) { __typename ... on Created { id } } }""",
                       {"a": xinjie, "t": jiayu})
    letter = d["issueResponsibilityLetter"]["id"]
    sign = 'mutation($l: ID!) { signResponsibilityLetter(letterId: $l) { __typename } }'
    assert (await gql.data("jiayu.xinjie", sign, {"l": letter}))["signResponsibilityLetter"]["__typename"] == "NotAllowed"
    assert (await gql.data("jiayu.xinjie.head", sign, {"l": letter}))["signResponsibilityLetter"]["__typename"] == "Created"
    assert (await gql.data("jiayu.xinjie.head", sign, {"l": letter}))["signResponsibilityLetter"]["__typename"] == "InvalidTransition"
    seen = await gql.data("jiayu.office", "query($t: ID!) { responsibilityLetters(year: 2024, tenantId: $t) { headName signedAt } }",
                          {"t": jiayu})
    assert seen["responsibilityLetters"][0]["signedAt"]
    peer = await gql.data("yunxi.office", "query($t: ID!) { responsibilityLetters(year: 2024, tenantId: $t) { headName } }",
                          {"t": jiayu})
    assert peer["responsibilityLetters"] == []


async def test_law_reviews_cover_every_head_once_in_five_years(gql, jiayu):
    """述法主体: a town's 党委书记 and its 政府主要负责人 each, a department's 主要负责人; every one
    reviewed within five years (002 (九))."""
    d = await gql.data("jiayu.office", '{ agencies(first: 100, filter: {kind: TOWN, regionCode: "421221"}) { edges { node { id name } } } }')
    towns = [e["node"] for e in d["agencies"]["edges"]]
    d = await gql.data("jiayu.office", '{ agencies(first: 100, filter: {kind: JUSTICE, regionCode: "421221"}) { edges { node { id name } } } }')
    bureau = d["agencies"]["edges"][0]["node"]
    q = """mutation($i: LawReviewInput!) { recordLawReview(input: $i) { __typename
             ... on ValidationError { fields { path message } } ... on UserError { message } } }"""

    async def review(agency: str, year: int, name: str, post: str | None) -> dict:
        i = {"tenantId": jiayu, "agencyId": agency, "headName": name, "year": year, "reviewedOn": f"{year}-12-10",
             "rating": "good", **({"post": post} if post else {})}
        return (await gql.data("jiayu.office", q, {"i": i}))["recordLawReview"]

    # a town has two heads: which one must be said
    r = await review(towns[0]["id"], 2024, "某镇长", None)
    assert r["__typename"] == "ValidationError" and r["fields"][0]["path"] == ["post"]
    assert (await review(bureau["id"], 2024, "某局长", "PARTY_SECRETARY"))["__typename"] == "ValidationError"
    for n, town in enumerate(towns[:3]):
        year = (2019, 2021, 2024)[n]
        assert (await review(town["id"], year, f"镇长{n}", "GOVERNMENT_HEAD"))["__typename"] == "Created"
    # both heads of a town report in the same year; the same post twice in a year is refused
    assert (await review(towns[2]["id"], 2024, "书记2", "PARTY_SECRETARY"))["__typename"] == "Created"
    assert (await review(towns[2]["id"], 2024, "另一位镇长", "GOVERNMENT_HEAD"))["__typename"] == "Conflict"
    assert (await review(bureau["id"], 2023, "局长", None))["__typename"] == "Created"  # a department: PRINCIPAL

    c = (await gql.data("jiayu.office", "query($t: ID!) { lawReviewCoverage(year: 2025, tenantId: $t) { heads covered rate"
                                        " items { agencyId agencyName post lastReviewedYear lastHeadName covered } } }",
                        {"t": jiayu}))["lawReviewCoverage"]
    by = {(i["agencyId"], i["post"]): i for i in c["items"]}
    assert {p for (a, p) in by if a == towns[0]["id"]} == {"PARTY_SECRETARY", "GOVERNMENT_HEAD"}
    assert by[(towns[0]["id"], "GOVERNMENT_HEAD")]["covered"] is False  # 2019: outside 2021-2025
    assert by[(towns[1]["id"], "GOVERNMENT_HEAD")]["covered"] and not by[(towns[1]["id"], "PARTY_SECRETARY")]["covered"]
    assert by[(towns[2]["id"], "PARTY_SECRETARY")]["lastHeadName"] == "书记2"
    assert by[(bureau["id"], "PRINCIPAL")] == {**by[(bureau["id"], "PRINCIPAL")], "covered": True, "lastReviewedYear": 2023}
    assert c["covered"] == sum(1 for i in c["items"] if i["covered"]) == 4
    assert c["heads"] == len(c["items"]) >= 2 * len(towns) + 1
    # as of 2028 the 2023 review has run out of its five years
    later = (await gql.data("jiayu.office", "query($t: ID!) { lawReviewCoverage(year: 2028, tenantId: $t) {"
                                            " items { agencyId post covered } } }", {"t": jiayu}))["lawReviewCoverage"]
    assert not next(i for i in later["items"] if i["agencyId"] == bureau["id"])["covered"]


async def test_observation_points_reach_every_town(gql, jiayu):
    q = "query($t: ID!) { observationCoverage(tenantId: $t) { towns covered rate items { regionCode name points } } }"
    cov = (await gql.data("jiayu.office", q, {"t": jiayu}))["observationCoverage"]
    assert cov["towns"] == 8
    add = """mutation($i: ObservationPointInput!) { addObservationPoint(input: $i) { __typename } }"""
    for n, town in enumerate(cov["items"]):
        r = await gql.data("jiayu.office", add, {"i": {"tenantId": jiayu, "name": f"{town['name']}法治观察点",
                                                       "regionCode": town["regionCode"], "establishedOn": "2025-03-01",
                                                       "observers": ["观察员甲"]}})
        assert r["addObservationPoint"]["__typename"] == "Created"
        if n == 4:
            mid = (await gql.data("jiayu.office", q, {"t": jiayu}))["observationCoverage"]
            assert (mid["covered"], mid["rate"]) == (5, 0.625)
    done = (await gql.data("jiayu.office", q, {"t": jiayu}))["observationCoverage"]
    assert (done["covered"], done["rate"]) == (8, 1.0)
    r = await gql.data("jiayu.office", add, {"i": {"tenantId": jiayu, "name": "郧西观察点", "regionCode": "420322",
                                                   "establishedOn": "2025-03-01"}})
    assert r["addObservationPoint"]["__typename"] == "ValidationError"
