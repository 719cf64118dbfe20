"""The working-day calendar through GraphQL on real 2025/2026 dates, 2027 provisional, and a
platform admin loading a year's official schedule (provisional deadlines recomputed)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from ducha.services import calendar_store, deadlines
from ducha.services.calendar import build_year, official_years

needs_2027_provisional = pytest.mark.skipif(2027 in official_years(), reason="the package knows 2027 already")


@pytest.mark.parametrize(
    ("day", "working"),
    [("2025-01-26", True),  # Sunday, make-up day for the Spring Festival
     ("2025-01-28", False),  # 除夕, a statutory holiday from 2025 on
     ("2025-02-08", True),  # Saturday, make-up day
     ("2025-10-01", False), ("2025-10-06", False),  # National Day and Mid-Autumn merged
     ("2025-10-11", True),  # Saturday, make-up day
     ("2025-10-12", False),  # an ordinary Sunday
     ("2026-02-14", True), ("2026-02-16", False), ("2026-02-23", False), ("2026-02-24", True),
     ("2026-09-25", False), ("2026-10-07", False), ("2026-10-10", True), ("2026-06-03", True)],
)
async def test_is_working_day_on_real_dates(gql, day, working):
    d = await gql.data("jiayu.xinjie", "query($d: Date!) { isWorkingDay(date: $d) }", {"d": day})
    assert d["isWorkingDay"] is working


@pytest.mark.parametrize(
    ("start", "days", "result"),
    [("2025-09-26", 5, "2025-10-10"), ("2025-09-26", 6, "2025-10-11"), ("2025-10-03", 0, "2025-10-09"),
     ("2025-10-09", -1, "2025-09-30"), ("2026-02-13", 1, "2026-02-14"), ("2026-02-13", 2, "2026-02-24"),
     ("2026-09-30", 1, "2026-10-08")],
)
async def test_add_working_days_on_real_dates(gql, start, days, result):
    d = await gql.data("jiayu.court", "query($s: Date!, $n: Int!) { addWorkingDays(start: $s, days: $n) }",
                       {"s": start, "n": days})
    assert d["addWorkingDays"] == result


async def test_every_signed_in_user_may_ask(gql):
    for login in ("hubei.justice", "jiayu.discipline", "yunxi.justice", "hubei.office"):
        d = await gql.data(login, '{ isWorkingDay(date: "2025-10-11") }')
        assert d["isWorkingDay"] is True


@needs_2027_provisional
async def test_2027_comes_out_provisional(gql):
    d = await gql.data("jiayu.office", """{ p: workingDayPreview(start: "2026-12-30", days: 3) { dueOn provisional workingDays }
        o: workingDayPreview(start: "2026-12-01", days: 3) { provisional }
        m: calendarMonth(year: 2027, month: 2) { date isWorking kind holiday provisional }
        calendarYears { year provisional source } }""")
    assert d["p"]["provisional"] is True and d["p"]["workingDays"] == 3 and d["p"]["dueOn"].startswith("2027-01")
    assert d["o"]["provisional"] is False
    assert len(d["m"]) == 28 and all(x["provisional"] for x in d["m"])
    assert {x["date"] for x in d["m"] if x["holiday"] == "春节" and not x["isWorking"]} >= {"2027-02-05", "2027-02-08"}
    years = {y["year"]: y for y in d["calendarYears"]}
    assert years[2026] == {"year": 2026, "provisional": False, "source": "PACKAGE"}
    assert years[2027]["provisional"] and years[2027]["source"] == "RULES"


async def test_dates_outside_the_calendar_are_user_errors(gql):
    body = await gql("jiayu.office", '{ isWorkingDay(date: "1999-01-01") }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql("jiayu.office", '{ addWorkingDays(start: "2025-01-01", days: 5000) }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "days"}


def _runs(rows) -> tuple[list[dict], list[dict]]:
    """The holiday runs and make-up days of a year's rows, as the load input wants them."""
    holidays: list[dict] = []
    for r in rows:
        if r.kind == "holiday":
            if holidays and holidays[-1]["name"] == r.holiday and holidays[-1]["last"] == (r.day - timedelta(days=1)).isoformat():
                holidays[-1]["last"] = r.day.isoformat()
            else:
                holidays.append({"first": r.day.isoformat(), "last": r.day.isoformat(), "name": r.holiday})
    makeups = [{"date": r.day.isoformat(), "name": r.holiday} for r in rows if r.kind == "makeup_workday"]
    return holidays, makeups


LOAD = """mutation($i: LoadCalendarInput!) { loadOfficialCalendar(input: $i) { __typename
  ... on CalendarYearLoaded { year { year provisional source } recomputedDeadlines changedDeadlines }
  ... on ValidationError { fields { path } } } }"""


@needs_2027_provisional
async def test_platform_admin_loads_2027_and_provisional_deadlines_follow(gql, db):
    async with db.system_session() as s:
        aid, tid = (await s.execute(text("SELECT id, tenant_id FROM agency WHERE name = '新街镇人民政府'"))).one()
        cal = await calendar_store.working_calendar(s)
        due, provisional = cal.add_working_days(date(2027, 2, 1), 10)
        assert provisional
        did = await deadlines.track(s, tenant_id=tid, subject_type="test.calendar", subject_id=1, agency_id=aid,
                                    due_on=due, provisional=True, title="跨春节的整改期限", rule="working_days",
                                    basis_on=date(2027, 2, 1), rule_days=10)
    holidays, makeups = _runs(build_year(2027))
    # the "published" schedule gives one more day off after the Spring Festival: Mon Feb 15
    holidays.append({"first": "2027-02-15", "last": "2027-02-15", "name": "春节"})
    try:
        no = await gql.data("jiayu.office", LOAD, {"i": {"year": 2027, "holidays": holidays, "makeupWorkdays": makeups}})
        assert no["loadOfficialCalendar"]["__typename"] == "NotAllowed"
        bad = await gql.data("hubei.office", LOAD, {"i": {"year": 2027, "fromPackage": True}})
        assert bad["loadOfficialCalendar"]["fields"][0]["path"] == ["fromPackage"]
        bad = await gql.data("hubei.office", LOAD, {"i": {"year": 2027, "holidays": holidays,
                                                          "makeupWorkdays": [{"date": "2027-03-03", "name": "x"}]}})
        assert bad["loadOfficialCalendar"]["fields"][0]["path"] == ["makeupWorkdays", "0", "date"]
        ok = await gql.data("hubei.office", LOAD, {"i": {"year": 2027, "holidays": holidays, "makeupWorkdays": makeups,
                                                         "note": "国办发明电〔2026〕X号"}})
        loaded = ok["loadOfficialCalendar"]
        assert loaded["year"] == {"year": 2027, "provisional": False, "source": "MANUAL"}
        assert loaded["recomputedDeadlines"] >= 1 and loaded["changedDeadlines"] >= 1
        d = await gql.data("jiayu.xinjie", '{ isWorkingDay(date: "2027-02-15") p: workingDayPreview(start: "2027-02-01", '
                                           'days: 10) { dueOn provisional } }')
        assert d["isWorkingDay"] is False and d["p"]["provisional"] is False
        async with db.system_session() as s:
            after = await deadlines.get(s, tid, did)
        assert after.due_on == due + timedelta(days=1) and not after.provisional
        assert after.due_on.isoformat() == d["p"]["dueOn"]
        inbox = await gql.data("jiayu.xinjie", "{ inbox(first: 50) { edges { node { kind title } } } }")
        assert any(e["node"]["kind"] == "deadline.recomputed" and "跨春节的整改期限" in e["node"]["title"]
                   for e in inbox["inbox"]["edges"])
    finally:
        async with db.system_session() as s:  # put the provisional 2027 back for the other tests
            await s.execute(calendar_store.INSERT_DAYS, [calendar_store._row(r) for r in build_year(2027)])
            await s.execute(calendar_store.INSERT_YEARS, calendar_store._year(2027, True, "rules"))
            await s.execute(calendar_store.RENUMBER)
            await deadlines.close(s, "test.calendar", 1, tid, reason="test over")
            await deadlines.refresh_next(s)
