"""Issue 3, item 11: the operation documents a front end uses (graphql/operations/) drive 003's
whole procedure, each step by a user of the right role, and every cycle document runs here;
the main list queries issue a bounded number of SQL statements whatever the page holds."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema, parse, validate
from sqlalchemy import event

from tests.cycle_helpers import agency_ids, run_cycle, tenant_id

ROOT = Path(__file__).resolve().parent.parent
OPS = ROOT / "graphql" / "operations"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
RAN: set[str] = set()

# The cycle's documents; each must run in this module (the last test checks it).
CYCLE_DOCS = {
    "CreateAnnualPlan", "AddPlanItem", "SubmitAnnualPlan", "DecideAnnualPlan", "AnnualPlans", "CreateInspection",
    "DecideOffPlanInspection", "AddInspectionTargets", "SaveWorkPlan", "SubmitWorkPlan", "DecideWorkPlan",
    "StartInspection", "AddInspector", "AddInspectorTraining", "Inspectors", "AddTeamMember", "RecordUnannouncedVisit",
    "AddTeamNote", "RequestSelfInspections", "SubmitSelfInspection", "RecordProblem", "SaveReportDraft", "SubmitReport",
    "ApproveReport", "IssueFeedback", "MyFeedback", "SaveRectificationPlan", "SubmitRectificationPlan",
    "ApproveRectificationPlan", "DecideRectificationPlan", "ReportProgress", "AddEvidence", "RequestAcceptance",
    "SignAcceptance", "SetAcceptanceChain", "ProblemDetail", "ProblemList", "InspectionDetail", "Inspections",
    "CreateLookback", "RecordLookbackOutcome", "LookbackDetail", "AuditTrail",
}


async def op(gql: Any, login: str, name: str, /, **variables: Any) -> Any:
    doc = (OPS / f"{name}.graphql").read_text(encoding="utf-8")
    body = await gql(login, doc, variables)
    assert not body.get("errors"), (name, body["errors"])
    RAN.add(name)
    (value,) = body["data"].values()
    return value


def ok(v: dict[str, Any], typename: str) -> dict[str, Any]:
    assert v["__typename"] == typename, v
    return v


def test_every_operation_document_is_valid_against_the_committed_sdl():
    schema = build_schema((ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8"))
    names = set()
    for f in sorted(OPS.glob("*.graphql")):
        doc = parse(f.read_text(encoding="utf-8"))
        assert validate(schema, doc) == [], f.name
        (definition,) = doc.definitions  # one named operation per file, named like the file
        assert definition.name.value == f.stem
        names.add(f.stem)
    assert CYCLE_DOCS <= names


async def test_the_procedure_through_the_operation_documents(gql, db, demo):
    J = await tenant_id(db, "421221")
    XJ, COURT = await agency_ids(db, "新街镇人民政府", "嘉鱼县人民法院")

    # Annual plan: returned once with reasons, resubmitted, approved by the leader.
    plan = ok(await op(gql, "jiayu.office", "CreateAnnualPlan", tenantId=J, year=2042, title="2042年度督察计划"), "AnnualPlan")
    item = ok(await op(gql, "jiayu.office", "AddPlanItem", planId=plan["id"], title="2042年度全面督察", kind="COMPREHENSIVE",
                       form="BOTH", plannedMonth=9), "PlanItem")
    assert ok(await op(gql, "jiayu.office", "SubmitAnnualPlan", planId=plan["id"]), "AnnualPlan")["status"] == "submitted"
    r = ok(await op(gql, "jiayu.leader", "DecideAnnualPlan", planId=plan["id"], approve=False, reason="补充专项督察"), "AnnualPlan")
    assert (r["status"], r["returnReason"]) == ("returned", "补充专项督察")
    ok(await op(gql, "jiayu.office", "AddPlanItem", planId=plan["id"], title="长江保护法专项督察", kind="SPECIAL",
                form="ONSITE", plannedMonth=6), "PlanItem")
    ok(await op(gql, "jiayu.office", "SubmitAnnualPlan", planId=plan["id"]), "AnnualPlan")
    assert ok(await op(gql, "jiayu.leader", "DecideAnnualPlan", planId=plan["id"], approve=True), "AnnualPlan")["status"] == "approved"
    plans = await op(gql, "jiayu.office", "AnnualPlans", year=2042)
    assert [len(p["items"]) for p in plans] == [2]

    # Inspection from the plan; work plan returned once, then approved; team; start.
    insp = ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": "2042年度法治建设全面督察", "kind": "COMPREHENSIVE", "form": "BOTH", "year": 2042,
        "planItemId": item["id"]}), "Inspection")
    I = insp["id"]
    assert insp["offPlanStatus"] == "not_needed"
    ok(await op(gql, "jiayu.office", "AddInspectionTargets", inspectionId=I, agencyIds=[XJ, COURT]), "Inspection")
    wp = {"project": "全面督察", "reason": "年度计划", "legalBasis": "督察工作规定", "methods": ["hear_reports", "site_visits"]}
    ok(await op(gql, "jiayu.office", "SaveWorkPlan", inspectionId=I, input=wp), "Inspection")
    ok(await op(gql, "jiayu.office", "SubmitWorkPlan", inspectionId=I), "Inspection")
    d = ok(await op(gql, "jiayu.leader", "DecideWorkPlan", inspectionId=I, approve=False, reason="明确督察重点"), "Inspection")
    assert d["status"] == "draft" and d["workPlan"] == {"status": "returned", "returnReason": "明确督察重点"}
    ok(await op(gql, "jiayu.office", "SaveWorkPlan", inspectionId=I, input={**wp, "focus": "营商环境"}), "Inspection")
    ok(await op(gql, "jiayu.office", "SubmitWorkPlan", inspectionId=I), "Inspection")
    assert ok(await op(gql, "jiayu.leader", "DecideWorkPlan", inspectionId=I, approve=True), "Inspection")["status"] == "approved"
    lead = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name="组长2042", category="OFFICE",
                       userLogin="jiayu.inspector"), "Inspector")
    member = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name="组员2042", category="COURT",
                         termStart="2040-01-01", termEnd="2099-12-31"), "Inspector")
    t = ok(await op(gql, "jiayu.office", "AddInspectorTraining", inspectorId=member["id"], title="培训", heldOn="2041-05-01",
                    hours=4.5), "Inspector")
    assert t["trainings"] == [{"title": "培训", "heldOn": "2041-05-01", "hours": 4.5}]
    pool = await op(gql, "jiayu.office", "Inspectors", first=100)
    assert {"组长2042", "组员2042"} <= {e["node"]["name"] for e in pool["edges"]}
    staff = [ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=I, inspectorId=lead["id"], isLeader=True), "TeamMember")["id"],
             ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=I, inspectorId=member["id"]), "TeamMember")["id"]]
    ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=I, invitedName="政协委员甲", invitedCategory="CPPCC_MEMBER"), "TeamMember")
    assert ok(await op(gql, "jiayu.office", "StartInspection", inspectionId=I), "Inspection")["status"] == "in_progress"

    # Self-inspection (server date: on time), unannounced visit, note, problems.
    d = ok(await op(gql, "jiayu.office", "RequestSelfInspections", inspectionId=I, workingDays=10), "Inspection")
    si = next(s for s in d["selfInspections"] if s["agency"]["id"] == XJ)
    f = [{"name": "自查.pdf", "contentType": "application/pdf", "contentBase64": base64.b64encode(PDF).decode()}]
    d = ok(await op(gql, "jiayu.xinjie", "SubmitSelfInspection", selfInspectionId=si["id"], content="自查报告", files=f), "SelfInspection")
    assert d["late"] is False and d["files"][0]["sizeBytes"] == len(PDF)
    ok(await op(gql, "jiayu.inspector", "RecordUnannouncedVisit", inspectionId=I, place="政务服务中心", plannedOn="2042-09-10",
                staffMemberIds=staff, record="暗访"), "UnannouncedVisit")
    ok(await op(gql, "jiayu.inspector", "AddTeamNote", inspectionId=I, body="内部意见"), "Inspection")
    common = ok(await op(gql, "jiayu.inspector", "RecordProblem", input={
        "inspectionId": I, "title": "执法公示不及时2042", "category": "THREE_ENFORCEMENT_SYSTEMS", "source": "INSPECTION",
        "severity": "GENERAL", "agencyIds": [XJ, COURT]}), "ProblemRecorded")
    single = ok(await op(gql, "jiayu.inspector", "RecordProblem", input={
        "inspectionId": I, "title": "决策未经合法性审查2042", "category": "LAWFUL_DECISION_MAKING", "source": "HOTLINE_12345",
        "severity": "MAJOR", "agencyIds": [XJ]}), "ProblemRecorded")["instances"][0]["id"]
    assert len(common["instances"]) == 2

    # Report: team drafts, office then committee approve; feedback to each target.
    ok(await op(gql, "jiayu.inspector", "SaveReportDraft", inspectionId=I, body="报告草稿"), "ReportChanged")
    ok(await op(gql, "jiayu.inspector", "SubmitReport", inspectionId=I), "ReportChanged")
    ok(await op(gql, "jiayu.leader", "ApproveReport", inspectionId=I, level="OFFICE"), "ReportChanged")
    assert ok(await op(gql, "jiayu.committee", "ApproveReport", inspectionId=I, level="COMMITTEE"), "ReportChanged")["status"] == "committee_approved"
    fb = ok(await op(gql, "jiayu.office", "IssueFeedback", inspectionId=I, agencyId=XJ, noticeRequired=True,
                     noticeWorkingDays=60, summary="请整改"), "Feedback")
    assert len(fb["problems"]) == 2 and {p["status"] for p in fb["problems"]} == {"notified"}
    ok(await op(gql, "jiayu.office", "IssueFeedback", inspectionId=I, agencyId=COURT, noticeRequired=False), "Feedback")
    mine = await op(gql, "jiayu.xinjie", "MyFeedback", first=100)
    assert fb["id"] in {e["node"]["id"] for e in mine["edges"]}
    detail = ok(await op(gql, "jiayu.xinjie", "InspectionDetail", id=I), "Inspection")
    assert (detail["workPlan"], detail["team"], detail["notes"], detail["unannouncedVisits"], detail["report"]) == (None, [], [], [], None)
    assert [a["name"] for a in detail["targets"]] == ["新街镇人民政府"]  # not the court: a peer

    # Rectification plan: the office may not submit for the unit; returned once; accepted.
    xj_common = next(i["id"] for i in common["instances"] if i["agency"]["name"] == "新街镇人民政府")
    due = fb["noticeDueOn"]
    measures = [{"instanceId": i, "content": "措施", "responsiblePerson": "黄海", "dueOn": due} for i in (xj_common, single)]
    rp = ok(await op(gql, "jiayu.xinjie", "SaveRectificationPlan", feedbackId=fb["id"], measures=measures), "RectificationPlan")
    assert ok(await op(gql, "jiayu.office", "SubmitRectificationPlan", planId=rp["id"]), "NotAllowed")
    ok(await op(gql, "jiayu.xinjie", "SubmitRectificationPlan", planId=rp["id"]), "RectificationPlan")
    ok(await op(gql, "jiayu.xinjie.head", "ApproveRectificationPlan", planId=rp["id"]), "RectificationPlan")
    d = ok(await op(gql, "jiayu.office", "DecideRectificationPlan", planId=rp["id"], accept=False, reason="措施不具体"), "RectificationPlan")
    assert (d["status"], d["returnReason"]) == ("returned", "措施不具体")
    measures[1]["content"] = "重大决策一律经合法性审查后提交集体讨论"
    rp = ok(await op(gql, "jiayu.xinjie", "SaveRectificationPlan", feedbackId=fb["id"], measures=measures), "RectificationPlan")
    ok(await op(gql, "jiayu.xinjie", "SubmitRectificationPlan", planId=rp["id"]), "RectificationPlan")
    ok(await op(gql, "jiayu.xinjie.head", "ApproveRectificationPlan", planId=rp["id"]), "RectificationPlan")
    assert ok(await op(gql, "jiayu.office", "DecideRectificationPlan", planId=rp["id"], accept=True), "RectificationPlan")["status"] == "accepted"
    trail = await op(gql, "jiayu.office", "AuditTrail", subjectType="rectification_plan", subjectId=rp["id"])
    assert [a["action"] for a in trail] == [
        "rectification.plan.submit", "rectification.plan.head_approve", "rectification.plan.return",
        "rectification.plan.redraft", "rectification.plan.submit", "rectification.plan.head_approve",
        "rectification.plan.accept"]
    trail = await op(gql, "jiayu.office", "AuditTrail", subjectType="inspection", subjectId=I)
    assert "inspection.reporting" in [a["action"] for a in trail]
    m_single = next(m["id"] for m in rp["measures"] if m["instanceId"] == single)

    # Progress with evidence; acceptance: one rejection, resubmission, close-out.
    ev = {"instanceId": single, "slot": "整改报告", "name": "整改报告.pdf", "contentType": "application/pdf",
          "contentBase64": base64.b64encode(PDF).decode(), "measureId": m_single}
    e1 = ok(await op(gql, "jiayu.xinjie", "AddEvidence", input=ev), "Evidence")
    ok(await op(gql, "jiayu.xinjie", "ReportProgress", measureId=m_single, body="完成", completes=True), "Measure")
    assert ok(await op(gql, "jiayu.office", "RequestAcceptance", instanceId=single), "NotAllowed")  # the unit asks
    r1 = ok(await op(gql, "jiayu.xinjie", "RequestAcceptance", instanceId=single), "ProblemInstance")
    assert [s["name"] for s in r1["acceptanceSteps"]] == ["self_check", "team_acceptance", "committee_hearing"]
    sign = {"instanceId": single, "round": 1, "comment": "ok"}
    ok(await op(gql, "jiayu.xinjie.head", "SignAcceptance", step=0, decision="PASS", **sign), "AcceptanceSigned")
    d = ok(await op(gql, "jiayu.inspector", "SignAcceptance", step=1, decision="REJECT", **{**sign, "comment": "材料不足"}), "AcceptanceSigned")
    assert d["instance"]["status"] == "rectifying"
    e2 = ok(await op(gql, "jiayu.xinjie", "AddEvidence", input={**ev, "contentBase64": base64.b64encode(PDF + b"%2\n").decode()}), "Evidence")
    assert (e1["version"], e2["version"]) == (1, 2)
    ok(await op(gql, "jiayu.xinjie", "ReportProgress", measureId=m_single, body="补充", completes=True), "Measure")
    assert ok(await op(gql, "jiayu.xinjie", "RequestAcceptance", instanceId=single), "ProblemInstance")["acceptanceRound"] == 2
    for login, step in (("jiayu.xinjie.head", 0), ("jiayu.inspector", 1), ("jiayu.committee", 2)):
        ok(await op(gql, login, "SignAcceptance", instanceId=single, round=2, step=step, decision="PASS", comment="同意"), "AcceptanceSigned")
    pi = ok(await op(gql, "jiayu.office", "ProblemDetail", id=single), "ProblemInstance")
    assert pi["status"] == "closed" and all(e["frozen"] for e in pi["evidence"])
    assert [(s["round"], s["step"], s["decision"]) for s in pi["signoffs"]] == [
        (1, 0, "pass"), (1, 1, "reject"), (2, 0, "pass"), (2, 1, "pass"), (2, 2, "pass")]
    assert pi["signoffs"][-1]["evidenceSha256"] == [e2["sha256"]]  # the hashes the last signer saw
    listed = await op(gql, "jiayu.office", "ProblemList", first=100, filter={"inspectionId": I, "status": "closed"})
    assert [e["node"]["id"] for e in listed["edges"]] == [single]

    # Look-back: a sample of closed problems; found again; the rebound figure.
    lb = ok(await op(gql, "jiayu.office", "CreateLookback", inspectionId=I, title="2042回头看", instanceIds=[single],
                     reason="SAMPLE_OF_CLOSED"), "LookbackCreated")
    assert lb["inspection"]["lookbackOf"]["id"] == I
    d = ok(await op(gql, "jiayu.office", "RecordLookbackOutcome", itemId=lb["items"][0]["id"], outcome="REBOUND",
                    comment="问题反弹"), "LookbackItem")
    assert d["instance"] == {"id": single, "status": "reopened", "rebound": True}
    d = ok(await op(gql, "jiayu.office", "LookbackDetail", id=lb["inspection"]["id"]), "Inspection")
    assert d["lookbackSummary"] == {"items": 1, "pending": 0, "confirmed": 0, "rebound": 1, "closedSampled": 1,
                                    "closedRebound": 1, "reboundRate": 1.0}
    assert len(d["lookbackItems"][0]["instance"]["signoffs"]) == 5  # history kept
    poorly = ok(await op(gql, "jiayu.office", "CreateLookback", inspectionId=I, title="整改不力回头看",
                         instanceIds=[xj_common], reason="POORLY_RECTIFIED"), "LookbackCreated")
    ok(await op(gql, "jiayu.office", "RecordLookbackOutcome", itemId=poorly["items"][0]["id"], outcome="CONFIRMED"), "LookbackItem")
    d = ok(await op(gql, "jiayu.office", "LookbackDetail", id=poorly["inspection"]["id"]), "Inspection")
    assert d["lookbackSummary"]["closedSampled"] == 0 and d["lookbackSummary"]["reboundRate"] is None
    # the target sees that it is looked back at, not the office's choice of sample nor its figures
    d = ok(await op(gql, "jiayu.xinjie", "LookbackDetail", id=lb["inspection"]["id"]), "Inspection")
    assert (d["lookbackSummary"], d["lookbackItems"]) == (None, [])
    d = ok(await op(gql, "jiayu.xinjie", "ProblemDetail", id=single), "ProblemInstance")
    assert (d["status"], d["rebound"]) == ("reopened", True)
    trail = await op(gql, "jiayu.office", "AuditTrail", subjectType="problem_instance", subjectId=single)
    assert [a["action"] for a in trail][-1] == "lookback.rebound"
    d = await op(gql, "jiayu.office", "Inspections", first=100, filter={"kind": "LOOKBACK"})
    assert {lb["inspection"]["id"], poorly["inspection"]["id"]} <= {e["node"]["id"] for e in d["edges"]}


async def test_off_plan_and_chain_documents(gql, db, demo):
    """The off-plan approval and the chain configuration documents (their rules: test_cycle_audit_rules)."""
    J = await tenant_id(db, "421221")
    i = ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": "计划外督察文档", "kind": "MOBILE", "form": "ONSITE", "year": 2042,
        "offPlanReason": "群众反映强烈"}), "Inspection")
    assert i["offPlanStatus"] == "pending"
    assert ok(await op(gql, "jiayu.leader", "DecideOffPlanInspection", inspectionId=i["id"], approve=True), "Inspection")["offPlanStatus"] == "approved"
    bad = await op(gql, "jiayu.leader", "SetAcceptanceChain", tenantId=J, steps=[
        {"name": "self_check", "label": "自查", "role": "agency_leader", "side": "target"}])
    assert bad["__typename"] == "ValidationError" and bad["fields"][0]["path"] == ["steps", "0", "side"]


async def _count_statements(app: Any, gql: Any, login: str, name: str, variables: dict[str, Any]) -> int:
    engine = app.state.runtime.db.app.sync_engine
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        await op(gql, login, name, **variables)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


@pytest.mark.parametrize(("name", "variables", "limit"), [
    ("Inspections", {"first": 100}, 7),  # scope (2), page, count, tenants, targets, agencies: one batch each
    ("MyFeedback", {"first": 100}, 7),
    ("AnnualPlans", {}, 4),
    ("Inspectors", {"first": 100}, 4),
])
async def test_main_lists_issue_a_bounded_number_of_statements(gql, app, db, demo, name, variables, limit):
    """Pinned, and the same count once more rows are on the page (another cycle, with two targets: a
    loader awaited target by target would add a statement per target of the biggest inspection)."""
    logins = ("jiayu.office", "jiayu.xinjie", "xianning.office")
    before = {login: await _count_statements(app, gql, login, name, variables) for login in logins}
    assert max(before.values()) <= limit, before
    await run_cycle(gql, db, label=f"计数{name}", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                    committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府", "陆溪镇人民政府"])
    after = {login: await _count_statements(app, gql, login, name, variables) for login in logins}
    assert after == before


def test_every_cycle_document_ran_here():
    """Runs last in this module: each cycle document was executed by a test above."""
    assert CYCLE_DOCS - RAN == set()
