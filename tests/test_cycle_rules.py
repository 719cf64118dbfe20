"""Every illegal transition and wrong-role attempt is a typed error that changes nothing;
concurrent sign-offs of one step: one wins, the other gets Conflict; level-by-level
acceptance; the operation documents the front end uses run; list queries stay bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import event, text

from tests.cycle_helpers import agency_ids, run_cycle, tenant_id

TABLES = ("annual_plan", "plan_item", "inspection", "work_plan", "inspection_target", "inspector", "team_member",
          "team_note", "unannounced_visit", "self_inspection", "problem", "problem_instance", "report", "feedback",
          "rectification_plan", "measure", "progress_update", "evidence", "signoff", "lookback_item", "audit_log",
          "deadline")
E = "... on UserError { code message }"


async def fingerprint(db) -> str:
    parts = []
    async with db.system_session() as s:
        for t in TABLES:
            parts.append((await s.execute(text(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"))).scalar_one())
    return ",".join(parts)


@pytest.fixture(scope="module")
async def cases(gql, db, demo):
    """An inspection of 新街镇 up to feedback, one by 咸宁市 of 嘉鱼县's party committee, a plan."""
    j = await run_cycle(gql, db, label="规则", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府"])
    x = await run_cycle(gql, db, label="逐级", region_code="421200", office="xianning.office", leader="xianning.office",
                        committee="hubei.office", team_leader="xianning.inspector", targets=["中共嘉鱼县委员会"])
    r = await run_cycle(gql, db, label="进行中", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府"],
                        fed_back=False)
    jt = await tenant_id(db, "421221")
    d = await gql.data("jiayu.office", f'mutation {{ createAnnualPlan(tenantId: "{jt}", year: 2031, title: "规则计划") {{ ... on AnnualPlan {{ id }} }} }}')
    return {"j": j, "x": x, "r": r, "plan": d["createAnnualPlan"]["id"], "jt": jt}


def _bad(case_id: str, login: str, op: str, expected: str):
    return pytest.param(login, op, expected, id=case_id)


RULES = [
    # plans
    _bad("plan-submit-empty", "jiayu.office", 'submitAnnualPlan(planId: "{plan}")', "ValidationError"),
    _bad("plan-decide-draft", "jiayu.leader", 'decideAnnualPlan(planId: "{plan}", approve: true)', "InvalidTransition"),
    _bad("plan-decide-by-staff", "jiayu.office", 'decideAnnualPlan(planId: "{plan}", approve: true)', "NotAllowed"),
    _bad("plan-duplicate-year", "jiayu.office", 'createAnnualPlan(tenantId: "{jt}", year: 2031, title: "again")', "Conflict"),
    _bad("plan-bad-year", "jiayu.office", 'createAnnualPlan(tenantId: "{jt}", year: 1900, title: "x")', "ValidationError"),
    _bad("plan-by-liaison", "jiayu.xinjie", 'createAnnualPlan(tenantId: "{jt}", year: 2032, title: "x")', "NotAllowed"),
    _bad("plan-by-overseer", "hubei.justice", 'createAnnualPlan(tenantId: "{jt}", year: 2032, title: "x")', "NotAllowed"),
    _bad("plan-peer", "yunxi.office", 'addPlanItem(planId: "{plan}", title: "x", kind: SPECIAL, form: WRITTEN)', "NotFound"),
    # inspection
    _bad("inspection-by-court", "jiayu.court", 'createInspection(input: {{tenantId: "{jt}", title: "x", kind: CASE, form: WRITTEN, year: 2025, offPlanReason: "x"}})', "NotAllowed"),
    _bad("inspection-off-plan-no-reason", "jiayu.office", 'createInspection(input: {{tenantId: "{jt}", title: "x", kind: CASE, form: WRITTEN, year: 2025}})', "ValidationError"),
    _bad("inspection-joint-without-partner", "jiayu.office", 'createInspection(input: {{tenantId: "{jt}", title: "x", kind: JOINT, form: WRITTEN, year: 2025, offPlanReason: "x"}})', "ValidationError"),
    _bad("inspection-start-twice", "jiayu.office", 'startInspection(inspectionId: "{j}")', "InvalidTransition"),
    _bad("work-plan-after-start", "jiayu.office", 'submitWorkPlan(inspectionId: "{j}")', "InvalidTransition"),
    _bad("work-plan-decide-after-start", "jiayu.leader", 'decideWorkPlan(inspectionId: "{j}", approve: true)', "InvalidTransition"),
    _bad("targets-after-start", "jiayu.office", 'addInspectionTargets(inspectionId: "{j}", agencyIds: ["{court}"])', "InvalidTransition"),
    _bad("peer-inspection", "yunxi.office", 'startInspection(inspectionId: "{j}")', "NotFound"),
    _bad("up-the-tree", "jiayu.office", 'addTeamNote(inspectionId: "{x}", body: "x")', "NotAllowed"),
    _bad("note-by-target", "jiayu.xinjie", 'addTeamNote(inspectionId: "{j}", body: "x")', "NotAllowed"),
    _bad("visit-by-non-leader", "jiayu.office", 'recordUnannouncedVisit(inspectionId: "{j}", place: "x", plannedOn: "2025-05-06", staffMemberIds: ["1", "2"])', "NotAllowed"),
    _bad("malformed-id", "jiayu.office", 'startInspection(inspectionId: "12abc")', "ValidationError"),
    # problems, report, feedback
    _bad("problem-non-target", "jiayu.office", 'recordProblem(input: {{inspectionId: "{r}", title: "x", category: OTHER, source: MEDIA, severity: MINOR, agencyIds: ["{court}"]}})', "ValidationError"),
    _bad("problem-after-feedback", "jiayu.office", 'recordProblem(input: {{inspectionId: "{j}", title: "x", category: OTHER, source: MEDIA, severity: MINOR, agencyIds: ["{xinjie}"]}})', "InvalidTransition"),
    _bad("problem-by-liaison", "jiayu.xinjie", 'recordProblem(input: {{inspectionId: "{j}", title: "x", category: OTHER, source: MEDIA, severity: MINOR, agencyIds: ["{xinjie}"]}})', "NotAllowed"),
    _bad("report-redraft-approved", "jiayu.office", 'saveReportDraft(inspectionId: "{j}", body: "x")', "InvalidTransition"),
    _bad("report-approve-twice", "jiayu.committee", 'approveReport(inspectionId: "{j}", level: "COMMITTEE")', "InvalidTransition"),
    _bad("report-bad-level", "jiayu.leader", 'approveReport(inspectionId: "{j}", level: "PROVINCE")', "ValidationError"),
    _bad("feedback-twice", "jiayu.office", 'issueFeedback(inspectionId: "{j}", agencyId: "{xinjie}", noticeRequired: true, noticeWorkingDays: 5)', "InvalidTransition"),
    _bad("feedback-non-target", "jiayu.office", 'issueFeedback(inspectionId: "{j}", agencyId: "{court}", noticeRequired: false)', "ValidationError"),
    # rectification and acceptance
    _bad("plan-by-other-unit", "jiayu.court", 'saveRectificationPlan(feedbackId: "{fb}", measures: [])', "NotFound"),
    _bad("plan-empty", "jiayu.xinjie", 'saveRectificationPlan(feedbackId: "{fb}", measures: [])', "ValidationError"),
    _bad("sign-not-in-acceptance", "jiayu.inspector", 'signAcceptance(instanceId: "{inst}", round: 1, step: 0, decision: "pass")', "InvalidTransition"),
    _bad("acceptance-too-early", "jiayu.xinjie", 'requestAcceptance(instanceId: "{inst}")', "InvalidTransition"),
    _bad("evidence-before-rectifying", "jiayu.xinjie", 'addEvidence(input: {{instanceId: "{inst}", slot: "a", name: "a.pdf", contentType: "application/pdf", contentBase64: "JVBERi0xLjQK"}})', "InvalidTransition"),
    _bad("evidence-bad-base64", "jiayu.xinjie", 'addEvidence(input: {{instanceId: "{inst}", slot: "a", name: "a.pdf", contentType: "application/pdf", contentBase64: "%%%"}})', "ValidationError"),
    # level by level: 咸宁市's item addressed to 嘉鱼县 — the county office cannot decide it
    _bad("county-cannot-issue-city-feedback", "jiayu.office", 'issueFeedback(inspectionId: "{x}", agencyId: "{party}", noticeRequired: false)', "NotAllowed"),
    _bad("lookback-wrong-reason", "jiayu.office", 'createLookback(inspectionId: "{j}", title: "x", instanceIds: ["{inst}"], reason: "SAMPLE_OF_CLOSED")', "ValidationError"),
]


@pytest.mark.parametrize(("login", "op", "expected"), RULES)
async def test_illegal_steps_are_typed_and_change_nothing(gql, db, cases, login, op, expected):
    xinjie, court, party = await agency_ids(db, "新街镇人民政府", "嘉鱼县人民法院", "中共嘉鱼县委员会")
    async with db.system_session() as s:
        fb = (await s.execute(text("SELECT id FROM feedback WHERE inspection_id = :i"), {"i": int(cases["j"]["inspection"])})).scalar_one()
        inst = (await s.execute(text("SELECT id FROM problem_instance WHERE feedback_id = :f"), {"f": fb})).scalars().first()
    values = {"plan": cases["plan"], "jt": cases["jt"], "j": cases["j"]["inspection"], "x": cases["x"]["inspection"], "r": cases["r"]["inspection"],
              "xinjie": xinjie, "court": court, "party": party, "fb": fb, "inst": inst}
    before = await fingerprint(db)
    d = await gql.data(login, "mutation { r: " + op.format(**values) + " { __typename " + E + " } }")
    assert d["r"]["__typename"] == expected, (d, op)
    assert d["r"]["message"]
    assert await fingerprint(db) == before


async def test_level_by_level_the_higher_office_accepts(gql, db, cases):
    """嘉鱼县's party committee rectifies 咸宁市's problem: the county office sees it, cannot sign for the city."""
    d = await gql.data("jiayu.office", "{ problems(first: 50, filter: {status: \"notified\"}) { edges { node { id problem { title } } } } }")
    titles = {e["node"]["problem"]["title"] for e in d["problems"]["edges"]}
    assert "问题逐级" in titles
    inst = next(e["node"]["id"] for e in d["problems"]["edges"] if e["node"]["problem"]["title"] == "问题逐级")
    before = await fingerprint(db)
    d = await gql.data("jiayu.leader", f'mutation {{ signAcceptance(instanceId: "{inst}", round: 0, step: 0, decision: "pass") {{ __typename }} }}')
    assert d["signAcceptance"]["__typename"] in ("InvalidTransition", "NotAllowed")
    assert await fingerprint(db) == before


async def _to_acceptance(gql, db, label: str) -> str:
    c = await run_cycle(gql, db, label=label, region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府"])
    d = await gql.data("jiayu.xinjie", "{ feedbacks(first: 100) { edges { node { id inspection { title } problems { id } } } } }")
    node = next(e["node"] for e in d["feedbacks"]["edges"] if e["node"]["inspection"]["title"] == f"督察{label}")
    inst = node["problems"][0]["id"]
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    m = [{"instanceId": inst, "content": "措施", "responsiblePerson": "黄海", "dueOn": due}]
    d = await gql.data("jiayu.xinjie", 'mutation($f: ID!, $m: [MeasureInput!]!) { saveRectificationPlan(feedbackId: $f, measures: $m) { ... on RectificationPlan { id measures { id } } } }',
                       {"f": node["id"], "m": m})
    plan = d["saveRectificationPlan"]
    await gql.data("jiayu.xinjie", f'mutation {{ submitRectificationPlan(planId: "{plan["id"]}") {{ __typename }} }}')
    await gql.data("jiayu.xinjie.head", f'mutation {{ approveRectificationPlan(planId: "{plan["id"]}") {{ __typename }} }}')
    await gql.data("jiayu.office", f'mutation {{ decideRectificationPlan(planId: "{plan["id"]}", accept: true) {{ __typename }} }}')
    await gql.data("jiayu.xinjie", f'mutation {{ reportProgress(measureId: "{plan["measures"][0]["id"]}", body: "done", completes: true) {{ __typename }} }}')
    d = await gql.data("jiayu.xinjie", f'mutation {{ requestAcceptance(instanceId: "{inst}") {{ __typename }} }}')
    assert d["requestAcceptance"]["__typename"] == "ProblemInstance"
    assert c
    return inst


async def test_concurrent_signoffs_of_one_step_one_wins(gql, db, demo):
    inst = await _to_acceptance(gql, db, "并发")
    q = Path(__file__).resolve().parent.parent / "graphql" / "operations" / "SignAcceptance.graphql"
    doc = q.read_text()
    v = {"instanceId": inst, "round": 1, "step": 0, "decision": "PASS", "comment": "ok"}
    results = await asyncio.gather(*(gql("jiayu.xinjie.head", doc, v) for _ in range(4)))
    kinds = sorted(r["data"]["signAcceptance"]["__typename"] for r in results)
    assert kinds == ["AcceptanceSigned", "Conflict", "Conflict", "Conflict"]
    async with db.system_session() as s:
        n = (await s.execute(text("SELECT count(*) FROM signoff WHERE instance_id = :i"), {"i": int(inst)})).scalar_one()
    assert n == 1


OPERATIONS = Path(__file__).resolve().parent.parent / "graphql" / "operations"


async def test_every_operation_document_runs(gql, db, cases):
    xinjie, = await agency_ids(db, "新街镇人民政府")
    variables = {
        "Me": {}, "Region": {"code": "421221"}, "Agencies": {"first": 20},
        "Inspections": {"first": 20, "filter": {"year": 2025}},
        "InspectionDetail": {"id": cases["j"]["inspection"]},
        "ProblemList": {"first": 100}, "MyFeedback": {"first": 20},
        "ProblemDetail": {"id": "1"},
        "SignAcceptance": {"instanceId": "1", "round": 9, "step": 9, "decision": "PASS", "comment": ""},
        "RecordProblem": {"input": {"inspectionId": cases["j"]["inspection"], "title": "x", "category": "OTHER",
                                    "source": "MEDIA", "severity": "MINOR", "agencyIds": [xinjie]}},
    }
    files = sorted(OPERATIONS.glob("*.graphql"))
    assert set(variables) <= {f.stem for f in files}  # every document named here exists
    for f in files:
        if f.stem not in variables:
            continue  # documents of other domains are run by their own tests
        body = await gql("jiayu.office", f.read_text(), variables[f.stem])
        assert not body.get("errors"), (f.name, body["errors"])


async def test_problem_list_is_four_statements(gql, app, cases):
    """The main list: scope, page with its problems, agencies, latest measures."""
    engine = app.state.runtime.db.app.sync_engine
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    doc = (OPERATIONS / "ProblemList.graphql").read_text()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for login in ("jiayu.office", "hubei.justice", "jiayu.xinjie"):
            seen.clear()
            body = await gql(login, doc, {"first": 100})
            assert not body.get("errors")
            assert len(seen) <= 4, seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
