"""Audit of the assessment's self-inspection punctuality indicator (自查报告按时提交率): a report
submitted on time counts, a late or missing one costs the points and is named in the
explanation - but a report not in yet whose due day has not come is not held against the unit
(a run in the middle of the year must not rank a unit last for a report it may still hand in)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from ducha.services import inspections
from ducha.tenants.auth import load_identity
from ducha.tenants.models import Agency, Tenant

YEAR = 2023  # a year of its own: test_assessment versions this year's set of 嘉鱼县
SET = """mutation($i: AssessmentSetInput!) { saveAssessmentSet(input: $i) { __typename
    ... on AssessmentSetSaved { setId version } ... on UserError { code message } } }"""
RUN = """mutation($i: RunAssessmentInput!) { runAssessment(input: $i) { __typename ... on UserError { code message }
    ... on AssessmentRun { id asOf scores { subjectId subjectName total rank
      explanation { code value numerator denominator score lost note itemIds } } } } }"""
INDICATORS = [
    {"code": "self_check", "name": "自查按时", "kind": "COMPUTED", "metric": "SELF_INSPECTION_PUNCTUALITY", "weight": 60},
    {"code": "review", "name": "述法评议", "kind": "MANUAL", "weight": 40},
]


@pytest.fixture(scope="module")
async def world(db, demo) -> dict[str, Any]:
    """嘉鱼县 asks 新街镇 and 陆溪镇 for self-inspection reports due in March 2023; 新街镇's is in on time."""
    async with db.system_session() as s:
        who = {n: (await load_identity(s, n)).principal for n in ("jiayu.office", "jiayu.leader", "jiayu.xinjie")}
        office, leader = who["jiayu.office"], who["jiayu.leader"]
        tenant = (await s.execute(select(Tenant.id).where(Tenant.region_code == "421221"))).scalar_one()
        units = {n: (await s.execute(select(Agency.id).where(Agency.name == n))).scalar_one()
                 for n in ("新街镇人民政府", "陆溪镇人民政府")}
        i = await inspections.create(s, office, tenant_id=tenant, title="审计五自查", kind="special", form="written",
                                     year=YEAR, off_plan_reason="审计", starts_on=dt.date(YEAR, 3, 1))
        await inspections.decide_off_plan(s, leader, i.id, approve=True)
        await inspections.add_targets(s, office, i.id, list(units.values()))
        await inspections.save_work_plan(s, office, i.id, project="p", reason="r", legal_basis="b",
                                         methods=["review_files"])
        await inspections.submit_work_plan(s, office, i.id)
        await inspections.decide_work_plan(s, leader, i.id, approve=True)
        sis = {si.agency_id: si for si in await inspections.request_self_inspections(
            s, office, i.id, working_days=10, today=dt.date(YEAR, 3, 1))}
        await inspections.submit_self_inspection(s, who["jiayu.xinjie"], sis[units["新街镇人民政府"]].id, content="自查报告",
                                                 now_date=dt.date(YEAR, 3, 2))
        due = sis[units["陆溪镇人民政府"]].due_on
        return {"tenant": str(tenant), "units": units, "due": due, "luxi_si": sis[units["陆溪镇人民政府"]].id}


async def _run(gql: Any, world: dict[str, Any], as_of: dt.date) -> dict[str, dict[str, Any]]:
    r = (await gql.data("jiayu.office", RUN, {"i": {"tenantId": world["tenant"], "year": YEAR, "level": "UNIT",
                                                    "asOf": as_of.isoformat()}}))["runAssessment"]
    assert r["__typename"] == "AssessmentRun", r
    assert r["asOf"] == as_of.isoformat()
    return {s["subjectName"]: next(x for x in s["explanation"] if x["code"] == "self_check") for s in r["scores"]}


async def test_a_report_not_yet_due_costs_nothing_and_a_missed_one_is_named(gql, world):
    saved = await gql.data("jiayu.office", SET, {"i": {"tenantId": world["tenant"], "year": YEAR,
                                                       "indicators": INDICATORS}})
    assert saved["saveAssessmentSet"]["__typename"] == "AssessmentSetSaved", saved

    early = await _run(gql, world, world["due"] - dt.timedelta(days=3))
    xj, lx = early["新街镇人民政府"], early["陆溪镇人民政府"]
    assert (xj["numerator"], xj["denominator"], xj["score"], xj["lost"]) == (1, 1, 60.0, 0.0)
    # 陆溪镇 may still hand its report in on time: nothing counted against it yet
    assert (lx["denominator"], lx["score"], lx["lost"], lx["itemIds"]) == (0, 60.0, 0.0, [])

    late = await _run(gql, world, world["due"] + dt.timedelta(days=1))
    xj, lx = late["新街镇人民政府"], late["陆溪镇人民政府"]
    assert (xj["numerator"], xj["denominator"], xj["score"]) == (1, 1, 60.0)
    assert (lx["numerator"], lx["denominator"], lx["score"], lx["lost"]) == (0, 1, 0.0, 60.0)
    assert lx["itemIds"] == [str(world["luxi_si"])]  # the explanation names the report that cost the points
    assert lx["value"] == 0.0
