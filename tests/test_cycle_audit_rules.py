"""Issue 3 audit: the rules the first cycle tests left untested, each tried through GraphQL on
real PostgreSQL; every refusal is a typed error and changes nothing (the fingerprint of every
cycle table is the same before and after).

* off-plan inspections wait for the leader; a plan item starts an inspection of its own year;
* the pool and the team: an ended term, an invited leader, a second leader; 暗访 by the team's
  own staff (invited members are not staff);
* self-inspection: written forms only, the unit itself submits, lateness by the server's date;
* the unit's formal acts (submitting its plan, asking for acceptance) are its own;
* 督察组验收 is signed by the leader of the team that inspected the problem;
* the acceptance chain per tenant: validated, and a round keeps the chain it started with;
* level by level: 咸宁市's problem at 嘉鱼县's party committee is accepted by 咸宁市, never by 嘉鱼县;
* peers never see each other's problems, a city sees its counties', targets see no internals.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.cycle_helpers import agency_ids, run_cycle, tenant_id

OPS = Path(__file__).resolve().parent.parent / "graphql" / "operations"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TABLES = ("annual_plan", "plan_item", "inspection", "work_plan", "inspection_target", "inspector", "team_member",
          "team_note", "unannounced_visit", "self_inspection", "problem", "problem_instance", "report", "feedback",
          "rectification_plan", "measure", "progress_update", "evidence", "signoff", "lookback_item", "audit_log",
          "deadline", "acceptance_chain", "stored_file")


async def fingerprint(db: Any) -> str:
    parts = []
    async with db.system_session() as s:
        for t in TABLES:
            parts.append((await s.execute(text(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"))).scalar_one())
    return ",".join(parts)


async def op(gql: Any, login: str, name: str, /, **variables: Any) -> Any:
    body = await gql(login, (OPS / f"{name}.graphql").read_text(encoding="utf-8"), variables)
    assert not body.get("errors"), (name, body["errors"])
    (value,) = body["data"].values()
    return value


def ok(v: dict[str, Any], typename: str) -> dict[str, Any]:
    assert v["__typename"] == typename, v
    return v


async def refused(gql: Any, db: Any, login: str, name: str, expected: str, path: list[str] | None = None, /,
                  **variables: Any) -> dict[str, Any]:
    """The attempt is the typed error `expected` (at `path` for a ValidationError) and changes nothing."""
    before = await fingerprint(db)
    v = await op(gql, login, name, **variables)
    assert v["__typename"] == expected, (name, login, v)
    assert v["code"] and v["message"]
    if path is not None:
        assert [f["path"] for f in v["fields"]] == [path], v
    assert await fingerprint(db) == before, f"{name} by {login} changed something"
    return v


async def _user(s: Any, login: str, name: str, agency: str, roles: list[str], agency_bound: bool) -> None:
    from ducha.tenants import directory
    from ducha.tenants.models import Agency

    if await directory.get_user_by_login(s, login) is not None:
        return
    a = (await s.execute(select(Agency).where(Agency.name == agency))).scalar_one()
    u = await directory.create_user(s, login=login, name=name, agency_id=a.id)
    for role in roles:
        await directory.grant_role(s, user=u, role=role, region_code=a.region_code, agency_bound=agency_bound)


@pytest.fixture(scope="module")
async def people(db: Any, demo: Any) -> dict[str, str]:
    """Users the demo lacks: 嘉鱼县委's liaison and head, a second 嘉鱼 team leader, a 郧西 town's pair."""
    async with db.system_session() as s:
        town = (await s.execute(text(
            "SELECT a.name FROM agency a JOIN tenant t ON t.id = a.tenant_id WHERE t.region_code = '420322'"
            " AND a.kind = 'town' ORDER BY a.id LIMIT 1"))).scalar_one()
        await _user(s, "audit.party", "县委联络员", "中共嘉鱼县委员会", ["agency_liaison"], True)
        await _user(s, "audit.party.head", "县委负责人", "中共嘉鱼县委员会", ["agency_leader"], True)
        await _user(s, "audit.tl2", "另一组长", "中共嘉鱼县委全面依法治县委员会办公室", ["inspector", "team_leader"], False)
        await _user(s, "audit.yx", "郧西镇联络员", town, ["agency_liaison"], True)
        await _user(s, "audit.yx.head", "郧西镇负责人", town, ["agency_leader"], True)
    return {"yunxi_town": town}


async def _started(gql: Any, db: Any, label: str, form: str, targets: list[str]) -> str:
    """An off-plan 嘉鱼 inspection approved and under way (team led by jiayu.inspector)."""
    J = await tenant_id(db, "421221")
    aids = await agency_ids(db, *targets)
    i = ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": f"督察{label}", "kind": "SPECIAL", "form": form, "year": 2026, "offPlanReason": "交办"}),
        "Inspection")["id"]
    ok(await op(gql, "jiayu.leader", "DecideOffPlanInspection", inspectionId=i, approve=True), "Inspection")
    ok(await op(gql, "jiayu.office", "AddInspectionTargets", inspectionId=i, agencyIds=aids), "Inspection")
    ok(await op(gql, "jiayu.office", "SaveWorkPlan", inspectionId=i, input={
        "project": label, "reason": "r", "legalBasis": "b", "methods": ["site_visits"]}), "Inspection")
    ok(await op(gql, "jiayu.office", "SubmitWorkPlan", inspectionId=i), "Inspection")
    ok(await op(gql, "jiayu.leader", "DecideWorkPlan", inspectionId=i, approve=True), "Inspection")
    lead = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name=f"组长{label}", category="OFFICE",
                       userLogin="jiayu.inspector"), "Inspector")
    ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=i, inspectorId=lead["id"], isLeader=True), "TeamMember")
    ok(await op(gql, "jiayu.office", "StartInspection", inspectionId=i), "Inspection")
    return i


async def _to_acceptance(gql: Any, db: Any, *, label: str, region_code: str, office: str, leader: str, committee: str,
                         team_leader: str, target: str, liaison: str, head: str) -> tuple[str, str, str]:
    """One problem at `target`, fed back, rectified, acceptance asked; returns (inspection, instance, measure)."""
    c = await run_cycle(gql, db, label=label, region_code=region_code, office=office, leader=leader,
                        committee=committee, team_leader=team_leader, targets=[target])
    fb = next(e["node"] for e in (await op(gql, liaison, "MyFeedback", first=100))["edges"]
              if e["node"]["inspection"]["title"] == f"督察{label}")
    inst = fb["problems"][0]["id"]
    due = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    rp = ok(await op(gql, liaison, "SaveRectificationPlan", feedbackId=fb["id"], measures=[
        {"instanceId": inst, "content": "措施", "responsiblePerson": "负责人", "dueOn": due}]), "RectificationPlan")
    ok(await op(gql, liaison, "SubmitRectificationPlan", planId=rp["id"]), "RectificationPlan")
    ok(await op(gql, head, "ApproveRectificationPlan", planId=rp["id"]), "RectificationPlan")
    ok(await op(gql, office, "DecideRectificationPlan", planId=rp["id"], accept=True), "RectificationPlan")
    measure = rp["measures"][0]["id"]
    ok(await op(gql, liaison, "ReportProgress", measureId=measure, body="完成", completes=True), "Measure")
    ok(await op(gql, liaison, "RequestAcceptance", instanceId=inst), "ProblemInstance")
    return c["inspection"], inst, measure


# --- plan and off-plan ------------------------------------------------------------------------


async def test_off_plan_inspection_waits_for_the_leader(gql, db, people):
    J = await tenant_id(db, "421221")
    XJ, = await agency_ids(db, "新街镇人民政府")
    i = ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": "计划外审计", "kind": "CASE", "form": "ONSITE", "year": 2026, "offPlanReason": "上级交办"}),
        "Inspection")["id"]
    ok(await op(gql, "jiayu.office", "AddInspectionTargets", inspectionId=i, agencyIds=[XJ]), "Inspection")
    ok(await op(gql, "jiayu.office", "SaveWorkPlan", inspectionId=i, input={
        "project": "p", "reason": "r", "legalBasis": "b", "methods": ["interviews"]}), "Inspection")
    ok(await op(gql, "jiayu.office", "SubmitWorkPlan", inspectionId=i), "Inspection")
    ok(await op(gql, "jiayu.leader", "DecideWorkPlan", inspectionId=i, approve=True), "Inspection")
    lead = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name="计划外组长", category="OFFICE",
                       userLogin="jiayu.inspector"), "Inspector")
    ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=i, inspectorId=lead["id"], isLeader=True), "TeamMember")
    v = await refused(gql, db, "jiayu.office", "StartInspection", "InvalidTransition", inspectionId=i)
    assert v["fromState"] == "off_plan_pending"
    await refused(gql, db, "jiayu.office", "DecideOffPlanInspection", "NotAllowed", inspectionId=i, approve=True)
    await refused(gql, db, "jiayu.inspector", "DecideOffPlanInspection", "NotAllowed", inspectionId=i, approve=True)  # team leader
    await refused(gql, db, "yunxi.office", "DecideOffPlanInspection", "NotFound", inspectionId=i, approve=True)
    ok(await op(gql, "jiayu.leader", "DecideOffPlanInspection", inspectionId=i, approve=True), "Inspection")
    await refused(gql, db, "jiayu.leader", "DecideOffPlanInspection", "InvalidTransition", inspectionId=i, approve=False)
    assert ok(await op(gql, "jiayu.office", "StartInspection", inspectionId=i), "Inspection")["status"] == "in_progress"

    # rejected: cancelled, and nothing more happens to it
    r = ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": "被否决的计划外督察", "kind": "MOBILE", "form": "WRITTEN", "year": 2026,
        "offPlanReason": "x"}), "Inspection")["id"]
    assert ok(await op(gql, "jiayu.leader", "DecideOffPlanInspection", inspectionId=r, approve=False), "Inspection")["status"] == "cancelled"
    await refused(gql, db, "jiayu.office", "SaveWorkPlan", "InvalidTransition", inspectionId=r, input={
        "project": "p", "reason": "r", "legalBasis": "b", "methods": []})
    await refused(gql, db, "jiayu.office", "AddInspectionTargets", "InvalidTransition", inspectionId=r, agencyIds=[XJ])


async def test_plan_rules(gql, db, people):
    J = await tenant_id(db, "421221")
    plan = ok(await op(gql, "jiayu.office", "CreateAnnualPlan", tenantId=J, year=2043, title="2043计划"), "AnnualPlan")
    item = ok(await op(gql, "jiayu.office", "AddPlanItem", planId=plan["id"], title="全面督察", kind="COMPREHENSIVE",
                       form="BOTH"), "PlanItem")
    await refused(gql, db, "jiayu.office", "AddPlanItem", "ValidationError", ["plannedMonth"], planId=plan["id"],
                  title="x", kind="SPECIAL", form="WRITTEN", plannedMonth=13)
    await refused(gql, db, "jiayu.office", "CreateInspection", "InvalidTransition", input={
        "tenantId": J, "title": "x", "kind": "COMPREHENSIVE", "form": "BOTH", "year": 2043, "planItemId": item["id"]})
    ok(await op(gql, "jiayu.office", "SubmitAnnualPlan", planId=plan["id"]), "AnnualPlan")
    await refused(gql, db, "jiayu.office", "AddPlanItem", "InvalidTransition", planId=plan["id"], title="x",
                  kind="SPECIAL", form="WRITTEN")
    await refused(gql, db, "jiayu.leader", "DecideAnnualPlan", "ValidationError", ["reason"], planId=plan["id"],
                  approve=False, reason="  ")
    await refused(gql, db, "jiayu.committee", "DecideAnnualPlan", "NotAllowed", planId=plan["id"], approve=True)
    ok(await op(gql, "jiayu.leader", "DecideAnnualPlan", planId=plan["id"], approve=True), "AnnualPlan")
    await refused(gql, db, "jiayu.leader", "DecideAnnualPlan", "InvalidTransition", planId=plan["id"], approve=False, reason="晚了")
    await refused(gql, db, "jiayu.office", "SubmitAnnualPlan", "InvalidTransition", planId=plan["id"])
    # an item of the 2043 plan starts a 2043 inspection, not one of another year
    await refused(gql, db, "jiayu.office", "CreateInspection", "ValidationError", ["year"], input={
        "tenantId": J, "title": "x", "kind": "COMPREHENSIVE", "form": "BOTH", "year": 2044, "planItemId": item["id"]})
    ok(await op(gql, "jiayu.office", "CreateInspection", input={
        "tenantId": J, "title": "2043全面督察", "kind": "COMPREHENSIVE", "form": "BOTH", "year": 2043,
        "planItemId": item["id"]}), "Inspection")


# --- pool and team ------------------------------------------------------------------------------


async def test_team_rules(gql, db, people):
    J = await tenant_id(db, "421221")
    i = await _started(gql, db, "组队规则", "ONSITE", ["新街镇人民政府"])
    await refused(gql, db, "jiayu.office", "AddInspector", "ValidationError", ["termEnd"], tenantId=J, name="x",
                  category="MEDIATOR", termStart="2025-01-01", termEnd="2024-01-01")
    old = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name="任期已满", category="DEPUTY_OR_MEMBER",
                      termStart="2015-01-01", termEnd="2020-12-31"), "Inspector")
    await refused(gql, db, "jiayu.office", "AddTeamMember", "ValidationError", ["inspectorId"], inspectionId=i,
                  inspectorId=old["id"])
    other = ok(await op(gql, "jiayu.office", "AddInspector", tenantId=J, name="第二组长", category="LEGAL"), "Inspector")
    await refused(gql, db, "jiayu.office", "AddTeamMember", "Conflict", inspectionId=i, inspectorId=other["id"], isLeader=True)
    await refused(gql, db, "jiayu.office", "AddTeamMember", "ValidationError", ["isLeader"], inspectionId=i,
                  invitedName="记者", invitedCategory="JOURNALIST", isLeader=True)
    await refused(gql, db, "jiayu.office", "AddTeamMember", "ValidationError", ["invitedCategory"], inspectionId=i,
                  invitedName="无类别")
    await refused(gql, db, "jiayu.xinjie", "AddTeamMember", "NotAllowed", inspectionId=i, inspectorId=other["id"])
    await refused(gql, db, "yunxi.office", "AddTeamMember", "NotFound", inspectionId=i, inspectorId=other["id"])
    member = ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=i, inspectorId=other["id"]), "TeamMember")
    invited = ok(await op(gql, "jiayu.office", "AddTeamMember", inspectionId=i, invitedName="记者",
                          invitedCategory="JOURNALIST"), "TeamMember")
    team = ok(await op(gql, "jiayu.office", "InspectionDetail", id=i), "Inspection")["team"]
    leader = next(m["id"] for m in team if m["isLeader"])
    visit = {"inspectionId": i, "place": "执法大厅", "plannedOn": "2026-06-01"}
    # 暗访: the team's staff (from the pool), two at least; an invited journalist is not staff
    await refused(gql, db, "jiayu.inspector", "RecordUnannouncedVisit", "ValidationError", ["staffMemberIds", "1"],
                  staffMemberIds=[leader, invited["id"]], **visit)
    await refused(gql, db, "jiayu.inspector", "RecordUnannouncedVisit", "ValidationError", ["staffMemberIds"],
                  staffMemberIds=[leader, leader], **visit)
    await refused(gql, db, "jiayu.inspector", "RecordUnannouncedVisit", "ValidationError", ["staffMemberIds", "1"],
                  staffMemberIds=[leader, "999999"], **visit)
    await refused(gql, db, "audit.tl2", "RecordUnannouncedVisit", "NotAllowed", staffMemberIds=[leader, member["id"]], **visit)
    ok(await op(gql, "jiayu.inspector", "RecordUnannouncedVisit", staffMemberIds=[leader, member["id"]], **visit),
       "UnannouncedVisit")


# --- self-inspection ---------------------------------------------------------------------------------


async def test_self_inspection_rules(gql, db, people):
    onsite = await _started(gql, db, "实地不自查", "ONSITE", ["新街镇人民政府"])
    await refused(gql, db, "jiayu.office", "RequestSelfInspections", "InvalidTransition", inspectionId=onsite, workingDays=5)
    i = await _started(gql, db, "书面自查规则", "WRITTEN", ["新街镇人民政府", "嘉鱼县人民法院"])
    await refused(gql, db, "jiayu.office", "RequestSelfInspections", "ValidationError", ["workingDays"], inspectionId=i,
                  workingDays=0)
    await refused(gql, db, "jiayu.xinjie", "RequestSelfInspections", "NotAllowed", inspectionId=i, workingDays=5)
    d = ok(await op(gql, "jiayu.office", "RequestSelfInspections", inspectionId=i, workingDays=5, today="2025-03-03"),
           "Inspection")
    si = next(s for s in d["selfInspections"] if s["agency"]["name"] == "新街镇人民政府")
    assert si["dueOn"] == "2025-03-10"
    # the target sees its own request only; not the court's
    mine = ok(await op(gql, "jiayu.xinjie", "InspectionDetail", id=i), "Inspection")["selfInspections"]
    assert [s["id"] for s in mine] == [si["id"]]
    args = {"selfInspectionId": si["id"], "content": "自查报告"}
    # the office may not submit the unit's own report; a peer unit cannot reach it
    await refused(gql, db, "jiayu.office", "SubmitSelfInspection", "NotAllowed", **args)
    await refused(gql, db, "jiayu.court", "SubmitSelfInspection", "NotFound", **args)
    await refused(gql, db, "jiayu.xinjie", "SubmitSelfInspection", "ValidationError", ["content"], **{**args, "content": " "})
    await refused(gql, db, "jiayu.xinjie", "SubmitSelfInspection", "ValidationError", ["files", "0", "contentBase64"],
                  files=[{"name": "a.pdf", "contentType": "application/pdf", "contentBase64": "%%"}], **args)
    await refused(gql, db, "jiayu.xinjie", "SubmitSelfInspection", "ValidationError", None,
                  files=[{"name": "a.pdf", "contentType": "application/pdf",
                          "contentBase64": base64.b64encode(b"not a pdf at all").decode()}], **args)
    # lateness is the server's: a submitter's `today` (deprecated) cannot make a late report timely
    doc = ("mutation($s: ID!) { submitSelfInspection(selfInspectionId: $s, content: \"自查\", today: \"2025-03-04\") "
           "{ __typename ... on SelfInspection { late } ... on UserError { code message } } }")
    body = await gql("jiayu.xinjie", doc, {"s": si["id"]})
    assert body["data"]["submitSelfInspection"] == {"__typename": "SelfInspection", "late": True}
    await refused(gql, db, "jiayu.xinjie", "SubmitSelfInspection", "InvalidTransition", **args)


# --- rectification and acceptance ----------------------------------------------------------------------


async def test_rectification_plan_rules(gql, db, people):
    c = await run_cycle(gql, db, label="整改规则", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector", targets=["新街镇人民政府"])
    fb = next(e["node"] for e in (await op(gql, "jiayu.xinjie", "MyFeedback", first=100))["edges"]
              if e["node"]["inspection"]["title"] == "督察整改规则")
    inst = fb["problems"][0]["id"]
    late = (dt.date.fromisoformat(fb["noticeDueOn"]) + dt.timedelta(days=1)).isoformat()
    m = {"instanceId": inst, "content": "措施", "responsiblePerson": "黄海", "dueOn": fb["noticeDueOn"]}
    await refused(gql, db, "jiayu.xinjie", "SaveRectificationPlan", "ValidationError", ["measures", "0", "dueOn"],
                  feedbackId=fb["id"], measures=[{**m, "dueOn": late}])
    await refused(gql, db, "jiayu.xinjie", "SaveRectificationPlan", "ValidationError", ["measures", "0", "responsiblePerson"],
                  feedbackId=fb["id"], measures=[{**m, "responsiblePerson": ""}])
    await refused(gql, db, "jiayu.xinjie", "SaveRectificationPlan", "ValidationError", ["measures", "0", "instanceId"],
                  feedbackId=fb["id"], measures=[{**m, "instanceId": "999999"}])
    await refused(gql, db, "yunxi.office", "SaveRectificationPlan", "NotFound", feedbackId=fb["id"], measures=[m])
    rp = ok(await op(gql, "jiayu.xinjie", "SaveRectificationPlan", feedbackId=fb["id"], measures=[m]), "RectificationPlan")
    await refused(gql, db, "jiayu.xinjie.head", "ApproveRectificationPlan", "InvalidTransition", planId=rp["id"])
    await refused(gql, db, "jiayu.office", "SubmitRectificationPlan", "NotAllowed", planId=rp["id"])
    ok(await op(gql, "jiayu.xinjie", "SubmitRectificationPlan", planId=rp["id"]), "RectificationPlan")
    await refused(gql, db, "jiayu.xinjie", "SaveRectificationPlan", "InvalidTransition", feedbackId=fb["id"], measures=[m])
    await refused(gql, db, "jiayu.office", "DecideRectificationPlan", "InvalidTransition", planId=rp["id"], accept=True)
    await refused(gql, db, "jiayu.office", "ApproveRectificationPlan", "NotAllowed", planId=rp["id"])
    ok(await op(gql, "jiayu.xinjie.head", "ApproveRectificationPlan", planId=rp["id"]), "RectificationPlan")
    await refused(gql, db, "jiayu.xinjie.head", "DecideRectificationPlan", "NotAllowed", planId=rp["id"], accept=True)
    await refused(gql, db, "jiayu.office", "DecideRectificationPlan", "ValidationError", ["reason"], planId=rp["id"], accept=False)
    ok(await op(gql, "jiayu.office", "DecideRectificationPlan", planId=rp["id"], accept=True), "RectificationPlan")
    await refused(gql, db, "jiayu.office", "DecideRectificationPlan", "InvalidTransition", planId=rp["id"], accept=True)
    measure = rp["measures"][0]["id"]
    await refused(gql, db, "jiayu.court", "ReportProgress", "NotFound", measureId=measure, body="x")
    ok(await op(gql, "jiayu.xinjie", "ReportProgress", measureId=measure, body="完成", completes=True), "Measure")
    await refused(gql, db, "jiayu.xinjie", "ReportProgress", "InvalidTransition", measureId=measure, body="again")
    await refused(gql, db, "jiayu.office", "RequestAcceptance", "NotAllowed", instanceId=inst)
    assert c


async def test_team_acceptance_is_signed_by_this_teams_leader(gql, db, people):
    _, inst, _ = await _to_acceptance(gql, db, label="本组验收", region_code="421221", office="jiayu.office",
                                      leader="jiayu.leader", committee="jiayu.committee", team_leader="jiayu.inspector",
                                      target="新街镇人民政府", liaison="jiayu.xinjie", head="jiayu.xinjie.head")
    sign = {"instanceId": inst, "round": 1, "comment": "ok"}
    await refused(gql, db, "jiayu.xinjie", "SignAcceptance", "NotAllowed", step=0, decision="PASS", **sign)  # the head signs
    await refused(gql, db, "jiayu.xinjie.head", "SignAcceptance", "ValidationError", ["decision"], step=0, decision="MAYBE", **sign)
    await refused(gql, db, "jiayu.xinjie.head", "SignAcceptance", "ValidationError", ["comment"], step=0, decision="REJECT",
                  **{**sign, "comment": ""})
    await refused(gql, db, "jiayu.xinjie.head", "SignAcceptance", "Conflict", step=1, decision="PASS", **sign)
    ok(await op(gql, "jiayu.xinjie.head", "SignAcceptance", step=0, decision="PASS", **sign), "AcceptanceSigned")
    await refused(gql, db, "jiayu.xinjie.head", "SignAcceptance", "Conflict", step=0, decision="PASS", **sign)
    await refused(gql, db, "audit.tl2", "SignAcceptance", "NotAllowed", step=1, decision="PASS", **sign)  # another team's
    await refused(gql, db, "jiayu.committee", "SignAcceptance", "NotAllowed", step=1, decision="PASS", **sign)
    ok(await op(gql, "jiayu.inspector", "SignAcceptance", step=1, decision="PASS", **sign), "AcceptanceSigned")
    await refused(gql, db, "jiayu.leader", "SignAcceptance", "NotAllowed", step=2, decision="PASS", **sign)
    d = ok(await op(gql, "jiayu.committee", "SignAcceptance", step=2, decision="PASS", **sign), "AcceptanceSigned")
    assert d["instance"]["status"] == "closed"
    await refused(gql, db, "jiayu.committee", "SignAcceptance", "InvalidTransition", step=2, decision="PASS", **sign)
    await refused(gql, db, "jiayu.xinjie", "RequestAcceptance", "InvalidTransition", instanceId=inst)


async def test_the_chain_is_configured_per_tenant_and_a_round_keeps_its_chain(gql, db, people):
    Y = await tenant_id(db, "420322")
    J = await tenant_id(db, "421221")
    two = [{"name": "self_check", "label": "单位自查", "role": "agency_leader", "side": "target"},
           {"name": "office_acceptance", "label": "县法治办验收", "role": "office_leader", "side": "office"}]
    three = [two[0], {"name": "team_acceptance", "label": "督察组验收", "role": "team_leader", "side": "office"}, two[1]]
    await refused(gql, db, "jiayu.office", "SetAcceptanceChain", "NotAllowed", tenantId=J, steps=two)  # staff, not leader
    await refused(gql, db, "jiayu.leader", "SetAcceptanceChain", "NotFound", tenantId=Y, steps=two)  # a peer county
    await refused(gql, db, "audit.yx.head", "SetAcceptanceChain", "NotAllowed", tenantId=Y, steps=two)
    await refused(gql, db, "yunxi.office", "SetAcceptanceChain", "ValidationError", ["steps", "0", "role"], tenantId=Y,
                  steps=[{**two[0], "role": "mayor"}, two[1]])
    await refused(gql, db, "yunxi.office", "SetAcceptanceChain", "ValidationError", ["steps", "0", "role"], tenantId=Y,
                  steps=[{**two[0], "role": "committee_member"}, two[1]])
    await refused(gql, db, "yunxi.office", "SetAcceptanceChain", "ValidationError", ["steps", "1", "name"], tenantId=Y,
                  steps=[two[0], {**two[1], "name": "self_check"}])
    await refused(gql, db, "yunxi.office", "SetAcceptanceChain", "ValidationError", ["steps", "1", "side"], tenantId=Y,
                  steps=[two[1], two[0]])
    await refused(gql, db, "yunxi.office", "SetAcceptanceChain", "ValidationError", ["steps"], tenantId=Y, steps=[])
    try:
        ok(await op(gql, "yunxi.office", "SetAcceptanceChain", tenantId=Y, steps=two), "AcceptanceChainSteps")
        _, inst, measure = await _to_acceptance(
            gql, db, label="郧西验收链", region_code="420322", office="yunxi.office", leader="yunxi.office",
            committee="hubei.office", team_leader="yunxi.inspector", target=people["yunxi_town"], liaison="audit.yx",
            head="audit.yx.head")
        d = ok(await op(gql, "yunxi.office", "ProblemDetail", id=inst), "ProblemInstance")
        assert [s["name"] for s in d["acceptanceSteps"]] == ["self_check", "office_acceptance"]
        # the unit reads the office's chain too (it asked for acceptance under it)
        d = ok(await op(gql, "audit.yx", "ProblemDetail", id=inst), "ProblemInstance")
        assert [s["name"] for s in d["acceptanceSteps"]] == ["self_check", "office_acceptance"]
        trail = await op(gql, "yunxi.office", "AuditTrail", subjectType="acceptance_chain", subjectId=Y)
        assert [a["action"] for a in trail] == ["acceptance.chain.set"] and trail[0]["after"]["steps"] == two
        # the tenant changes its chain mid-round: this round keeps its two steps
        ok(await op(gql, "yunxi.office", "SetAcceptanceChain", tenantId=Y, steps=three), "AcceptanceChainSteps")
        sign = {"instanceId": inst, "round": 1, "comment": "ok"}
        ok(await op(gql, "audit.yx.head", "SignAcceptance", step=0, decision="PASS", **sign), "AcceptanceSigned")
        await refused(gql, db, "yunxi.inspector", "SignAcceptance", "NotAllowed", step=1, decision="PASS", **sign)
        d = ok(await op(gql, "yunxi.office", "SignAcceptance", step=1, decision="REJECT", **{**sign, "comment": "不合格"}),
               "AcceptanceSigned")
        assert d["instance"]["status"] == "rectifying"
        # the next round starts with the chain now configured
        ok(await op(gql, "audit.yx", "ReportProgress", measureId=measure, body="再次完成", completes=True), "Measure")
        d = ok(await op(gql, "audit.yx", "RequestAcceptance", instanceId=inst), "ProblemInstance")
        assert [s["name"] for s in d["acceptanceSteps"]] == ["self_check", "team_acceptance", "office_acceptance"]
        for login, step in (("audit.yx.head", 0), ("yunxi.inspector", 1), ("yunxi.office", 2)):
            d = ok(await op(gql, login, "SignAcceptance", instanceId=inst, round=2, step=step, decision="PASS",
                            comment="同意"), "AcceptanceSigned")
        assert d["instance"]["status"] == "closed"
    finally:
        async with db.system_session() as s:
            await s.execute(text("DELETE FROM acceptance_chain WHERE tenant_id = :t"), {"t": int(Y)})


async def test_level_by_level_the_city_accepts_the_countys_rectification(gql, db, people):
    """咸宁市 inspects 嘉鱼县's party committee: the unit signs its self-check, 咸宁市 signs the rest."""
    _, inst, _ = await _to_acceptance(
        gql, db, label="审计逐级", region_code="421200", office="xianning.office", leader="xianning.office",
        committee="hubei.office", team_leader="xianning.inspector", target="中共嘉鱼县委员会", liaison="audit.party",
        head="audit.party.head")
    # the county office sees its unit's problem (a higher office's item addressed to it); a peer does not
    d = ok(await op(gql, "jiayu.office", "ProblemDetail", id=inst), "ProblemInstance")
    assert d["status"] == "in_acceptance"
    assert ok(await op(gql, "xianning.office", "ProblemDetail", id=inst), "ProblemInstance")["id"] == inst
    assert (await op(gql, "yunxi.office", "ProblemDetail", id=inst))["__typename"] == "NotFound"
    sign = {"instanceId": inst, "round": 1, "comment": "ok"}
    await refused(gql, db, "jiayu.xinjie.head", "SignAcceptance", "NotFound", step=0, decision="PASS", **sign)
    ok(await op(gql, "audit.party.head", "SignAcceptance", step=0, decision="PASS", **sign), "AcceptanceSigned")
    for login in ("jiayu.inspector", "jiayu.leader", "jiayu.committee", "audit.party.head"):
        await refused(gql, db, login, "SignAcceptance", "NotAllowed", step=1, decision="PASS", **sign)
    ok(await op(gql, "xianning.inspector", "SignAcceptance", step=1, decision="PASS", **sign), "AcceptanceSigned")
    await refused(gql, db, "jiayu.committee", "SignAcceptance", "NotAllowed", step=2, decision="PASS", **sign)
    d = ok(await op(gql, "hubei.office", "SignAcceptance", step=2, decision="PASS", **sign), "AcceptanceSigned")
    assert d["instance"]["status"] == "closed"


# --- who sees what ------------------------------------------------------------------------------------------


async def test_peers_never_see_each_other_and_the_city_sees_its_counties(gql, db, people):
    c = await run_cycle(gql, db, label="同级隔离", region_code="421221", office="jiayu.office", leader="jiayu.leader",
                        committee="jiayu.committee", team_leader="jiayu.inspector",
                        targets=["新街镇人民政府", "嘉鱼县人民法院"])
    I = c["inspection"]
    rows = (await op(gql, "jiayu.office", "ProblemList", first=100, filter={"inspectionId": I}))["edges"]
    by_unit = {e["node"]["agency"]["name"]: e["node"]["id"] for e in rows}
    assert set(by_unit) == {"新街镇人民政府", "嘉鱼县人民法院"}  # one common problem, an instance per unit
    xj, court = by_unit["新街镇人民政府"], by_unit["嘉鱼县人民法院"]
    for login, expected in (("jiayu.xinjie", {xj}), ("jiayu.xinjie.head", {xj}), ("xianning.office", {xj, court}),
                            ("hubei.justice", {xj, court}), ("yunxi.office", set()), ("shiyan.office", set())):
        rows = (await op(gql, login, "ProblemList", first=100, filter={"inspectionId": I}))["edges"]
        assert {e["node"]["id"] for e in rows} == expected, login
    assert (await op(gql, "jiayu.xinjie", "ProblemDetail", id=court))["__typename"] == "NotFound"
    assert (await op(gql, "yunxi.office", "ProblemDetail", id=xj))["__typename"] == "NotFound"
    assert (await op(gql, "yunxi.office", "InspectionDetail", id=I))["__typename"] == "NotFound"
    # the city sees the county's internals; the target none of them, by any path
    city = ok(await op(gql, "xianning.office", "InspectionDetail", id=I), "Inspection")
    assert city["workPlan"] and city["team"] and city["notes"] and city["unannouncedVisits"] and city["report"]
    target = ok(await op(gql, "jiayu.xinjie", "InspectionDetail", id=I), "Inspection")
    assert (target["workPlan"], target["team"], target["notes"], target["unannouncedVisits"], target["report"]) == (
        None, [], [], [], None)
    assert [f["agency"]["name"] for f in target["feedback"]] == ["新街镇人民政府"]
    assert [t["name"] for t in target["targets"]] == ["新街镇人民政府"]
    async with db.system_session() as s:
        visit = (await s.execute(text("SELECT id FROM unannounced_visit WHERE inspection_id = :i"), {"i": int(I)})).scalar_one()
    for subject, sid in (("unannounced_visit", visit), ("report", I), ("inspection", I)):
        assert await op(gql, "jiayu.xinjie", "AuditTrail", subjectType=subject, subjectId=str(sid)) == []
        assert await op(gql, "jiayu.office", "AuditTrail", subjectType=subject, subjectId=str(sid)) != []
    d = await op(gql, "jiayu.xinjie", "Inspections", first=100, filter={"year": 2025})
    assert I in {e["node"]["id"] for e in d["edges"]}
    node = next(e["node"] for e in d["edges"] if e["node"]["id"] == I)
    assert [t["name"] for t in node["targets"]] == ["新街镇人民政府"]
