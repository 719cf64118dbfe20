"""Official documents as a person would check them: the .docx opened with python-docx shows an
A4 page with the standard margins, the red header and separator, a 发文字号 numbered without
gaps, the standard fonts named for east-Asian text, a 成文日期 in Chinese numerals; a bulletin
of 嘉鱼县's 2024 inspection lists its common and individual problems; a rectification notice
reaches its unit; an escalation's supervision letter writes itself; tenants' templates
replace the frame; links expire and cannot be forged; every download is audited."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from sqlalchemy import text

from ducha.services import calendar_store, documents, escalation, gbt9704, links
from ducha.workers import jobs
from tests.cycle_helpers import run_cycle
from tests.documents_helpers import drain_outbox, NUMBER, all_text, build_inspection, docx, fetch, issue

COMMON = [("行政执法公示信息更新不及时", "THREE_ENFORCEMENT_SYSTEMS", ["新街镇人民政府", "陆溪镇人民政府", "嘉鱼县司法局"]),
          ("重大行政决策未经合法性审查", "LAWFUL_DECISION_MAKING", ["新街镇人民政府", "陆溪镇人民政府"])]
INDIVIDUAL = [("行政机关负责人出庭应诉率偏低", "HEADS_IN_COURT", "嘉鱼县司法局"),
              ("长江岸线违法建设整治台账缺失", "YANGTZE_PROTECTION", "陆溪镇人民政府"),
              ("涉企行政检查未备案", "BUSINESS_ENVIRONMENT", "新街镇人民政府")]
STATE: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
async def _leave_no_jobs(db):  # type: ignore[no-untyped-def]
    yield
    await drain_outbox(db)


@pytest.fixture(scope="module")
async def jiayu2024(gql, db) -> dict:
    if "jiayu" not in STATE:
        STATE["jiayu"] = await build_inspection(gql, db, label="（文书）", common=COMMON, individual=INDIVIDUAL)
    return STATE["jiayu"]  # type: ignore[return-value]


def east_asia(run) -> str | None:  # type: ignore[no-untyped-def]
    rpr = run._element.rPr
    return None if rpr is None or rpr.rFonts is None else rpr.rFonts.get(qn("w:eastAsia"))


def paragraph_with(doc, needle: str):  # type: ignore[no-untyped-def]
    return next(p for p in doc.paragraphs if needle in p.text)


# --- the format itself ------------------------------------------------------------------------------


def test_dates_and_numbers_read_as_official_documents_write_them():
    assert gbt9704.chinese_date(date(2024, 7, 26)) == "二〇二四年七月二十六日"
    assert gbt9704.chinese_date(date(2020, 6, 8)) == "二〇二〇年六月八日"
    assert gbt9704.chinese_date(date(2025, 10, 10)) == "二〇二五年十月十日"
    assert gbt9704.chinese_date(date(2024, 12, 31)) == "二〇二四年十二月三十一日"
    assert gbt9704.chinese_date(date(2021, 11, 20)) == "二〇二一年十一月二十日"
    assert gbt9704.arabic_date(date(2024, 7, 6)) == "2024年7月6日"
    assert gbt9704.document_number("嘉法督", 2024, 3) == "嘉法督〔2024〕3号"
    assert documents.default_prefix("嘉鱼县", "county") == "嘉法督"
    assert documents.default_prefix("湖北省", "province") == "鄂法督"
    # no seal: authority two characters in; the date's first character two right of the authority's
    assert gbt9704.signature_indents("中共嘉鱼县委全面依法治县委员会办公室", "二〇二四年七月二十六日") == (2, 7)
    # a date longer than the authority: the date two in, the authority pushed left
    assert gbt9704.signature_indents("县司法局", "二〇二四年十二月三十一日") == (12, 2)


def _layout_of(data: bytes) -> None:
    doc = docx(data)
    s = doc.sections[0]
    def mm(v):  # type: ignore[no-untyped-def] # stored in twips: compare to 0.1 mm
        return round(v.mm, 1)

    assert (mm(s.page_width), mm(s.page_height)) == (210, 297)  # A4
    assert (mm(s.top_margin), mm(s.bottom_margin), mm(s.left_margin), mm(s.right_margin)) == (37, 35, 28, 26)
    assert round((s.page_width - s.left_margin - s.right_margin) / Mm(1)) == 156
    assert round((s.page_height - s.top_margin - s.bottom_margin) / Mm(1)) == 225
    grid = s._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:linePitch")) == "579"  # 28.95 pt: 22 lines a page


def test_the_standard_frame_is_a4_with_the_standard_margins_fonts_and_page_numbers():
    od = gbt9704.OfficialDocument(
        form="file", header="中共嘉鱼县委全面依法治县委员会办公室文件", number="嘉法督〔2024〕3号", title="关于某事的通报",
        recipients="各镇人民政府，县直各单位", body=[gbt9704.Para("正文第一段。"), gbt9704.Para(text="一、标题", level=1),
                                                     gbt9704.Para(lead="（一）小标题。", text="正文。", level=2)],
        authority="中共嘉鱼县委全面依法治县委员会办公室", date=date(2024, 7, 26), printer="中共嘉鱼县委全面依法治县委员会办公室")
    data = gbt9704.render(od)
    _layout_of(data)
    doc = docx(data)
    header = paragraph_with(doc, "办公室文件")
    run = header.runs[0]
    assert run.font.color.rgb == RGBColor(0xFF, 0x00, 0x00) and east_asia(run) == "方正小标宋简体"
    number = paragraph_with(doc, "嘉法督〔2024〕3号")
    assert number.alignment == WD_ALIGN_PARAGRAPH.CENTER
    bottom = number._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert bottom.get(qn("w:color")) == "FF0000" and bottom.get(qn("w:val")) == "single"  # the red separator
    title = paragraph_with(doc, "关于某事的通报")
    assert east_asia(title.runs[0]) == "方正小标宋简体" and title.runs[0].font.size == Pt(22)
    body = paragraph_with(doc, "正文第一段。")
    assert east_asia(body.runs[0]) == "仿宋_GB2312" and body.runs[0].font.size == Pt(16)
    assert body.paragraph_format.line_spacing == Pt(28.95) and body.paragraph_format.first_line_indent == Pt(32)
    assert east_asia(paragraph_with(doc, "一、标题").runs[0]) == "黑体"
    lead = paragraph_with(doc, "（一）小标题。")
    assert [east_asia(r) for r in lead.runs] == ["楷体_GB2312", "仿宋_GB2312"]
    assert paragraph_with(doc, "嘉鱼县委全面依法治县委员会办公室").text  # signature present
    date_p = paragraph_with(doc, "二〇二四年七月二十六日")
    assert date_p.alignment == WD_ALIGN_PARAGRAPH.RIGHT and date_p.paragraph_format.right_indent == Pt(16 * 7)
    assert doc.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    # page numbers: 4号 half-width, odd pages right and even pages left, a PAGE field
    assert doc.settings.odd_and_even_pages_header_footer
    odd, even = doc.sections[0].footer.paragraphs[0], doc.sections[0].even_page_footer.paragraphs[0]
    assert odd.alignment == WD_ALIGN_PARAGRAPH.RIGHT and even.alignment == WD_ALIGN_PARAGRAPH.LEFT
    assert "PAGE" in "".join(t.text for t in odd._p.iter(qn("w:instrText")))
    assert all(r.font.size == Pt(14) for r in odd.runs) and odd.text.startswith("— ")
    assert "印发" in all_text(doc)  # 版记


# --- documents from the cycle -----------------------------------------------------------------------


async def test_a_bulletin_of_the_2024_inspection_lists_its_common_and_individual_problems(gql, client, db, jiayu2024):
    i = jiayu2024["inspection"]
    # a unit may not issue, nor may a peer county
    assert (await issue(gql, "jiayu.xinjie", "BULLETIN", i))["__typename"] in ("NotAllowed", "NotFound")
    assert (await issue(gql, "yunxi.office", "BULLETIN", i))["__typename"] == "NotFound"
    doc = await issue(gql, "jiayu.office", "BULLETIN", i, issuedOn="2024-09-20")
    assert doc["__typename"] == "Document", doc
    m = NUMBER.match(doc["number"])
    assert m and m["prefix"] == "嘉法督" and m["year"] == "2024" and int(m["seq"]) == doc["seq"]
    assert doc["title"] == "关于2024年度法治建设综合督察（文书）情况的通报"
    assert doc["downloadUrl"].startswith("/files/") and doc["canDownload"]
    data = await fetch(client, doc["downloadUrl"])
    _layout_of(data)
    d = docx(data)
    text_ = all_text(d)
    assert doc["number"] in text_ and "各镇人民政府，县直各单位：" in text_
    assert "二〇二四年九月二十日" in text_
    assert "共性问题2个、个性问题3个" in text_
    assert "附件：1．共性问题清单" in text_ and "个性问题清单" in text_
    common_table, individual_table = d.tables[-2], d.tables[-1]
    assert [c.text for c in common_table.rows[0].cells] == ["序号", "问题", "类别", "严重程度", "涉及单位"]
    assert common_table.rows[1].cells[1].text == "行政执法公示信息更新不及时"
    assert common_table.rows[1].cells[4].text == "新街镇人民政府、陆溪镇人民政府、嘉鱼县司法局"
    assert [r.cells[2].text for r in individual_table.rows[1:]] == [t for t, _, _ in INDIVIDUAL]
    assert east_asia(individual_table.rows[0].cells[0].paragraphs[0].runs[0]) == "黑体"
    # the office chain above may read it; a unit named in it may not (it lists other units' problems)
    seen = await gql.data("xianning.office", "query($i: ID!) { document(id: $i) { ... on Document { number canDownload } } }",
                          {"i": doc["id"]})
    assert seen["document"] == {"number": doc["number"], "canDownload": True}
    hidden = await gql.data("jiayu.xinjie", "query($i: ID!) { document(id: $i) { __typename } }", {"i": doc["id"]})
    assert hidden["document"]["__typename"] == "NotFound"
    STATE["bulletin"] = data


async def test_a_rectification_notice_reaches_its_unit_and_only_it(gql, client, jiayu2024):
    fb = jiayu2024["feedbacks"]["新街镇人民政府"]
    doc = await issue(gql, "jiayu.office", "RECTIFICATION_NOTICE", fb)
    assert doc["__typename"] == "Document" and doc["agency"]["name"] == "新街镇人民政府"
    assert doc["recipients"] == "新街镇人民政府"
    mine = await gql.data("jiayu.xinjie", "{ documents(first: 50, filter: {kind: RECTIFICATION_NOTICE}) { totalCount "
                                          "edges { node { id number downloadUrl } } } }")
    node = next(e["node"] for e in mine["documents"]["edges"] if e["node"]["id"] == doc["id"])
    d = docx(await fetch(client, node["downloadUrl"]))
    body = all_text(d)
    assert "新街镇人民政府：" in body and "行政执法公示信息更新不及时" in body and "涉企行政检查未备案" in body
    assert "长江岸线违法建设整治台账缺失" not in body  # another unit's problem
    assert "整改期限" in body
    peers = await gql.data("yunxi.office", "{ documents(first: 100) { edges { node { id } } } }")
    assert doc["id"] not in {e["node"]["id"] for e in peers["documents"]["edges"]}
    # a notice needs a notice: issuing twice is fine (a new number), a wrong subject is NotFound
    assert (await issue(gql, "jiayu.office", "RECTIFICATION_NOTICE", "999999"))["__typename"] == "NotFound"


async def test_an_overdue_notice_gets_its_supervision_letter_by_itself(gql, client, db, jiayu2024):
    fb = jiayu2024["feedbacks"]["陆溪镇人民政府"]
    async with db.system_session() as s:
        d = (await s.execute(text("SELECT id, due_on, tenant_id FROM deadline WHERE subject_type = 'rectification_notice'"
                                  " AND subject_id = :f"), {"f": int(fb)})).one()
        cal = await calendar_store.working_calendar(s)
    await escalation.sweep(db, cal.add_working_days(d.due_on, 4)[0])  # reminder and supervision letter are automatic
    async with db.system_session() as s:
        rungs = (await s.execute(text("SELECT id, rung, status FROM escalation WHERE deadline_id = :d ORDER BY rung"),
                                 {"d": d.id})).all()
        outbox = (await s.execute(text("SELECT tenant_id, id FROM outbox WHERE actor = 'escalation.deliver'"
                                       " AND (payload->>'escalation_id')::bigint = ANY(:e)"),
                                  {"e": [r.id for r in rungs]})).all()
    assert [(r.rung, r.status) for r in rungs] == [(1, "issued"), (2, "issued")]
    async with db.system_session() as s:  # kept from any relay running meanwhile: this test runs them
        await s.execute(text("UPDATE outbox SET sent_at = now() + interval '1 hour' WHERE id = ANY(:i)"),
                        {"i": [o.id for o in outbox]})
    for o in outbox:  # the worker delivers each rung; twice changes nothing
        assert await jobs.run_job(db, o.tenant_id, o.id) == "done"
        assert await jobs.run_job(db, o.tenant_id, o.id) == "skipped"
    await _write_rung_documents(db, [r.id for r in rungs])
    letter_rung = next(r for r in rungs if r.rung == 2)
    async with db.system_session() as s:
        again = await documents.issue_for_escalation(s, d.tenant_id, letter_rung.id)  # a duplicate delivery
    docs = await gql.data("jiayu.office", "query($e: ID!) { documents(first: 10, filter: {escalationId: $e}) { edges { node {"
                                          " id kind number title recipients downloadUrl } } } }", {"e": str(letter_rung.id)})
    [node] = [e["node"] for e in docs["documents"]["edges"]]
    assert again is not None and str(again.id) == node["id"]
    assert node["kind"] == "SUPERVISION_LETTER" and node["recipients"] == "陆溪镇人民政府"
    m = NUMBER.match(node["number"])
    assert m and m["prefix"] == "嘉法督函"
    data = await fetch(client, node["downloadUrl"])
    d2 = docx(data)
    _layout_of(data)
    assert "整改通知" in all_text(d2) and "现予督办" in all_text(d2)
    head = d2.paragraphs[0]
    assert head.text == "中共嘉鱼县委全面依法治县委员会办公室" and head.runs[0].font.color.rgb == RGBColor(0xFF, 0, 0)
    # the reminder rung writes no document
    reminder = next(r for r in rungs if r.rung == 1)
    none = await gql.data("jiayu.office", "query($e: ID!) { documents(first: 10, filter: {escalationId: $e}) { totalCount } }",
                          {"e": str(reminder.id)})
    assert none["documents"]["totalCount"] == 0


async def _write_rung_documents(db, escalation_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Run the rungs' document jobs, as the worker would; a second run has no effect."""
    async with db.system_session() as s:
        rows = (await s.execute(text("SELECT tenant_id, id FROM outbox WHERE actor = :a"
                                     " AND (payload->>'escalation_id')::bigint = ANY(:e)"),
                                {"a": documents.RUNG_DOCUMENT, "e": escalation_ids})).all()
    for o in rows:
        # "skipped" too: a worker of another test module may have been quicker; the document is checked after
        assert await jobs.run_job(db, o.tenant_id, o.id) in ("done", "skipped")
        assert await jobs.run_job(db, o.tenant_id, o.id) == "skipped"


async def test_an_approved_interview_writes_its_notice(gql, db, jiayu2024):
    fb = jiayu2024["feedbacks"]["陆溪镇人民政府"]
    async with db.system_session() as s:
        d = (await s.execute(text("SELECT id, due_on FROM deadline WHERE subject_type = 'rectification_notice'"
                                  " AND subject_id = :f"), {"f": int(fb)})).one()
        cal = await calendar_store.working_calendar(s)
    await escalation.sweep(db, cal.add_working_days(d.due_on, 6)[0])
    async with db.system_session() as s:
        rid = (await s.execute(text("SELECT id FROM escalation WHERE deadline_id = :d AND rung = 3"), {"d": d.id})).scalar_one()
    r = await gql.data("jiayu.leader", "mutation($i: DecideEscalationInput!) { decideEscalation(input: $i) { __typename } }",
                       {"i": {"escalationId": str(rid), "approve": True, "reason": "约谈主要负责人"}})
    assert r["decideEscalation"]["__typename"] == "Escalation"
    async with db.system_session() as s:
        o = (await s.execute(text("UPDATE outbox SET sent_at = now() + interval '1 hour' WHERE dedup_key = :k"
                                  " RETURNING tenant_id, id"), {"k": f"escalation.deliver:{rid}"})).one()
    assert await jobs.run_job(db, o.tenant_id, o.id) == "done"
    await _write_rung_documents(db, [rid])
    docs = await gql.data("jiayu.xinjie", "{ documents(first: 100, filter: {kind: INTERVIEW_NOTICE}) { totalCount } }")
    assert docs["documents"]["totalCount"] == 0  # addressed to 陆溪镇, not 新街镇
    docs = await gql.data("jiayu.office", "query($e: ID!) { documents(first: 5, filter: {escalationId: $e}) { edges { node {"
                                          " kind title } } } }", {"e": str(rid)})
    assert docs["documents"]["edges"][0]["node"] == {"kind": "INTERVIEW_NOTICE", "title": "关于约谈陆溪镇人民政府主要负责人的通知"}


async def test_reports_and_clue_letters_are_documents_too(gql, client, jiayu2024):
    doc = await issue(gql, "jiayu.office", "INSPECTION_REPORT", jiayu2024["inspection"])
    assert doc["__typename"] == "Document" and doc["recipients"] == "中共嘉鱼县委全面依法治县委员会"
    d = docx(await fetch(client, doc["downloadUrl"]))
    assert east_asia(paragraph_with(d, "一、基本情况").runs[0]) == "黑体"
    reg = await gql.data("jiayu.office", """mutation { registerClue(input: {source: PETITION, importance: IMPORTANT,
        discoveredOn: "2024-08-20", title: "某执法人员涉嫌违规收费（文书）", content: "群众信访反映。"}) { ... on Clue { id } } }""")
    cid = reg["registerClue"]["id"]
    t = await gql.data("jiayu.office", "query($c: ID!) { clueTransferTargets(clueId: $c) { id name } }", {"c": cid})
    target = next(x for x in t["clueTransferTargets"] if x["name"] == "嘉鱼县纪委监委")
    moved = await gql.data("jiayu.office", "mutation($c: ID!, $r: ID!) { transferClue(input: {clueId: $c, receiverAgencyId: $r})"
                                           " { ... on Clue { transfers { id } } } }", {"c": cid, "r": target["id"]})
    tid = moved["transferClue"]["transfers"][-1]["id"]
    doc = await issue(gql, "jiayu.office", "CLUE_TRANSFER_LETTER", tid)
    assert doc["__typename"] == "Document" and NUMBER.match(doc["number"])["prefix"] == "嘉法督函"
    seen = await gql.data("jiayu.discipline", "query($i: ID!) { document(id: $i) { ... on Document { downloadUrl } } }",
                          {"i": doc["id"]})
    d = docx(await fetch(client, seen["document"]["downloadUrl"]))
    assert "嘉鱼县纪委监委：" in all_text(d) and "群众信访反映。" in all_text(d)


# --- numbers -----------------------------------------------------------------------------------------


async def test_twenty_concurrent_issuings_number_one_to_twenty_and_a_rollback_burns_none(gql, db):
    c = await run_cycle(gql, db, label="编号", region_code="420322", office="yunxi.office", leader="yunxi.office",
                        committee="hubei.office", team_leader="yunxi.inspector", targets=["郧西县人民法院"], fed_back=False)
    results = await asyncio.gather(*(issue(gql, "yunxi.office", "INSPECTION_REPORT", c["inspection"], issuedOn="2023-03-01")
                                     for _ in range(20)))
    assert all(r["__typename"] == "Document" for r in results), results
    assert sorted(r["seq"] for r in results) == list(range(1, 21))
    assert len({r["number"] for r in results}) == 20
    assert {NUMBER.match(r["number"])["prefix"] for r in results} == {"郧法督"}
    # an issuing rolled back gives its number back
    yunxi = await _login(db, "yunxi.office")

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with db.scoped(yunxi.scope) as s:
            doc = await documents.issue(s, yunxi.principal, "inspection_report", int(c["inspection"]),
                                        documents.Options(issued_on=date(2023, 3, 2)))
            assert doc.seq == 21
            raise Abort
    after = await issue(gql, "yunxi.office", "INSPECTION_REPORT", c["inspection"], issuedOn="2023-12-31")
    assert after["seq"] == 21 and after["number"] == "郧法督〔2023〕21号"


async def _login(db, login: str):  # type: ignore[no-untyped-def]
    from ducha.tenants.auth import load_identity

    async with db.system_session() as s:
        return await load_identity(s, login)


async def test_a_document_is_dated_today_or_earlier(gql, jiayu2024):
    r = await issue(gql, "jiayu.office", "BULLETIN", jiayu2024["inspection"], issuedOn="2999-01-01")
    assert r["__typename"] == "ValidationError"


# --- templates and settings ---------------------------------------------------------------------------


async def test_a_tenant_template_replaces_the_standard_frame(gql, client, jiayu2024):
    import base64
    import io

    from docx import Document

    q = "{ documentTemplates { kind custom placeholders contentBase64 } }"
    templates = {t["kind"]: t for t in (await gql.data("jiayu.office", q))["documentTemplates"]}
    assert set(templates) == {k.upper() for k in documents.KINDS} and not templates["BULLETIN"]["custom"]
    default = docx(base64.b64decode(templates["BULLETIN"]["contentBase64"]))
    assert any("{{number}}" in p.text for p in default.paragraphs)
    # the tenant's own: Chinese placeholder names, one split over runs as Word often does
    own = Document()
    p = own.add_paragraph()
    p.add_run("嘉鱼县自定义模板 ")
    p.add_run("{{发文")
    p.add_run("字号}}")
    own.add_paragraph("{{标题}}")
    own.add_paragraph("{{主送机关}}：")
    own.add_paragraph("{{正文}}")
    own.add_paragraph("{{署名}}")
    own.add_paragraph("{{附件}}")
    buf = io.BytesIO()
    own.save(buf)
    up = ("mutation($i: UploadTemplateInput!) { uploadDocumentTemplate(input: $i) { __typename ... on DocumentTemplate {"
          " custom placeholders sha256 } ... on UserError { code message } } }")
    r = await gql.data("jiayu.office", up, {"i": {"kind": "BULLETIN", "name": "通报模板.docx",
                                                "contentBase64": base64.b64encode(buf.getvalue()).decode()}})
    assert r["uploadDocumentTemplate"]["custom"] and "number" in r["uploadDocumentTemplate"]["placeholders"]
    # per tenant: 嘉鱼县's own frame is its alone; 郧西县 keeps the standard one
    theirs = {t["kind"]: t for t in (await gql.data("yunxi.office", "{ documentTemplates { kind custom sha256 } }"))
              ["documentTemplates"]}
    assert theirs["BULLETIN"] == {"kind": "BULLETIN", "custom": False, "sha256": None}
    # a peer cannot put a template into this tenant, nor a unit into its own
    r2 = await gql.data("yunxi.office", up, {"i": {"kind": "BULLETIN", "name": "x.docx", "tenantId": jiayu2024["tenant"],
                                                 "contentBase64": base64.b64encode(buf.getvalue()).decode()}})
    assert r2["uploadDocumentTemplate"]["__typename"] in ("NotAllowed", "NotFound")
    bad = Document()
    bad.add_paragraph("{{number}} {{title}} {{body}} {{date}} {{签发人}}")
    bbuf = io.BytesIO()
    bad.save(bbuf)
    r3 = await gql.data("jiayu.office", up, {"i": {"kind": "BULLETIN", "name": "bad.docx",
                                                 "contentBase64": base64.b64encode(bbuf.getvalue()).decode()}})
    assert r3["uploadDocumentTemplate"]["__typename"] == "ValidationError" and "签发人" in r3["uploadDocumentTemplate"]["message"]
    r4 = await gql.data("jiayu.office", up, {"i": {"kind": "BULLETIN", "name": "x.docx", "contentBase64": "bm90IGEgZG9jeA=="}})
    assert r4["uploadDocumentTemplate"]["__typename"] == "ValidationError"
    doc = await issue(gql, "jiayu.office", "BULLETIN", jiayu2024["inspection"])
    assert doc["customTemplate"]
    d = docx(await fetch(client, doc["downloadUrl"]))
    first = d.paragraphs[0].text
    assert first == f"嘉鱼县自定义模板 {doc['number']}"
    assert "各镇人民政府，县直各单位：" in all_text(d) and "共性问题清单" in all_text(d)
    # the body keeps the standard's fonts whatever the template's styles
    assert east_asia(paragraph_with(d, "现将有关情况通报如下").runs[0]) == "仿宋_GB2312"
    back = await gql.data("jiayu.office", "mutation { removeDocumentTemplate(kind: BULLETIN) { ... on DocumentTemplate { custom } } }")
    assert back["removeDocumentTemplate"] == {"custom": False}


async def test_settings_change_the_signature_and_the_prefix(gql, db):
    q = "{ documentSettings { authority header prefix customized kindPrefixes { kind prefix } } }"
    s = (await gql.data("yunxi.office", q))["documentSettings"]
    assert s["prefix"] == "郧法督" and s["header"] == "中共郧西县委全面依法治县委员会办公室文件" and not s["customized"]
    assert {p["kind"]: p["prefix"] for p in s["kindPrefixes"]}["SUPERVISION_LETTER"] == "郧法督函"
    m = ("mutation($i: DocumentSettingsInput!) { setDocumentSettings(input: $i) { __typename ... on DocumentSettings { prefix "
         "arabicDates kindPrefixes { kind prefix } } ... on UserError { code message } } }")
    r = await gql.data("yunxi.office", m, {"i": {"prefix": "西法督", "kindPrefixes": [{"kind": "BULLETIN", "prefix": "西法督通"}]}})
    assert r["setDocumentSettings"]["prefix"] == "西法督"
    assert {p["kind"]: p["prefix"] for p in r["setDocumentSettings"]["kindPrefixes"]}["BULLETIN"] == "西法督通"
    bad = await gql.data("yunxi.office", m, {"i": {"prefix": "西法督〔1〕"}})
    assert bad["setDocumentSettings"]["__typename"] == "ValidationError"
    denied = await gql.data("jiayu.office", m, {"i": {"prefix": "嘉", "tenantId": str(await _tenant(db, "420322"))}})
    assert denied["setDocumentSettings"]["__typename"] == "NotAllowed"
    r = await gql.data("yunxi.office", m, {"i": {"prefix": "郧法督", "kindPrefixes": []}})
    assert r["setDocumentSettings"]["prefix"] == "郧法督"
    assert (await gql.data("jiayu.xinjie", q))["documentSettings"] is None


async def _tenant(db, code: str) -> int:
    async with db.system_session() as s:
        return int((await s.execute(text("SELECT id FROM tenant WHERE region_code = :c"), {"c": code})).scalar_one())


# --- links and downloads ---------------------------------------------------------------------------------


async def test_links_expire_cannot_be_forged_and_every_download_is_audited(gql, client, db, jiayu2024):
    doc = await issue(gql, "jiayu.office", "INSPECTION_REPORT", jiayu2024["inspection"])
    tenant, did = int(jiayu2024["tenant"]), int(doc["id"])

    async def downloads() -> int:
        async with db.system_session() as s:
            return int((await s.execute(text("SELECT count(*) FROM audit_log WHERE tenant_id = :t AND action = "
                                             "'document.download' AND subject_id = :i"), {"t": tenant, "i": did})).scalar_one())

    assert await downloads() == 0
    await fetch(client, doc["downloadUrl"])
    await fetch(client, doc["downloadUrl"])
    assert await downloads() == 2
    expired = links.sign("document", tenant, did, "jiayu.office", now=time.time() - 3600)
    r = await client.get(links.url(expired))
    assert r.status_code == 410 and r.json()["error"]["code"] == "LINK_EXPIRED"
    token = doc["downloadUrl"].removeprefix("/files/")
    body, mac = token.split(".")
    for forged in (body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac,  # another claim
                   body + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"),  # another signature
                   "garbage", body):
        r = await client.get(links.url(forged))
        assert r.status_code == 403, forged
    # a genuine link for a user who may not see the file: refused when used
    other = links.sign("document", tenant, did, "yunxi.office")
    assert (await client.get(links.url(other))).status_code == 403
    # a unit may not have the office's report, however it came by a link
    unit = links.sign("document", tenant, did, "jiayu.xinjie")
    assert (await client.get(links.url(unit))).status_code == 403
    assert await downloads() == 2
    r = await client.get(doc["downloadUrl"])
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert "filename*=UTF-8''" in r.headers["content-disposition"] and r.headers["cache-control"] == "private, no-store"
    import hashlib

    assert hashlib.sha256(r.content).hexdigest() == doc["sha256"]


# --- as a person sees it ----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftoppm") is None,
                    reason="LibreOffice (soffice) and poppler (pdftoppm) are not installed: the bulletin is not "
                           "rendered to a picture here (apt-get install libreoffice-writer-nogui poppler-utils)")
def test_the_bulletin_renders_as_a_page_a_person_can_look_at():
    data = STATE.get("bulletin")
    if data is None:  # run alone: a bulletin in the standard frame, with a problem list, made here
        data = gbt9704.render(gbt9704.OfficialDocument(
            form="file", header="中共嘉鱼县委全面依法治县委员会办公室文件", number="嘉法督〔2024〕3号",
            title="关于2024年度法治建设综合督察情况的通报", recipients="各镇人民政府，县直各单位",
            body=[gbt9704.Para("现将有关情况通报如下："), gbt9704.Para(text="一、基本情况", level=1)],
            attachments=[gbt9704.Attachment("共性问题清单", [gbt9704.Table(
                ["序号", "问题", "类别", "严重程度", "涉及单位"],
                [["1", "行政执法公示信息更新不及时", "行政执法三项制度", "一般", "新街镇人民政府"]], [12, 52, 34, 16, 42])])],
            authority="中共嘉鱼县委全面依法治县委员会办公室", date=date(2024, 9, 20),
            printer="中共嘉鱼县委全面依法治县委员会办公室"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "bulletin.docx"
        src.write_bytes(data)  # type: ignore[arg-type]
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin"}
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", tmp, str(src)], check=True,
                       timeout=180, env=env, capture_output=True)
        pdf = Path(tmp) / "bulletin.pdf"
        assert pdf.stat().st_size > 1000
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(Path(tmp) / "page")],
                       check=True, timeout=60, capture_output=True)
        png = next(Path(tmp).glob("page*.png"))
        assert png.read_bytes().startswith(b"\x89PNG")
        Path("/tmp/ducha_bulletin_page1.png").write_bytes(png.read_bytes())
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60, check=False).stdout
        size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
        if size:  # A4 is 595.28 x 841.89 pt
            assert abs(float(size[1]) - 595.3) < 2 and abs(float(size[2]) - 841.9) < 2
        # the page shows Chinese, not empty boxes: with no Chinese font at all there is nothing to look at
        cjk = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=60,
                             check=False).stdout.strip() if shutil.which("fc-list") else ""
        if not cjk:
            pytest.skip("no Chinese font is installed (fc-list :lang=zh): the page would show boxes "
                        "(apt-get install fonts-wqy-microhei, or the official 方正/仿宋_GB2312 fonts)")
        if shutil.which("pdftotext"):
            page = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"], capture_output=True,
                                  text=True, timeout=60, check=True).stdout
            assert "嘉法督〔2024〕" in page and "办公室文件" in page, page[:500]
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, timeout=60, check=False).stdout
        assert fonts.count("\n") > 2, fonts  # fonts are embedded for the text


# --- the operation documents the front end uses ----------------------------------------------------------

MINE = ("Documents", "Document", "IssueDocument", "RequestExport", "ExportJobs", "ExportJob", "DocumentTemplates",
        "DocumentTemplateFile", "UploadDocumentTemplate", "RemoveDocumentTemplate", "SetDocumentSettings")


async def test_every_document_operation_runs(gql, jiayu2024):
    import base64

    ops = Path(__file__).resolve().parent.parent / "graphql" / "operations"
    run: dict[str, dict] = {}

    async def op(name: str, variables: dict, login: str = "jiayu.office") -> dict:
        body = await gql(login, (ops / f"{name}.graphql").read_text(), variables)
        assert not body.get("errors"), (name, body["errors"])
        run[name] = body["data"]
        return body["data"]

    doc = (await op("IssueDocument", {"input": {"kind": "BULLETIN", "subjectId": jiayu2024["inspection"]}}))["issueDocument"]
    assert doc["__typename"] == "Document"
    await op("Documents", {"first": 10, "filter": {"kind": "BULLETIN"}})
    assert (await op("Document", {"id": doc["id"]}))["document"]["number"] == doc["number"]
    job = (await op("RequestExport", {"input": {"kind": "PROBLEM_LEDGER", "params": {"regionCode": "421221"}}}))["requestExport"]
    assert job["__typename"] == "ExportJob"
    await op("ExportJobs", {"first": 10, "filter": {"mine": True}})
    assert (await op("ExportJob", {"id": job["id"]}))["exportJob"]["status"] == "QUEUED"
    await op("DocumentTemplates", {})
    files = (await op("DocumentTemplateFile", {}))["documentTemplates"]
    frame = next(t["contentBase64"] for t in files if t["kind"] == "INSPECTION_REPORT")
    up = (await op("UploadDocumentTemplate", {"input": {"kind": "INSPECTION_REPORT", "name": "报告模板.docx",
                                                        "contentBase64": frame}}))["uploadDocumentTemplate"]
    assert up["custom"] and base64.b64decode(frame)
    assert (await op("RemoveDocumentTemplate", {"kind": "INSPECTION_REPORT"}))["removeDocumentTemplate"]["custom"] is False
    s = (await op("SetDocumentSettings", {"input": {"arabicDates": False}}))["setDocumentSettings"]
    assert s["__typename"] == "DocumentSettings" and s["prefix"] == "嘉法督"
    assert set(run) == set(MINE) and {f.stem for f in ops.glob("*.graphql")} >= set(MINE)


# --- the demo's own 2024 inspection of 嘉鱼县 (issue 6, "what it must show") -----------------------------------

DEMO = "嘉鱼县2024年度法治建设全面督察"


async def test_the_demo_2024_inspection_gets_its_bulletin_notice_letter_and_ledger_through_the_api(gql, client, db):
    """The seeded scenario's comprehensive inspection, as the offices would work it: its bulletin
    with both problem lists, a rectification notice to 陆溪镇, the supervision letter its overdue
    notice earns by itself, and the ledger of 嘉鱼县's problems - each made through the API by the
    right user and refused to those who may not see all of it."""
    from ducha.services.demo_scenario import seed_scenario
    from tests.test_exports import produce, request, sheet_rows

    async with db.system_session() as s:
        await seed_scenario(s)  # once: a no-op where the scenario's test loaded it already
        insp = (await s.execute(text("SELECT id FROM inspection WHERE title = :t"), {"t": DEMO})).scalar_one()
        fb = dict((await s.execute(text("SELECT a.name, f.id FROM feedback f JOIN agency a ON a.id = f.agency_id"
                                        " WHERE f.inspection_id = :i"), {"i": insp})).all())
    i = str(insp)
    # the bulletin: not by a unit nor a peer county; the county office issues it
    assert (await issue(gql, "jiayu.xinjie", "BULLETIN", i))["__typename"] in ("NotAllowed", "NotFound")
    assert (await issue(gql, "yunxi.office", "BULLETIN", i))["__typename"] == "NotFound"
    doc = await issue(gql, "jiayu.office", "BULLETIN", i, issuedOn="2024-11-08")
    assert doc["__typename"] == "Document" and doc["number"].startswith("嘉法督〔2024〕"), doc
    data = await fetch(client, doc["downloadUrl"])
    _layout_of(data)
    d = docx(data)
    body = all_text(d)
    assert doc["title"] == f"关于{DEMO}情况的通报" and "二〇二四年十一月八日" in body
    assert "共性问题1个、个性问题4个" in body
    common_table, individual_table = d.tables[-2], d.tables[-1]
    assert [c.text for c in common_table.rows[1].cells[1:]] == [
        "行政执法公示信息更新不及时", "行政执法三项制度", "一般", "新街镇人民政府、陆溪镇人民政府、嘉鱼县司法局"]
    assert sorted((r.cells[1].text, r.cells[2].text) for r in individual_table.rows[1:]) == sorted([
        ("新街镇人民政府", "重大行政决策未经合法性审查"), ("陆溪镇人民政府", "涉企行政检查未备案"),
        ("嘉鱼县信访局", "信访事项办理超期"), ("嘉鱼县司法局", "执法人员持证上岗不全")])
    hidden = await gql.data("jiayu.xinjie", "query($i: ID!) { document(id: $i) { __typename } }", {"i": doc["id"]})
    assert hidden["document"]["__typename"] == "NotFound"  # it lists other units' problems

    # the rectification notice to 陆溪镇: its own problems only; 新街镇 does not get it
    notice = await issue(gql, "jiayu.office", "RECTIFICATION_NOTICE", str(fb["陆溪镇人民政府"]))
    assert notice["__typename"] == "Document" and notice["recipients"] == "陆溪镇人民政府", notice
    text_ = all_text(docx(await fetch(client, notice["downloadUrl"])))
    assert "行政执法公示信息更新不及时" in text_ and "涉企行政检查未备案" in text_ and "信访事项办理超期" not in text_
    assert (await issue(gql, "jiayu.xinjie", "RECTIFICATION_NOTICE", str(fb["陆溪镇人民政府"])))["__typename"] in (
        "NotAllowed", "NotFound")
    seen = await gql.data("jiayu.xinjie", "query($i: ID!) { document(id: $i) { __typename } }", {"i": notice["id"]})
    assert seen["document"]["__typename"] == "NotFound"

    # 陆溪镇's plan was never submitted: its notice runs out and the ladder writes the supervision letter
    async with db.system_session() as s:
        dl = (await s.execute(text("SELECT id, due_on FROM deadline WHERE subject_type = 'rectification_notice'"
                                   " AND subject_id = :f"), {"f": fb["陆溪镇人民政府"]})).one()
        cal = await calendar_store.working_calendar(s)
    await escalation.sweep(db, cal.add_working_days(dl.due_on, 4)[0])
    async with db.system_session() as s:
        letter_rung = (await s.execute(text("SELECT id, status FROM escalation WHERE deadline_id = :d AND rung = 2"),
                                       {"d": dl.id})).one()
    assert letter_rung.status == "issued"  # automatic: nobody decided it
    await drain_outbox(db)  # the worker: the rung is delivered, then its letter written
    await drain_outbox(db)
    docs = await gql.data("jiayu.office", "query($e: ID!) { documents(first: 5, filter: {escalationId: $e}) { totalCount "
                                          "edges { node { kind recipients number downloadUrl } } } }",
                          {"e": str(letter_rung.id)})
    assert docs["documents"]["totalCount"] == 1
    node = docs["documents"]["edges"][0]["node"]
    assert node["kind"] == "SUPERVISION_LETTER" and node["recipients"] == "陆溪镇人民政府"
    assert NUMBER.match(node["number"])["prefix"] == "嘉法督函"
    letter = all_text(docx(await fetch(client, node["downloadUrl"])))
    assert f"整改通知：{DEMO}" in letter and "现予督办" in letter

    # the ledger of 嘉鱼县's problems, as xlsx: the county office may have it, a town and a peer may not
    for login in ("jiayu.xinjie", "yunxi.office"):
        assert (await request(gql, login, "PROBLEM_LEDGER", regionCode="421221", year=2024))["__typename"] == "NotAllowed"
    job = await request(gql, "jiayu.office", "PROBLEM_LEDGER", regionCode="421221", year=2024)
    assert job["__typename"] == "ExportJob", job
    assert await produce(db, job["id"]) == "done"
    done = (await gql.data("jiayu.office", "query($i: ID!) { exportJob(id: $i) { ... on ExportJob { status downloadUrl } } }",
                           {"i": job["id"]}))["exportJob"]
    _, ws, rows = sheet_rows(await fetch(client, done["downloadUrl"]))
    col = {h: n for n, h in enumerate(rows[0])}
    demo = {(r[col["被督察单位"]], r[col["问题"]]): r for r in rows[1:] if r[col["督察名称"]] == DEMO}
    assert len(demo) == 7  # 5 problems, the common one at 3 units
    closed = demo[("新街镇人民政府", "行政执法公示信息更新不及时")]
    assert closed[col["状态"]] == "已销号" and closed[col["销号日期"]] is not None
    assert "建立执法公示信息定期更新机制" in closed[col["整改措施"]]
    assert demo[("嘉鱼县信访局", "信访事项办理超期")][col["状态"]] == "已通知整改"
    assert demo[("嘉鱼县信访局", "信访事项办理超期")][col["逾期天数"]] > 0
    assert ws.freeze_panes == "A2"


def test_a_signature_has_one_spelling_only():
    """base64 leaves the last character's low bits unused; a link whose signature differs only
    there decodes to the same bytes and must still be refused (the flake this replaced)."""
    from ducha.services.links import LinkError

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    checked = 0
    for i in range(40):
        token = links.sign("document", 1, 1000 + i, "jiayu.office")
        body, mac = token.split(".")
        assert links.verify(token).id == 1000 + i
        last = alphabet.index(mac[-1])
        # 32 bytes = 43 characters: the last one carries 4 bits, the low 2 are unused
        for twin in {alphabet[(last & ~3) | low] for low in range(4)} - {mac[-1]}:
            with pytest.raises(LinkError):
                links.verify(body + "." + mac[:-1] + twin)
            checked += 1
        with pytest.raises(LinkError):
            links.verify(body + "." + mac + "=")
    assert checked == 40 * 3
