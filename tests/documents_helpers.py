"""Build what the document and export tests need through GraphQL, as the offices would: a
2024 comprehensive inspection of 嘉鱼县 units with common and individual problems, fed back."""

from __future__ import annotations

import io
import re
from typing import Any

from tests.cycle_helpers import agency_ids, tenant_id

E = "... on UserError { code message }"
NUMBER = re.compile(r"^(?P<prefix>[\u4e00-\u9fff]+)〔(?P<year>\d{4})〕(?P<seq>[1-9]\d*)号$")


def ok(d: dict[str, Any], field: str) -> dict[str, Any]:
    v = d[field]
    assert "code" not in v, v
    return v


async def build_inspection(gql, db, *, label: str, year: int = 2024, office: str = "jiayu.office",
                           leader: str = "jiayu.leader", committee: str = "jiayu.committee",
                           team_leader: str = "jiayu.inspector", region_code: str = "421221",
                           common: list[tuple[str, str, list[str]]], individual: list[tuple[str, str, str]],
                           feedback: bool = True) -> dict[str, Any]:
    """A comprehensive inspection (both forms) of the units named in the problems, run to feedback."""
    t = await tenant_id(db, region_code)
    units = list(dict.fromkeys([u for _, _, us in common for u in us] + [u for _, _, u in individual]))
    ids = dict(zip(units, await agency_ids(db, *units), strict=True))
    d = await gql.data(office, f"""mutation {{ createInspection(input: {{tenantId: "{t}", title: "{year}年度法治建设综合督察{label}",
        kind: COMPREHENSIVE, form: BOTH, year: {year}, offPlanReason: "县委交办", focusArea: "法治化营商环境",
        startsOn: "{year}-08-05", endsOn: "{year}-09-13"}}) {{ ... on Inspection {{ id }} {E} }} }}""")
    i = ok(d, "createInspection")["id"]
    await gql.data(leader, f'mutation {{ decideOffPlanInspection(inspectionId: "{i}", approve: true) {{ __typename }} }}')
    q = "mutation($i: ID!, $a: [ID!]!) { addInspectionTargets(inspectionId: $i, agencyIds: $a) { __typename " + E + " } }"
    ok(await gql.data(office, q, {"i": i, "a": list(ids.values())}), "addInspectionTargets")
    ok(await gql.data(office, f"""mutation {{ saveWorkPlan(inspectionId: "{i}", input: {{project: "综合督察", reason: "年度计划",
        legalBasis: "督察工作实施办法", methods: ["hear_reports", "review_files"]}}) {{ __typename {E} }} }}"""), "saveWorkPlan")
    ok(await gql.data(office, f'mutation {{ submitWorkPlan(inspectionId: "{i}") {{ __typename {E} }} }}'), "submitWorkPlan")
    ok(await gql.data(leader, f'mutation {{ decideWorkPlan(inspectionId: "{i}", approve: true) {{ __typename {E} }} }}'),
       "decideWorkPlan")
    d = await gql.data(office, f"""mutation {{ a: addInspector(tenantId: "{t}", name: "组长{label}", category: OFFICE,
        userLogin: "{team_leader}") {{ ... on Inspector {{ id }} {E} }} }}""")
    ok(await gql.data(office, f"""mutation {{ addTeamMember(inspectionId: "{i}", inspectorId: "{ok(d, 'a')['id']}",
        isLeader: true) {{ __typename {E} }} }}"""), "addTeamMember")
    ok(await gql.data(office, f'mutation {{ startInspection(inspectionId: "{i}") {{ __typename {E} }} }}'), "startInspection")
    rec = ("mutation($i: ID!, $a: [ID!]!, $t: String!, $c: ProblemCategory!, $s: Severity!) { recordProblem(input: "
           "{inspectionId: $i, title: $t, description: $t, category: $c, source: INSPECTION, severity: $s, agencyIds: $a})"
           " { ... on ProblemRecorded { instances { id } } " + E + " } }")
    for title, cat, us in common:
        ok(await gql.data(office, rec, {"i": i, "a": [ids[u] for u in us], "t": title, "c": cat, "s": "GENERAL"}),
           "recordProblem")
    for title, cat, u in individual:
        ok(await gql.data(office, rec, {"i": i, "a": [ids[u]], "t": title, "c": cat, "s": "MAJOR"}), "recordProblem")
    ok(await gql.data(office, f'mutation {{ saveReportDraft(inspectionId: "{i}", body: "一、基本情况\\n督察报告{label}。\\n'
                              f'二、主要问题\\n（一）共性问题。略。") {{ __typename {E} }} }}'), "saveReportDraft")
    ok(await gql.data(office, f'mutation {{ submitReport(inspectionId: "{i}") {{ __typename {E} }} }}'), "submitReport")
    ok(await gql.data(leader, f'mutation {{ approveReport(inspectionId: "{i}", level: "OFFICE") {{ __typename {E} }} }}'),
       "approveReport")
    ok(await gql.data(committee, f'mutation {{ approveReport(inspectionId: "{i}", level: "COMMITTEE") {{ __typename {E} }} }}'),
       "approveReport")
    feedbacks: dict[str, str] = {}
    if feedback:
        for u, a in ids.items():
            d = await gql.data(office, f"""mutation {{ issueFeedback(inspectionId: "{i}", agencyId: "{a}", noticeRequired: true,
                noticeWorkingDays: 20, summary: "反馈{label}") {{ __typename ... on Feedback {{ id }} {E} }} }}""")
            feedbacks[u] = ok(d, "issueFeedback")["id"]
    return {"inspection": i, "tenant": t, "agencies": ids, "feedbacks": feedbacks}


ISSUE = ("mutation($i: IssueDocumentInput!) { issueDocument(input: $i) { __typename ... on Document { id kind number "
         "year seq title recipients issuedOn sha256 sizeBytes customTemplate canDownload downloadUrl agency { name } } "
         + E + " } }")


async def issue(gql, login: str, kind: str, subject_id: str, **extra: Any) -> dict[str, Any]:
    return (await gql.data(login, ISSUE, {"i": {"kind": kind, "subjectId": subject_id, **extra}}))["issueDocument"]


async def fetch(client, url: str, *, status: int = 200) -> bytes:
    r = await client.get(url)
    assert r.status_code == status, (r.status_code, r.text[:300])
    return r.content


def docx(data: bytes):  # type: ignore[no-untyped-def]
    from docx import Document

    return Document(io.BytesIO(data))


def all_text(doc) -> str:  # type: ignore[no-untyped-def]
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            parts += [c.text for c in row.cells]
    return "\n".join(parts)


async def drain_outbox(db) -> int:  # type: ignore[no-untyped-def]
    """Run every pending outbox job as the worker would, so that what these tests queued (rung
    letters, exports) does not wait for a later module's worker; returns how many ran."""
    from sqlalchemy import text

    from ducha.workers import jobs

    async with db.system_session() as s:
        rows = (await s.execute(text("SELECT tenant_id, id FROM outbox WHERE done_at IS NULL AND dead_at IS NULL"
                                     " ORDER BY created_at"))).all()
    ran = 0
    for r in rows:
        try:
            ran += await jobs.run_job(db, r.tenant_id, r.id) == "done"
        except Exception:  # noqa: BLE001 - a failing job is retried by the worker; not this module's to judge
            pass
    return ran
