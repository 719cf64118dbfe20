"""Build inspection-cycle data through GraphQL, as the offices would, for tests that need it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

E = "... on UserError { code message }"


def _ok(d: dict[str, Any], field: str) -> dict[str, Any]:
    v = d[field]
    assert "code" not in v, v
    return v


async def agency_ids(db, *names: str) -> list[str]:
    async with db.system_session() as s:
        rows = dict((await s.execute(text("SELECT name, id FROM agency WHERE name = ANY(:n)"), {"n": list(names)})).all())
    return [str(rows[n]) for n in names]


async def tenant_id(db, region_code: str) -> str:
    async with db.system_session() as s:
        return str((await s.execute(text("SELECT id FROM tenant WHERE region_code = :c"), {"c": region_code})).scalar_one())


async def run_cycle(gql, db, *, label: str, region_code: str, office: str, leader: str, committee: str,
                    team_leader: str, targets: list[str], fed_back: bool = True) -> dict[str, str]:
    """An off-plan inspection by `office` of `targets` up to feedback, every text carrying `label`."""
    t = await tenant_id(db, region_code)
    aids = await agency_ids(db, *targets)
    d = await gql.data(office, f"""mutation {{ createInspection(input: {{tenantId: "{t}", title: "督察{label}", kind: SPECIAL,
        form: ONSITE, year: 2025, offPlanReason: "上级交办{label}", focusArea: "重点{label}"}}) {{ ... on Inspection {{ id }} {E} }} }}""")
    i = _ok(d, "createInspection")["id"]
    await gql.data(leader, f'mutation {{ decideOffPlanInspection(inspectionId: "{i}", approve: true) {{ __typename }} }}')
    q = "mutation($i: ID!, $a: [ID!]!) { addInspectionTargets(inspectionId: $i, agencyIds: $a) { __typename " + E + " } }"
    _ok(await gql.data(office, q, {"i": i, "a": aids}), "addInspectionTargets")
    _ok(await gql.data(office, f"""mutation {{ saveWorkPlan(inspectionId: "{i}", input: {{project: "方案{label}", reason: "理由{label}",
        legalBasis: "依据{label}", methods: ["site_visits"]}}) {{ __typename {E} }} }}"""), "saveWorkPlan")
    _ok(await gql.data(office, f'mutation {{ submitWorkPlan(inspectionId: "{i}") {{ __typename {E} }} }}'), "submitWorkPlan")
    _ok(await gql.data(leader, f'mutation {{ decideWorkPlan(inspectionId: "{i}", approve: true) {{ __typename {E} }} }}'), "decideWorkPlan")
    d = await gql.data(office, f"""mutation {{ a: addInspector(tenantId: "{t}", name: "组长{label}", category: OFFICE, userLogin: "{team_leader}")
        {{ ... on Inspector {{ id }} {E} }} b: addInspector(tenantId: "{t}", name: "组员{label}", category: LEGAL) {{ ... on Inspector {{ id }} {E} }} }}""")
    la, lb = _ok(d, "a")["id"], _ok(d, "b")["id"]
    d = await gql.data(office, f"""mutation {{ l: addTeamMember(inspectionId: "{i}", inspectorId: "{la}", isLeader: true) {{ ... on TeamMember {{ id }} {E} }}
        m: addTeamMember(inspectionId: "{i}", inspectorId: "{lb}") {{ ... on TeamMember {{ id }} {E} }} }}""")
    staff = [_ok(d, "l")["id"], _ok(d, "m")["id"]]
    _ok(await gql.data(office, f'mutation {{ startInspection(inspectionId: "{i}") {{ __typename {E} }} }}'), "startInspection")
    q = "mutation($i: ID!, $s: [ID!]!, $p: String!) { recordUnannouncedVisit(inspectionId: $i, place: $p, plannedOn: \"2025-05-06\", staffMemberIds: $s, record: $p) { __typename " + E + " } }"
    _ok(await gql.data(team_leader, q, {"i": i, "s": staff, "p": f"暗访{label}"}), "recordUnannouncedVisit")
    _ok(await gql.data(office, f'mutation {{ addTeamNote(inspectionId: "{i}", body: "内部{label}") {{ __typename {E} }} }}'), "addTeamNote")
    q = ("mutation($i: ID!, $a: [ID!]!, $t: String!) { recordProblem(input: {inspectionId: $i, title: $t, description: $t, "
         "category: ENFORCEMENT, source: INSPECTION, severity: GENERAL, agencyIds: $a}) { ... on ProblemRecorded { instances { id } } " + E + " } }")
    _ok(await gql.data(office, q, {"i": i, "a": aids, "t": f"问题{label}"}), "recordProblem")
    _ok(await gql.data(office, f'mutation {{ saveReportDraft(inspectionId: "{i}", body: "报告{label}") {{ __typename {E} }} }}'), "saveReportDraft")
    _ok(await gql.data(office, f'mutation {{ submitReport(inspectionId: "{i}") {{ __typename {E} }} }}'), "submitReport")
    _ok(await gql.data(leader, f'mutation {{ approveReport(inspectionId: "{i}", level: "OFFICE") {{ __typename {E} }} }}'), "approveReport")
    _ok(await gql.data(committee, f'mutation {{ approveReport(inspectionId: "{i}", level: "COMMITTEE") {{ __typename {E} }} }}'), "approveReport")
    if fed_back:
        for a in aids:
            _ok(await gql.data(office, f"""mutation {{ issueFeedback(inspectionId: "{i}", agencyId: "{a}", noticeRequired: true,
                noticeWorkingDays: 20, summary: "反馈{label}") {{ __typename {E} }} }}"""), "issueFeedback")
    return {"inspection": i, "tenant": t}
