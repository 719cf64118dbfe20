"""The problem list's pages: every visible instance exactly once, in id order, across pages.

The list is served as a union of per-visibility-way branches (owner chain, target tenant,
the unit itself); this compares every page walk with one plain SQL statement of the same rule.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ducha.policies import filters
from ducha.services.demo_scenario import seed_scenario
from ducha.tenants.auth import load_identity

LOGINS = ["jiayu.office", "xianning.office", "jiayu.xinjie", "hubei.justice", "yunxi.office", "jiayu.court"]

PAGE = """query($after: String, $filter: ProblemFilter) {
  problems(first: 3, after: $after, filter: $filter) {
    totalCount edges { node { id status } } pageInfo { hasNextPage endCursor } } }"""

TRUTH = text("""
SELECT id FROM problem_instance
 WHERE (tenant_id = ANY(:t)
        OR (status <> 'found' AND (target_tenant_id = ANY(:t) OR agency_id = ANY(:a))))
   AND (CAST(:status AS text) IS NULL OR status = :status)
 ORDER BY id""")


async def _walk(gql, login: str, flt: dict | None) -> tuple[list[int], set[int]]:
    ids: list[int] = []
    totals: set[int] = set()
    after = None
    for _ in range(200):
        d = (await gql.data(login, PAGE, {"after": after, "filter": flt}))["problems"]
        ids += [int(e["node"]["id"]) for e in d["edges"]]
        totals.add(d["totalCount"])
        if not d["pageInfo"]["hasNextPage"]:
            return ids, totals
        after = d["pageInfo"]["endCursor"]
    raise AssertionError("the walk never ended")


@pytest.mark.parametrize("app_filters", [True, False], ids=["app-filters", "rls-only"])
@pytest.mark.parametrize("status", [None, "notified"])
async def test_every_visible_problem_once_in_order(db, demo, gql, app_filters, status):
    async with db.system_session() as s:
        await seed_scenario(s)
    seen: dict[str, int] = {}
    filters.set_enabled(app_filters)
    try:
        for login in LOGINS:
            async with db.system_session() as s:
                scope = (await load_identity(s, login)).scope
                want = [r[0] for r in await s.execute(TRUTH, {
                    "t": sorted(scope.tenant_ids), "a": sorted(scope.agency_ids), "status": status})]
            got, totals = await _walk(gql, login, {"status": status} if status else None)
            assert got == want, login
            assert got == sorted(set(got))
            assert totals == {len(want)}, login
            seen[login] = len(got)
    finally:
        filters.set_enabled(True)
    # the walk is not vacuous: offices and the town unit see several pages
    assert seen["jiayu.office"] > 3 and seen["xianning.office"] > 3 and seen["hubei.justice"] >= seen["xianning.office"]
    assert seen["yunxi.office"] < seen["hubei.justice"]


async def test_a_county_sees_the_city_s_problems_addressed_to_it_between_its_own(db, demo, gql):
    """Both branches feed one page: 嘉鱼县's own instances and 咸宁市's ones targeting it."""
    async with db.system_session() as s:
        await seed_scenario(s)
        owners = {r[0]: r[1] for r in await s.execute(text(
            "SELECT pi.id, t.name FROM problem_instance pi JOIN tenant t ON t.id = pi.tenant_id"))}
    got, _ = await _walk(gql, "jiayu.office", None)
    assert len({owners[i] for i in got}) >= 2, {owners[i] for i in got}


# Each filter of the list against the ORM conditions it had before it became driver SQL.
FILTERS = [
    {"year": 2024}, {"category": "THREE_ENFORCEMENT_SYSTEMS"}, {"severity": "GENERAL"}, {"source": "INSPECTION"},
    {"common": True}, {"common": False}, {"overdue": True}, {"overdue": False}, {"status": "notified"},
    {"year": 2024, "overdue": False, "common": False},
]


def _orm_reference(scope, flt: dict, today, ids: dict):
    from sqlalchemy import and_, func, or_, select

    from ducha.services import models as m

    i, p = m.ProblemInstance, m.Problem
    conds = [or_(filters.tenant_visible(scope, i.tenant_id),
                 and_(i.status != "found", filters.addressed_visible(scope, i.tenant_id, i.target_tenant_id, i.agency_id)))]
    if "status" in flt:
        conds.append(i.status == flt["status"])
    if "overdue" in flt:
        od = and_(i.due_on < today, i.status != "closed")
        conds.append(od if flt["overdue"] else ~od)
    for k in ("category", "source", "severity"):
        if k in flt:
            conds.append(getattr(p, k) == ids[k])
    if "year" in flt:
        conds.append(func.extract("year", p.found_on) == flt["year"])
    if "common" in flt:
        conds.append(p.is_common.is_(flt["common"]))
    if "inspectionId" in flt:
        conds.append(p.inspection_id == int(flt["inspectionId"]))
    if "agencyId" in flt:
        conds.append(i.agency_id == int(flt["agencyId"]))
    return (select(i.id).join(p, and_(p.tenant_id == i.tenant_id, p.id == i.problem_id)).where(*conds).order_by(i.id))


@pytest.mark.parametrize("flt", FILTERS, ids=[",".join(f"{k}={v}" for k, v in f.items()) for f in FILTERS])
async def test_each_filter_walks_the_rows_of_its_orm_conditions(db, demo, gql, flt):
    import datetime as dt

    from sqlalchemy import select

    from ducha.services import models as m
    from ducha.graphql.inspection.types import ProblemCategory, ProblemSource, Severity

    async with db.system_session() as s:
        await seed_scenario(s)
        some = (await s.execute(select(m.ProblemInstance).order_by(m.ProblemInstance.id).limit(1))).scalar_one()
        insp = (await s.execute(select(m.Problem.inspection_id).where(m.Problem.id == some.problem_id))).scalar_one()
    extra = [dict(flt), {**flt, "inspectionId": str(insp)}, {**flt, "agencyId": str(some.agency_id)}]
    ids = {"category": ProblemCategory[flt["category"]].value if "category" in flt else None,
           "source": ProblemSource[flt["source"]].value if "source" in flt else None,
           "severity": Severity[flt["severity"]].value if "severity" in flt else None}
    nonempty = 0
    for f in extra:
        for login in ("jiayu.office", "jiayu.xinjie", "hubei.justice"):
            async with db.system_session() as s:
                scope = (await load_identity(s, login)).scope
            async with db.scoped(scope) as s:
                want = [r[0] for r in await s.execute(_orm_reference(scope, f, dt.date.today(), ids))]
            got, totals = await _walk(gql, login, f)
            assert got == want, (login, f)
            assert totals == {len(want)}, (login, f)
            nonempty += bool(want)
    if len(flt) == 1:  # each single filter matches something in the scenario; a combination may not
        assert nonempty, "every walk was empty: the comparison proved nothing"
