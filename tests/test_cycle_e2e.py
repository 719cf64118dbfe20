"""003's procedure end to end through GraphQL only, each step by a user of the right role:
plan → approval → inspection → work plan → team → self-inspection → on-site problems →
report → approvals → feedback → notice → plan → progress with evidence → acceptance chain
with one rejection and a resubmission → close-out → look-back."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import text

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def ids(db) -> dict[str, str]:
    async with db.system_session() as s:
        rows = (await s.execute(text(
            "SELECT 'tenant:' || region_code, id FROM tenant WHERE region_code IN ('421221', '420322', '421200')"
            " UNION ALL SELECT 'agency:' || name, id FROM agency WHERE name IN ('新街镇人民政府', '嘉鱼县人民法院', '陆溪镇人民政府',"
            " '郧西县司法局', '嘉鱼县纪委监委')"))).all()
    return {k: str(v) for k, v in rows}


def ok(d: dict, field: str, typename: str | None = None) -> dict:
    v = d[field]
    assert "code" not in v or v.get("__typename") == typename, v
    if typename:
        assert v["__typename"] == typename, v
    return v


E = "... on UserError { code message }"


@pytest.fixture(scope="module")
async def world(db, demo):
    return await ids(db)


async def test_the_whole_procedure(gql, world, db):
    J = world["tenant:421221"]
    XJ, COURT = world["agency:新街镇人民政府"], world["agency:嘉鱼县人民法院"]

    # 1. Annual plan: drafted by the office, approved by its leader.
    d = await gql.data("jiayu.office", f"""mutation {{ createAnnualPlan(tenantId: "{J}", year: 2023, title: "嘉鱼县2023年度法治督察计划")
        {{ __typename ... on AnnualPlan {{ id status }} {E} }} }}""")
    plan = ok(d, "createAnnualPlan", "AnnualPlan")["id"]
    d = await gql.data("jiayu.office", f"""mutation {{ addPlanItem(planId: "{plan}", title: "2023年度全面督察", kind: COMPREHENSIVE,
        form: BOTH, plannedMonth: 9) {{ __typename ... on PlanItem {{ id }} {E} }} }}""")
    item = ok(d, "addPlanItem", "PlanItem")["id"]
    d = await gql.data("jiayu.office", f'mutation {{ submitAnnualPlan(planId: "{plan}") {{ __typename ... on AnnualPlan {{ status }} {E} }} }}')
    assert ok(d, "submitAnnualPlan", "AnnualPlan")["status"] == "submitted"
    # the office staff cannot approve its own plan
    d = await gql.data("jiayu.office", f'mutation {{ decideAnnualPlan(planId: "{plan}", approve: true) {{ __typename }} }}')
    assert d["decideAnnualPlan"]["__typename"] == "NotAllowed"
    d = await gql.data("jiayu.leader", f'mutation {{ decideAnnualPlan(planId: "{plan}", approve: true) {{ __typename ... on AnnualPlan {{ status }} }} }}')
    assert d["decideAnnualPlan"] == {"__typename": "AnnualPlan", "status": "approved"}

    # 2. Inspection from the plan, targets, work plan approved before work starts.
    d = await gql.data("jiayu.office", f"""mutation {{ createInspection(input: {{tenantId: "{J}", title: "嘉鱼县2023年度法治建设全面督察",
        kind: COMPREHENSIVE, form: BOTH, year: 2023, planItemId: "{item}"}}) {{ __typename ... on Inspection {{ id status offPlanStatus }} {E} }} }}""")
    insp = ok(d, "createInspection", "Inspection")
    assert insp["offPlanStatus"] == "NOT_NEEDED".lower() or insp["offPlanStatus"] == "not_needed"
    I = insp["id"]
    d = await gql.data("jiayu.office", f'mutation {{ addInspectionTargets(inspectionId: "{I}", agencyIds: ["{XJ}", "{COURT}"]) {{ __typename {E} }} }}')
    ok(d, "addInspectionTargets", "Inspection")
    d = await gql.data("jiayu.office", f'mutation {{ startInspection(inspectionId: "{I}") {{ __typename {E} }} }}')
    assert d["startInspection"]["__typename"] == "InvalidTransition"  # no approved work plan yet
    d = await gql.data("jiayu.office", f"""mutation {{ saveWorkPlan(inspectionId: "{I}", input: {{project: "法治建设全面督察",
        reason: "落实年度督察计划", legalBasis: "《法治政府建设与责任落实督察工作规定》", methods: ["hear_reports", "review_files", "site_visits"],
        focus: "营商环境、行政执法三项制度", schedule: "9月-10月"}}) {{ __typename {E} }} }}""")
    ok(d, "saveWorkPlan", "Inspection")
    d = await gql.data("jiayu.office", f'mutation {{ submitWorkPlan(inspectionId: "{I}") {{ __typename ... on Inspection {{ status }} {E} }} }}')
    assert ok(d, "submitWorkPlan", "Inspection")["status"] == "work_plan_submitted"
    d = await gql.data("jiayu.leader", f'mutation {{ decideWorkPlan(inspectionId: "{I}", approve: true) {{ __typename ... on Inspection {{ status }} {E} }} }}')
    assert ok(d, "decideWorkPlan", "Inspection")["status"] == "approved"

    # 3. Team from the pool: the leader is jiayu.inspector; an invited lawyer.
    d = await gql.data("jiayu.office", f"""mutation {{ a: addInspector(tenantId: "{J}", name: "吴敏", category: OFFICE, userLogin: "jiayu.inspector")
        {{ __typename ... on Inspector {{ id }} {E} }} b: addInspector(tenantId: "{J}", name: "郑国强", category: DISCIPLINE) {{ __typename ... on Inspector {{ id }} {E} }} }}""")
    leader_ins, member_ins = ok(d, "a", "Inspector")["id"], ok(d, "b", "Inspector")["id"]
    d = await gql.data("jiayu.office", f'mutation {{ addInspectorTraining(inspectorId: "{member_ins}", title: "督察业务培训", heldOn: "2024-06-01", hours: 8) {{ __typename ... on Inspector {{ trainings {{ title hours }} }} {E} }} }}')
    assert ok(d, "addInspectorTraining", "Inspector")["trainings"] == [{"title": "督察业务培训", "hours": 8.0}]
    d = await gql.data("jiayu.office", f"""mutation {{ l: addTeamMember(inspectionId: "{I}", inspectorId: "{leader_ins}", isLeader: true) {{ __typename ... on TeamMember {{ id }} {E} }}
        m: addTeamMember(inspectionId: "{I}", inspectorId: "{member_ins}") {{ __typename ... on TeamMember {{ id }} {E} }}
        x: addTeamMember(inspectionId: "{I}", invitedName: "张律师", invitedCategory: LAWYER) {{ __typename ... on TeamMember {{ id }} {E} }} }}""")
    staff = [ok(d, k, "TeamMember")["id"] for k in ("l", "m", "x")]
    d = await gql.data("jiayu.office", f'mutation {{ startInspection(inspectionId: "{I}") {{ __typename ... on Inspection {{ status }} {E} }} }}')
    assert ok(d, "startInspection", "Inspection")["status"] == "in_progress"

    # 4. Self-inspection by a working-day deadline; 新街镇 submits.
    d = await gql.data("jiayu.office", f'mutation {{ requestSelfInspections(inspectionId: "{I}", workingDays: 10, today: "2024-09-27") {{ __typename ... on Inspection {{ selfInspections {{ id dueOn agency {{ name }} }} }} {E} }} }}')
    sis = ok(d, "requestSelfInspections", "Inspection")["selfInspections"]
    assert {s["dueOn"] for s in sis} == {"2024-10-16"}  # 10 working days: Sep 29 and Oct 12 are make-up days
    xj_si = next(s["id"] for s in sis if s["agency"]["name"] == "新街镇人民政府")
    f = [{"name": "自查报告.pdf", "contentType": "application/pdf", "contentBase64": base64.b64encode(PDF).decode()}]
    d = await gql.data("jiayu.xinjie", f'mutation($f: [FileInput!]) {{ submitSelfInspection(selfInspectionId: "{xj_si}", content: "自查报告正文", today: "2024-10-21", files: $f) {{ __typename ... on SelfInspection {{ late submittedAt files {{ name sha256 }} }} {E} }} }}', {"f": f})
    si = ok(d, "submitSelfInspection", "SelfInspection")
    assert si["late"] is True and si["files"][0]["name"] == "自查报告.pdf" and len(si["files"][0]["sha256"]) == 64

    # 5. On-site: an unannounced visit needs the team leader and two staff; then problems.
    q = f'mutation($s: [ID!]!) {{ recordUnannouncedVisit(inspectionId: "{I}", place: "新街镇政务服务中心", plannedOn: "2024-10-09", staffMemberIds: $s, record: "暗访记录") {{ __typename {E} }} }}'
    assert (await gql.data("jiayu.office", q, {"s": staff[:2]}))["recordUnannouncedVisit"]["__typename"] == "NotAllowed"
    assert (await gql.data("jiayu.inspector", q, {"s": staff[:1]}))["recordUnannouncedVisit"]["__typename"] == "ValidationError"
    assert (await gql.data("jiayu.inspector", q, {"s": staff[:2]}))["recordUnannouncedVisit"]["__typename"] == "UnannouncedVisit"
    d = await gql.data("jiayu.inspector", f'mutation {{ addTeamNote(inspectionId: "{I}", body: "内部讨论：新街镇执法案卷问题较多") {{ __typename {E} }} }}')
    ok(d, "addTeamNote", "Inspection")
    d = await gql.data("jiayu.inspector", f"""mutation {{ recordProblem(input: {{inspectionId: "{I}", title: "行政执法公示不及时",
        category: THREE_ENFORCEMENT_SYSTEMS, source: INSPECTION, severity: GENERAL, agencyIds: ["{XJ}", "{COURT}"], foundOn: "2024-10-10"}})
        {{ __typename ... on ProblemRecorded {{ problemId instances {{ id status agency {{ name }} }} }} {E} }} }}""")
    common = ok(d, "recordProblem", "ProblemRecorded")
    assert len(common["instances"]) == 2
    d = await gql.data("jiayu.inspector", f"""mutation {{ recordProblem(input: {{inspectionId: "{I}", title: "重大行政决策未经合法性审查",
        category: LAWFUL_DECISION_MAKING, source: INSPECTION, severity: MAJOR, agencyIds: ["{XJ}"]}})
        {{ __typename ... on ProblemRecorded {{ instances {{ id }} }} {E} }} }}""")
    individual = ok(d, "recordProblem", "ProblemRecorded")["instances"][0]["id"]
    # targets see nothing of problems before feedback
    d = await gql.data("jiayu.xinjie", f'{{ problems(first: 50, filter: {{inspectionId: "{I}"}}) {{ totalCount }} }}')
    assert d["problems"]["totalCount"] == 0

    # 6. Report: drafted by the team, approved by the office, then by the committee.
    d = await gql.data("jiayu.inspector", f'mutation {{ saveReportDraft(inspectionId: "{I}", body: "督察报告草稿") {{ __typename {E} }} }}')
    ok(d, "saveReportDraft", "ReportChanged")
    d = await gql.data("jiayu.inspector", f'mutation {{ submitReport(inspectionId: "{I}") {{ __typename ... on ReportChanged {{ status }} {E} }} }}')
    assert ok(d, "submitReport", "ReportChanged")["status"] == "submitted"
    d = await gql.data("jiayu.committee", f'mutation {{ approveReport(inspectionId: "{I}", level: "COMMITTEE") {{ __typename {E} }} }}')
    assert d["approveReport"]["__typename"] == "InvalidTransition"  # the office approves first
    d = await gql.data("jiayu.office", f'mutation {{ approveReport(inspectionId: "{I}", level: "OFFICE") {{ __typename {E} }} }}')
    assert d["approveReport"]["__typename"] == "NotAllowed"  # staff are not the leader
    d = await gql.data("jiayu.leader", f'mutation {{ approveReport(inspectionId: "{I}", level: "OFFICE") {{ __typename ... on ReportChanged {{ status }} {E} }} }}')
    assert ok(d, "approveReport", "ReportChanged")["status"] == "office_approved"
    d = await gql.data("jiayu.committee", f'mutation {{ approveReport(inspectionId: "{I}", level: "COMMITTEE") {{ __typename ... on ReportChanged {{ status }} {E} }} }}')
    assert ok(d, "approveReport", "ReportChanged")["status"] == "committee_approved"

    # 7. Feedback with a rectification notice: 新街镇 sees its own list, nothing internal.
    d = await gql.data("jiayu.office", f'mutation {{ issueFeedback(inspectionId: "{I}", agencyId: "{XJ}", noticeRequired: true, noticeWorkingDays: 30, today: "2024-11-01") {{ __typename ... on Feedback {{ id noticeDueOn }} {E} }} }}')
    fb = ok(d, "issueFeedback", "Feedback")
    d = await gql.data("jiayu.xinjie", "{ feedbacks(first: 100) { edges { node { id noticeDueOn problems { id status problem { title } } inspection { title workPlan { reason } team { name } notes { body } unannouncedVisits { place } report { body } } } } } }")
    node = next(e["node"] for e in d["feedbacks"]["edges"] if e["node"]["id"] == fb["id"])
    assert node["id"] == fb["id"]
    assert {p["problem"]["title"] for p in node["problems"]} == {"行政执法公示不及时", "重大行政决策未经合法性审查"}
    assert node["inspection"] == {"title": "嘉鱼县2023年度法治建设全面督察", "workPlan": None, "team": [], "notes": [],
                                  "unannouncedVisits": [], "report": None}
    d = await gql.data("jiayu.court", f'{{ problems(first: 10, filter: {{inspectionId: "{I}"}}) {{ totalCount }} }}')
    assert d == {"problems": {"totalCount": 0}}  # not fed back to the court yet

    # 8. Rectification plan: liaison writes and submits, head approves, office accepts.
    xj_instances = [p["id"] for p in node["problems"]]
    measures = [{"instanceId": i, "content": f"整改措施{n}", "responsiblePerson": "黄海", "dueOn": "2024-12-01"}
                for n, i in enumerate(xj_instances)]
    d = await gql.data("jiayu.xinjie", f'mutation($m: [MeasureInput!]!) {{ saveRectificationPlan(feedbackId: "{fb["id"]}", measures: $m) {{ __typename ... on RectificationPlan {{ id status measures {{ id }} }} {E} }} }}', {"m": measures})
    rp = ok(d, "saveRectificationPlan", "RectificationPlan")
    d = await gql.data("jiayu.xinjie", f'mutation {{ submitRectificationPlan(planId: "{rp["id"]}") {{ __typename {E} }} }}')
    ok(d, "submitRectificationPlan", "RectificationPlan")
    d = await gql.data("jiayu.xinjie", f'mutation {{ approveRectificationPlan(planId: "{rp["id"]}") {{ __typename }} }}')
    assert d["approveRectificationPlan"]["__typename"] == "NotAllowed"  # the liaison is not the head
    d = await gql.data("jiayu.xinjie.head", f'mutation {{ approveRectificationPlan(planId: "{rp["id"]}") {{ __typename ... on RectificationPlan {{ status }} {E} }} }}')
    assert ok(d, "approveRectificationPlan", "RectificationPlan")["status"] == "leader_approved"
    d = await gql.data("jiayu.office", f'mutation {{ decideRectificationPlan(planId: "{rp["id"]}", accept: true) {{ __typename ... on RectificationPlan {{ status }} {E} }} }}')
    assert ok(d, "decideRectificationPlan", "RectificationPlan")["status"] == "accepted"

    # 9. Progress with evidence, then acceptance: one rejection, a resubmission, close-out.
    target = individual
    measure = next(m["id"] for m in rp["measures"])  # measure ids follow instance order
    d = await gql.data("jiayu.xinjie", f'{{ problemInstance(id: "{target}") {{ ... on ProblemInstance {{ measures {{ id }} }} }} }}')
    measure = d["problemInstance"]["measures"][0]["id"]
    ev = {"instanceId": target, "slot": "整改报告", "name": "整改报告.pdf", "contentType": "application/pdf",
          "contentBase64": base64.b64encode(PDF).decode()}
    d = await gql.data("jiayu.xinjie", 'mutation($e: EvidenceInput!) { addEvidence(input: $e) { __typename ... on Evidence { sha256 version frozen } ... on UserError { code message } } }', {"e": ev})
    first_ev = ok(d, "addEvidence", "Evidence")
    assert first_ev["version"] == 1
    d = await gql.data("jiayu.xinjie", f'mutation {{ requestAcceptance(instanceId: "{target}") {{ __typename {E} }} }}')
    assert d["requestAcceptance"]["__typename"] == "InvalidTransition"  # measures not completed
    d = await gql.data("jiayu.xinjie", f'mutation {{ reportProgress(measureId: "{measure}", body: "已完成", completes: true) {{ __typename ... on Measure {{ completedAt }} {E} }} }}')
    assert ok(d, "reportProgress", "Measure")["completedAt"]
    d = await gql.data("jiayu.xinjie", f'mutation {{ requestAcceptance(instanceId: "{target}") {{ __typename ... on ProblemInstance {{ status acceptanceRound acceptanceStep }} {E} }} }}')
    assert ok(d, "requestAcceptance", "ProblemInstance") == {"__typename": "ProblemInstance", "status": "in_acceptance", "acceptanceRound": 1, "acceptanceStep": 0}

    sign = 'mutation($i: ID!, $r: Int!, $s: Int!, $d: String!, $c: String!) { signAcceptance(instanceId: $i, round: $r, step: $s, decision: $d, comment: $c) { __typename ... on AcceptanceSigned { signoff { stepName decision evidenceSha256 } instance { status acceptanceStep } } ... on UserError { code message } } }'
    d = await gql.data("jiayu.xinjie.head", sign, {"i": target, "r": 1, "s": 0, "d": "PASS", "c": "自查合格"})
    s0 = ok(d, "signAcceptance", "AcceptanceSigned")
    assert s0["signoff"]["evidenceSha256"] == [first_ev["sha256"]]
    d = await gql.data("jiayu.inspector", sign, {"i": target, "r": 1, "s": 1, "d": "REJECT", "c": "佐证材料不足"})
    assert ok(d, "signAcceptance", "AcceptanceSigned")["instance"]["status"] == "rectifying"
    ev2 = {**ev, "contentBase64": base64.b64encode(PDF + b"% v2\n").decode()}
    d = await gql.data("jiayu.xinjie", 'mutation($e: EvidenceInput!) { addEvidence(input: $e) { __typename ... on Evidence { version } ... on UserError { code message } } }', {"e": ev2})
    assert ok(d, "addEvidence", "Evidence")["version"] == 2
    await gql.data("jiayu.xinjie", f'mutation {{ reportProgress(measureId: "{measure}", body: "补充材料后完成", completes: true) {{ __typename }} }}')
    d = await gql.data("jiayu.xinjie", f'mutation {{ requestAcceptance(instanceId: "{target}") {{ __typename ... on ProblemInstance {{ acceptanceRound }} {E} }} }}')
    assert ok(d, "requestAcceptance", "ProblemInstance")["acceptanceRound"] == 2
    for login, step in (("jiayu.xinjie.head", 0), ("jiayu.inspector", 1), ("jiayu.committee", 2)):
        d = await gql.data(login, sign, {"i": target, "r": 2, "s": step, "d": "PASS", "c": "同意"})
        ok(d, "signAcceptance", "AcceptanceSigned")
    d = await gql.data("jiayu.office", f'{{ problemInstance(id: "{target}") {{ ... on ProblemInstance {{ status closedAt signoffs {{ round step decision }} evidence {{ version frozen }} }} }} }}')
    pi = d["problemInstance"]
    assert pi["status"] == "closed" and pi["closedAt"]
    assert [(s["round"], s["step"], s["decision"]) for s in pi["signoffs"]] == [
        (1, 0, "pass"), (1, 1, "reject"), (2, 0, "pass"), (2, 1, "pass"), (2, 2, "pass")]
    assert all(e["frozen"] for e in pi["evidence"])
    d = await gql.data("jiayu.xinjie", 'mutation($e: EvidenceInput!) { addEvidence(input: $e) { __typename } }', {"e": ev})
    assert d["addEvidence"]["__typename"] == "InvalidTransition"  # closed: frozen

    # 10. Look-back on a sample of closed problems: found again, reopened, history kept.
    d = await gql.data("jiayu.office", f"""mutation {{ createLookback(inspectionId: "{I}", title: "2023年度督察整改回头看",
        instanceIds: ["{target}"], reason: "SAMPLE_OF_CLOSED") {{ __typename ... on LookbackCreated {{ inspection {{ kind lookbackOf {{ id }} }} items {{ id }} }} {E} }} }}""")
    lb = ok(d, "createLookback", "LookbackCreated")
    assert lb["inspection"]["kind"] == "LOOKBACK" and lb["inspection"]["lookbackOf"]["id"] == I
    d = await gql.data("jiayu.office", f'mutation {{ recordLookbackOutcome(itemId: "{lb["items"][0]["id"]}", outcome: "REBOUND", comment: "问题反弹") {{ __typename ... on LookbackItem {{ outcome }} {E} }} }}')
    assert ok(d, "recordLookbackOutcome", "LookbackItem")["outcome"] == "rebound"
    d = await gql.data("jiayu.office", f'{{ problemInstance(id: "{target}") {{ ... on ProblemInstance {{ status rebound signoffs {{ round }} }} }} }}')
    assert d["problemInstance"]["status"] == "reopened" and d["problemInstance"]["rebound"] is True
    assert len(d["problemInstance"]["signoffs"]) == 5
    # rectification starts over: the slot takes a new version; the accepted ones stay frozen
    ev3 = {**ev, "contentBase64": base64.b64encode(PDF + b"% after the rebound\n").decode()}
    d = await gql.data("jiayu.xinjie", 'mutation($e: EvidenceInput!) { addEvidence(input: $e) { __typename ... on Evidence { version frozen } ... on UserError { code message } } }', {"e": ev3})
    assert ok(d, "addEvidence", "Evidence") == {"__typename": "Evidence", "version": 3, "frozen": False}
    d = await gql.data("jiayu.office", f'{{ problemInstance(id: "{target}") {{ ... on ProblemInstance {{ evidence {{ version frozen }} }} }} }}')
    assert sorted((e["version"], e["frozen"]) for e in d["problemInstance"]["evidence"]) == [(1, True), (2, True), (3, False)]

    # The audit trail holds every change of the instance, hash-chained.
    d = await gql.data("jiayu.office", f'{{ auditTrail(subjectType: "problem_instance", subjectId: "{target}") {{ action }} }}')
    actions = [a["action"] for a in d["auditTrail"]]
    assert actions[0] == "acceptance.request" and "lookback.rebound" in actions
    assert common["instances"]
