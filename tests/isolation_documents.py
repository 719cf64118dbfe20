"""Document and export canaries for tests/test_isolation.py: each office of the cycle canaries
(甲 嘉鱼县 → 新街镇, 乙 咸宁市 → 中共嘉鱼县委员会, 丙 郧西县 → its court) issues a bulletin, an
inspection report and the rectification notices of its feedback, and asks for a ledger
export; the walk reads every document and export query field as each user."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.documents_helpers import drain_outbox

DOC_FORBIDDEN = {
    "jiayu.office": ["通报乙", "通报丙", "整改通知丙", "导出乙", "导出丙", "报告文书乙", "报告文书丙"],
    "jiayu.xinjie": ["通报甲", "通报乙", "通报丙", "整改通知乙", "整改通知丙", "导出甲", "导出乙", "导出丙", "报告文书甲"],
    "jiayu.court": ["通报甲", "整改通知甲", "整改通知乙", "导出甲", "报告文书甲"],
    "xianning.office": ["通报丙", "整改通知丙", "导出丙", "报告文书丙"],
    "yunxi.office": ["通报甲", "通报乙", "整改通知甲", "整改通知乙", "导出甲", "导出乙", "报告文书甲"],
    "shiyan.office": ["通报甲", "通报乙", "整改通知甲", "导出甲", "导出乙"],
}
DOC_REQUIRED = {
    "jiayu.office": ["通报甲", "整改通知甲", "整改通知乙", "导出甲", "报告文书甲"],
    "jiayu.xinjie": ["整改通知甲"],
    "xianning.office": ["通报甲", "通报乙", "整改通知乙", "导出甲", "导出乙", "报告文书乙"],
    "yunxi.office": ["通报丙", "整改通知丙", "导出丙", "报告文书丙"],
    "shiyan.office": ["通报丙", "导出丙"],
    "hubei.justice": ["通报甲", "通报乙", "通报丙", "导出甲", "导出乙", "导出丙"],
}
OFFICES = {"甲": ("jiayu.office", "421221"), "乙": ("xianning.office", "421200"), "丙": ("yunxi.office", "420322")}
DOC_IDS: list[str] = []
EXPORT_IDS: list[str] = []

ISSUE = ("mutation($i: IssueDocumentInput!) { issueDocument(input: $i) { __typename ... on Document { id } "
         "... on UserError { code message } } }")
REQUEST = ("mutation($i: RequestExportInput!) { requestExport(input: $i) { __typename ... on ExportJob { id } "
           "... on UserError { code message } } }")


async def _issue(gql, login: str, kind: str, subject: str, title: str) -> str:  # type: ignore[no-untyped-def]
    r = (await gql.data(login, ISSUE, {"i": {"kind": kind, "subjectId": subject, "title": title}}))["issueDocument"]
    assert r["__typename"] == "Document", r
    return str(r["id"])


@pytest.fixture(scope="module")
async def document_canaries(gql, db, cycle_canaries) -> list[str]:  # type: ignore[no-untyped-def]
    if DOC_IDS:
        return DOC_IDS
    for label, (office, region) in OFFICES.items():
        insp = cycle_canaries[label]["inspection"]
        DOC_IDS.append(await _issue(gql, office, "BULLETIN", insp, f"通报{label}"))
        DOC_IDS.append(await _issue(gql, office, "INSPECTION_REPORT", insp, f"报告文书{label}"))
        async with db.system_session() as s:
            fbs = (await s.execute(text("SELECT id FROM feedback WHERE inspection_id = :i ORDER BY id"),
                                   {"i": int(insp)})).scalars().all()
        for fb in fbs:
            DOC_IDS.append(await _issue(gql, office, "RECTIFICATION_NOTICE", str(fb), f"整改通知{label}"))
        r = (await gql.data(office, REQUEST, {"i": {"kind": "PROBLEM_LEDGER", "params": {
            "regionCode": region, "options": {"canary": f"导出{label}"}}}}))["requestExport"]
        assert r["__typename"] == "ExportJob", r
        EXPORT_IDS.append(str(r["id"]))
    await drain_outbox(db)  # the exports are made, as a worker would
    return DOC_IDS


DOC_FIELDS = ("id kind kindLabel number title recipients issuedOn subjectType subjectId inspectionId sha256 "
              "canDownload downloadUrl agency { name }")
EXPORT_FIELDS = "id kind kindLabel params status progress rowsTotal fileName mine downloadUrl"


async def document_walk(gql, login: str) -> list[Any]:  # type: ignore[no-untyped-def]
    out: list[Any] = []
    for field, node in (("documents", DOC_FIELDS), ("exportJobs", EXPORT_FIELDS)):
        after = None
        while True:
            d = await gql.data(login, f"query($a: String) {{ {field}(first: 100, after: $a) {{ totalCount "
                                      f"edges {{ node {{ {node} }} }} pageInfo {{ hasNextPage endCursor }} }} }}", {"a": after})
            out.append(d)
            if not d[field]["pageInfo"]["hasNextPage"]:
                break
            after = d[field]["pageInfo"]["endCursor"]
    for did in DOC_IDS:
        out.append(await gql.data(login, "query($i: ID!) { document(id: $i) { __typename ... on Document { "
                                  + DOC_FIELDS + " } } }", {"i": did}))
    for eid in EXPORT_IDS:
        out.append(await gql.data(login, "query($i: ID!) { exportJob(id: $i) { __typename ... on ExportJob { "
                                  + EXPORT_FIELDS + " } } }", {"i": eid}))
    out.append(await gql.data(login, "{ documentTemplates { kind custom name placeholders } "
                                     "documentSettings { tenantId authority header prefix customized } }"))
    return out
