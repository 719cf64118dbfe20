"""Ledgers exported in the background: requested through the API, produced by the worker once,
opened with openpyxl as a person would (Chinese headers, frozen header row, filters, widths,
real dates), and handed only to users who may see every row in them."""

from __future__ import annotations

import io
import re
import time
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import text

from ducha.services import links
from ducha.workers import jobs
from tests.documents_helpers import drain_outbox, build_inspection, fetch

REQUEST = ("mutation($i: RequestExportInput!) { requestExport(input: $i) { __typename ... on ExportJob { id status progress "
           "rowsTotal kindLabel mine } ... on UserError { code message } } }")
JOB = ("query($i: ID!) { exportJob(id: $i) { __typename ... on ExportJob { id status progress rowsTotal error fileName "
       "sha256 sizeBytes downloadUrl mine } } }")
STATE: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
async def _leave_no_jobs(db):  # type: ignore[no-untyped-def]
    yield
    await drain_outbox(db)


@pytest.fixture(scope="module")
async def ledger_data(gql, db) -> dict:
    if "jiayu" not in STATE:
        STATE["jiayu"] = await build_inspection(
            gql, db, label="（台账）", year=2024,
            common=[("执法全过程记录不完整（台账）", "THREE_ENFORCEMENT_SYSTEMS", ["新街镇人民政府", "潘家湾镇人民政府"])],
            individual=[("规范性文件未备案（台账）", "INSTITUTION_BUILDING", "嘉鱼县司法局")])
    return STATE["jiayu"]


async def _hold(db, dedup_key: str):  # type: ignore[no-untyped-def]
    """The job's outbox row, kept from any relay running meanwhile: this test runs it itself."""
    async with db.system_session() as s:
        return (await s.execute(text("UPDATE outbox SET sent_at = now() + interval '1 hour' WHERE dedup_key = :k"
                                     " RETURNING tenant_id, id"), {"k": dedup_key})).one()


async def produce(db, job_id: str) -> str:
    """Run the export's outbox job as the worker would (twice: the second has no effect)."""
    o = await _hold(db, f"export.produce:{job_id}")
    first = await jobs.run_job(db, o.tenant_id, o.id)
    assert await jobs.run_job(db, o.tenant_id, o.id) == "skipped"
    return first


async def request(gql, login: str, kind: str, **params) -> dict:  # type: ignore[no-untyped-def]
    return (await gql.data(login, REQUEST, {"i": {"kind": kind, "params": params}}))["requestExport"]


def sheet_rows(data: bytes) -> tuple:  # type: ignore[type-arg]
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    return wb, ws, [list(r) for r in ws.iter_rows(values_only=True)]


CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_ledger_layout(ws, dates: set[str] = frozenset(), percents: set[str] = frozenset()) -> None:  # type: ignore[no-untyped-def,assignment]
    """What a person expects of a ledger: Chinese headers in bold, the header row frozen and
    filtered over every row, a width set for every column, dates as real dates (not text) and
    rates as percentages."""
    rows = [list(r) for r in ws.iter_rows()]
    header = [c.value for c in rows[0]]
    assert header and all(isinstance(h, str) and CJK.search(h) for h in header), header
    assert all(c.font.bold for c in rows[0])
    assert ws.freeze_panes == "A2"
    last = get_column_letter(len(header))
    assert ws.auto_filter.ref == f"A1:{last}{max(2, len(rows))}"
    for i in range(1, len(header) + 1):
        width = ws.column_dimensions[get_column_letter(i)].width
        assert width and width >= 6, (header[i - 1], width)
    for name in dates:
        col = header.index(name)
        values = [r[col] for r in rows[1:] if r[col].value is not None]
        assert values, f"no {name} to check"
        for c in values:
            assert c.is_date and isinstance(c.value, datetime) and "yy" in c.number_format, (name, c.value, c.number_format)
    for name in percents:
        col = header.index(name)
        for c in (r[col] for r in rows[1:] if r[col].value is not None):
            assert isinstance(c.value, (int, float)) and c.number_format.endswith("%"), (name, c.value, c.number_format)


async def test_the_county_problem_ledger_is_made_in_the_background_and_opens_as_a_ledger(gql, client, db, ledger_data):
    job = await request(gql, "jiayu.office", "PROBLEM_LEDGER", regionCode="421221", year=2024)
    assert job["__typename"] == "ExportJob" and job["status"] == "QUEUED" and job["progress"] == 0 and job["mine"]
    assert job["rowsTotal"] >= 3 and job["kindLabel"] == "问题台账"
    before = (await gql.data("jiayu.office", JOB, {"i": job["id"]}))["exportJob"]
    assert before["downloadUrl"] is None  # nothing to fetch yet
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("jiayu.office", JOB, {"i": job["id"]}))["exportJob"]
    assert done["status"] == "DONE" and done["progress"] == 100 and done["fileName"].endswith(".xlsx")
    assert done["rowsTotal"] == job["rowsTotal"] and len(done["sha256"]) == 64
    data = await fetch(client, done["downloadUrl"])
    import hashlib

    assert hashlib.sha256(data).hexdigest() == done["sha256"] and len(data) == done["sizeBytes"]
    wb, ws, rows = sheet_rows(data)
    assert ws.title == "问题台账" and wb.properties.title == "问题台账"
    header = rows[0]
    assert header[:7] == ["序号", "问题编号", "督察名称", "督察机关", "被督察单位", "所属区域", "问题"]
    assert {"问题类别", "问题来源", "整改期限", "整改措施", "状态", "销号日期", "逾期天数"} <= set(header)
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{len(rows)}"
    assert ws.column_dimensions["G"].width >= 30
    assert_ledger_layout(ws, dates={"发现日期", "整改期限"})
    assert len(rows) - 1 == job["rowsTotal"]
    col = {h: i for i, h in enumerate(header)}
    mine = [r for r in rows[1:] if r[col["督察名称"]] == "2024年度法治建设综合督察（台账）"]
    assert sorted(r[col["被督察单位"]] for r in mine) == ["嘉鱼县司法局", "新街镇人民政府", "潘家湾镇人民政府"]
    r = next(r for r in mine if r[col["被督察单位"]] == "嘉鱼县司法局")
    assert r[col["问题"]] == "规范性文件未备案（台账）" and r[col["问题类别"]] == "法治政府建设与制度建设"
    assert r[col["共性/个性"]] == "个性" and r[col["状态"]] == "已通知整改" and r[col["督察机关"]] == "中共嘉鱼县委全面依法治县委员会办公室"
    found = ws.cell(row=rows.index(r) + 1, column=col["发现日期"] + 1)
    assert found.is_date and found.number_format == "yyyy-mm-dd"  # a real date, not text
    due = ws.cell(row=rows.index(r) + 1, column=col["整改期限"] + 1)
    assert due.is_date and isinstance(r[col["逾期天数"]], int)
    # the city above may download the county's ledger (its scope covers every row) ...
    link = links.url(links.sign("export", int(ledger_data["tenant"]), int(job["id"]), "xianning.office"))
    assert (await client.get(link)).status_code == 200
    # ... a peer county and a town may not, whatever link they hold
    for login in ("yunxi.office", "jiayu.xinjie"):
        link = links.url(links.sign("export", int(ledger_data["tenant"]), int(job["id"]), login))
        assert (await client.get(link)).status_code == 403, login
    seen = (await gql.data("jiayu.xinjie", JOB, {"i": job["id"]}))["exportJob"]
    assert seen["__typename"] == "NotFound"
    async with db.system_session() as s:
        audited = (await s.execute(text("SELECT count(*) FROM audit_log WHERE action = 'export.download' AND subject_id = :i"),
                                   {"i": int(job["id"])})).scalar_one()
    assert audited == 2


async def test_users_who_may_not_see_every_row_are_refused(gql, ledger_data):
    # a town's liaison asking for the county's ledger, a peer county, a city for another city's county
    for login, region in (("jiayu.xinjie", "421221"), ("yunxi.office", "421221"), ("shiyan.office", "421221"),
                          ("jiayu.office", "421200"), ("jiayu.court", "421221")):
        r = await request(gql, login, "PROBLEM_LEDGER", regionCode=region)
        assert r["__typename"] == "NotAllowed", (login, r)
    assert (await request(gql, "jiayu.office", "PROBLEM_LEDGER", regionCode="999999"))["__typename"] == "ValidationError"
    jobs_ = await gql.data("jiayu.xinjie", "{ exportJobs(first: 10) { totalCount } }")
    assert jobs_["exportJobs"]["totalCount"] == 0  # nothing was filed for the refused


async def test_the_overseer_may_export_though_it_may_change_nothing(gql, client, db, ledger_data):
    job = await request(gql, "hubei.justice", "PROBLEM_LEDGER", regionCode="421221")
    assert job["__typename"] == "ExportJob", job
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("hubei.justice", JOB, {"i": job["id"]}))["exportJob"]
    assert done["status"] == "DONE"
    _, _, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    assert any(r[6] == "规范性文件未备案（台账）" for r in rows[1:])
    listed = await gql.data("hubei.justice", "{ exportJobs(first: 50, filter: {mine: true}) { edges { node { id } } } }")
    assert job["id"] in {e["node"]["id"] for e in listed["exportJobs"]["edges"]}
    # the overseer's job is in the province's tenant: the county office does not list it
    theirs = await gql.data("jiayu.office", "{ exportJobs(first: 100) { edges { node { id } } } }")
    assert job["id"] not in {e["node"]["id"] for e in theirs["exportJobs"]["edges"]}


async def test_the_clue_register_lists_the_clues_of_the_county(gql, client, db, ledger_data):
    reg = await gql.data("jiayu.court", """mutation { registerClue(input: {source: JUDICIAL_SUGGESTION, importance: ROUTINE,
        discoveredOn: "2024-06-03", title: "行政机关败诉案件线索（台账）", content: "司法建议反映。"}) { ... on Clue { id } } }""")
    cid = reg["registerClue"]["id"]
    t = await gql.data("jiayu.court", "query($c: ID!) { clueTransferTargets(clueId: $c) { id } }", {"c": cid})
    await gql.data("jiayu.court", "mutation($c: ID!, $r: ID!) { transferClue(input: {clueId: $c, receiverAgencyId: $r})"
                                  " { __typename } }", {"c": cid, "r": t["clueTransferTargets"][0]["id"]})
    job = await request(gql, "jiayu.office", "CLUE_REGISTER", regionCode="421221", year=2024)
    assert job["__typename"] == "ExportJob", job
    # the court sees its own clues, not the county's register
    assert (await request(gql, "jiayu.court", "CLUE_REGISTER", regionCode="421221"))["__typename"] == "NotAllowed"
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("jiayu.office", JOB, {"i": job["id"]}))["exportJob"]
    _, ws, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    assert ws.title == "线索登记簿" and rows[0][:6] == ["序号", "线索编号", "发现日期", "来源", "重要程度", "线索标题"]
    row = next(r for r in rows[1:] if r[5] == "行政机关败诉案件线索（台账）")
    assert row[3] == "司法建议" and row[9] == "已移送" and row[10] == 1 and row[12] == "中共嘉鱼县委全面依法治县委员会办公室"
    assert ws.cell(row=rows.index(row) + 1, column=3).value.date() == date(2024, 6, 3)
    assert_ledger_layout(ws, dates={"发现日期", "最近移送日期"})
    assert rows[0] == ["序号", "线索编号", "发现日期", "来源", "重要程度", "线索标题", "主要内容", "发现单位", "当前承办单位",
                       "状态", "移送次数", "最近移送日期", "最近接收单位", "签收日期", "反馈情况", "办结日期"]
    # the link is short-lived and bound to what it names: expired 410, tampered 403, and a job
    # not done yet has nothing to hand out (409)
    tenant = int(ledger_data["tenant"])
    expired = links.url(links.sign("export", tenant, int(job["id"]), "jiayu.office", now=time.time() - links.ttl_s() - 1))
    r = await client.get(expired)
    assert r.status_code == 410 and r.json()["error"]["code"] == "LINK_EXPIRED"
    token = done["downloadUrl"].removeprefix("/files/")
    claims = links.verify(token)
    assert claims.login == "jiayu.office" and claims.expires_at - time.time() <= links.ttl_s() <= 24 * 3600
    body, mac = token.split(".")
    assert (await client.get(links.url(body + "." + mac[::-1]))).status_code == 403
    other = links.sign("export", tenant, int(job["id"]) + 1, "jiayu.office")  # a signature is for one job only
    assert (await client.get(links.url(body + "." + other.split(".")[1]))).status_code == 403
    queued = await request(gql, "jiayu.office", "CLUE_REGISTER", regionCode="421221", year=2024)
    r = await client.get(links.url(links.sign("export", tenant, int(queued["id"]), "jiayu.office")))
    assert r.status_code == 409 and r.json()["error"]["code"] == "NOT_READY"
    async with db.system_session() as s:
        audited = (await s.execute(text("SELECT count(*) FROM audit_log WHERE action = 'export.download' AND subject_id = :i"),
                                   {"i": int(job["id"])})).scalar_one()
    assert audited == 1  # the one download that succeeded


async def test_a_job_failing_again_and_again_ends_failed_with_its_reason(gql, db, ledger_data, monkeypatch):
    from ducha.services import exports, ledgers

    job = await request(gql, "jiayu.office", "PROBLEM_LEDGER", regionCode="421221")

    async def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    import dataclasses

    monkeypatch.setitem(ledgers.SOURCES, "problem_ledger", dataclasses.replace(ledgers.SOURCES["problem_ledger"],
                                                                               sheets=broken))
    o = await _hold(db, f"export.produce:{job['id']}")
    for attempt in range(1, exports.MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            await jobs.run_job(db, o.tenant_id, o.id)
        state = (await gql.data("jiayu.office", JOB, {"i": job["id"]}))["exportJob"]
        assert state["status"] == ("FAILED" if attempt == exports.MAX_ATTEMPTS else "QUEUED"), (attempt, state)
    assert "disk full" in state["error"]
    assert await jobs.run_job(db, o.tenant_id, o.id) == "skipped"  # a dead letter now


async def test_the_roll_up_table_is_exported_as_the_api_shows_it(gql, client, db, ledger_data):
    from ducha.services import calendar_store

    year = calendar_store.today().year  # problems are counted in the year they were found
    job = await request(gql, "xianning.office", "ROLLUP", regionCode="421221", year=year)
    assert job["__typename"] == "ExportJob", job
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("xianning.office", JOB, {"i": job["id"]}))["exportJob"]
    assert done["status"] == "DONE", done
    wb, ws, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    assert ws.title == "汇总表" and rows[0][:2] == ["区域/单位", "层级"] and {"发现问题", "整改率", "督办函"} <= set(rows[0])
    assert rows[1][0] == "嘉鱼县（合计）" and any(r[0] == "新街镇" for r in rows[2:])
    api = await gql.data("xianning.office", "query($y: Int!) { rollup(region: \"421221\", period: {year: $y}) { ... on Rollup {"
                                            " figures { problems measures } children { name figures { problems } } } } }",
                         {"y": year})
    col = rows[0].index("发现问题")
    assert rows[1][col] == api["rollup"]["figures"]["problems"] >= 3
    by_name = {r[0]: r[col] for r in rows[2:]}
    assert {c["name"]: c["figures"]["problems"] for c in api["rollup"]["children"]} == by_name
    assert wb["说明"]["B3"].value == f"{year}年"
    assert_ledger_layout(ws, percents={f for f in rows[0] if f.endswith("率")})
    assert any(f.endswith("率") for f in rows[0])
    assert_ledger_layout(wb["说明"])
    # the city's figures count its own unreleased findings: the county may not have this file
    link = links.url(links.sign("export", int(await _tenant(db, "421200")), int(job["id"]), "jiayu.office"))
    assert (await client.get(link)).status_code == 403
    mine = await request(gql, "jiayu.office", "ROLLUP", regionCode="421221", year=year)
    assert mine["__typename"] == "ExportJob"
    # options are checked when asked, not found wrong by the worker (a filter nobody matches
    # would give a table of zeros that looks like a real one)
    before = (await gql.data("jiayu.office", "{ exportJobs(first: 1) { totalCount } }"))["exportJobs"]["totalCount"]
    for options, path in (({"category": "no_such_category"}, "params.options.category"),
                          ({"severity": 3}, "params.options.severity"), ({"quarter": "x"}, "params.options"),
                          ({"colour": "red"}, "params.options")):
        body = await gql("jiayu.office", REQUEST.replace("__typename", "__typename ... on ValidationError { fields { path } }", 1),
                         {"i": {"kind": "ROLLUP", "params": {"regionCode": "421221", "year": year, "options": options}}})
        r = body["data"]["requestExport"]
        assert r["__typename"] == "ValidationError" and r["fields"][0]["path"] == path.split("."), (options, r)
    after = (await gql.data("jiayu.office", "{ exportJobs(first: 1) { totalCount } }"))["exportJobs"]["totalCount"]
    assert after == before  # nothing filed for a refused request
    # a filter given as the API's enum spells it is taken, and the file says which
    filtered = await request(gql, "xianning.office", "ROLLUP", regionCode="421221", year=year,
                             options={"category": "THREE_ENFORCEMENT_SYSTEMS", "inspectionKind": "comprehensive"})
    assert filtered["__typename"] == "ExportJob", filtered
    assert await produce(db, filtered["id"]) == "done"
    done = (await gql.data("xianning.office", JOB, {"i": filtered["id"]}))["exportJob"]
    wb, ws, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    assert wb["说明"]["B4"].value == "category=three_enforcement_systems，ikind=comprehensive"
    assert rows[1][col] <= api["rollup"]["figures"]["problems"]
    assert (await request(gql, "jiayu.office", "ROLLUP", regionCode="421200", year=year))["__typename"] == "NotAllowed"


async def _tenant(db, code: str) -> int:
    async with db.system_session() as s:
        return int((await s.execute(text("SELECT id FROM tenant WHERE region_code = :c"), {"c": code})).scalar_one())


async def test_the_45_task_list_exports_through_issue_5s_tables(gql, client, db, ledger_data):
    import importlib.util

    if importlib.util.find_spec("ducha.services.tasks") is None:
        # the hook fails clearly until issue 5's task service exists
        r = await request(gql, "jiayu.office", "TASK_LIST", regionCode="421221")
        assert r["__typename"] == "ValidationError" and "issue 5" in r["message"]
        pytest.skip("issue 5's key-task lists (services/tasks.py) are not there yet")
    from ducha.tenants import directory
    from tests.test_tasks import IMPORT, MISSING, seed_tasks, workbook

    async with db.system_session() as s:
        have = set((await s.execute(text("SELECT name FROM agency"))).scalars())
        for name, kind, short in MISSING:
            if name not in have:
                # not a second 'government' of the county: other tests look that one up by kind
                await directory.create_agency(s, region_code="421221", kind="department" if kind == "government" else kind,
                                              name=name, short_name=short)
    title = "南陵县重点任务清单（002附件，导出）"
    # 2023: the task tests keep 2024's lists of 嘉鱼县 to themselves
    d = await gql.data("jiayu.office", IMPORT, {"i": {"tenantId": ledger_data["tenant"], "year": 2023, "title": title,
                                                      "fileBase64": workbook(seed_tasks(), title), "fileName": "002.xlsx"}})
    assert d["importTaskList"]["__typename"] == "TaskList", d
    job = await request(gql, "jiayu.office", "TASK_LIST", regionCode="421221", year=2023)
    assert job["__typename"] == "ExportJob", job
    # a town's liaison may not have the county's list
    assert (await request(gql, "jiayu.xinjie", "TASK_LIST", regionCode="421221"))["__typename"] == "NotAllowed"
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("jiayu.office", JOB, {"i": job["id"]}))["exportJob"]
    _, ws, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    assert ws.title == "重点任务清单" and ws.freeze_panes == "A2"
    col = {h: i for i, h in enumerate(rows[0])}
    mine = [r for r in rows[1:] if r[col["清单"]] == title]
    seed = seed_tasks()
    assert len(mine) == 45 == len(seed)
    assert [(r[col["序号"]], r[col["任务内容"]], r[col["责任单位"]]) for r in mine] == [
        (t["number"], t["content"], t["lead"]) for t in seed]
    due = ws.cell(row=rows.index(mine[0]) + 1, column=col["完成时限"] + 1)
    assert due.is_date and due.value.date() == date(2024, 12, 31)
    assert_ledger_layout(ws, dates={"完成时限"})
