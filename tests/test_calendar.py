"""China's working-day calendar: official years, provisional years, working-day arithmetic,
clue deadlines (pure Python, no database)."""

import itertools
import random
import time
from collections import Counter
from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ducha.services.calendar import (
    CalendarDay,
    CalendarRangeError,
    WorkingCalendar,
    build_year,
    important_clue_deadline,
    official_years,
    routine_clue_deadline,
    rule_based_year,
    statutory_holidays,
)

ONE = timedelta(days=1)
CAL = WorkingCalendar.from_years(range(2023, 2031))  # official 2023-2026, provisional after
FIRST_PROVISIONAL = official_years().stop
needs_2027_provisional = pytest.mark.skipif(
    2027 in official_years(), reason="the installed chinesecalendar already knows 2027"
)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def by_day(year: int) -> dict[date, CalendarDay]:
    return {row.day: row for row in build_year(year)}


def assert_off(rows: dict[date, CalendarDay], first: date, last: date, name: str | None = None) -> None:
    for d in days(first, last):
        assert not rows[d].is_working, d
        assert rows[d].kind == "holiday", d
        if name is not None:
            assert rows[d].holiday == name, d


def assert_makeup(rows: dict[date, CalendarDay], d: date, name: str) -> None:
    assert d.weekday() >= 5
    assert rows[d] == CalendarDay(d, True, "makeup_workday", name, rows[d].provisional)


def weekday_surplus(rows: list[CalendarDay]) -> int:
    """Weekdays off minus make-up working days: the statutory days of the year (13 from 2025)."""
    off = sum(not r.is_working and r.day.weekday() < 5 for r in rows)
    return off - sum(r.kind == "makeup_workday" for r in rows)


# ---- official years ------------------------------------------------------------------------


def test_official_years_are_probed_from_the_package() -> None:
    years = official_years()
    assert years.step == 1 and years.start <= 2004 and 2026 in years
    chinese_calendar.is_workday(date(years.start, 1, 1))
    chinese_calendar.is_workday(date(years.stop - 1, 12, 31))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(years.stop, 1, 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(years.start - 1, 12, 31))


def test_official_years_agree_with_the_package_day_by_day() -> None:
    for year in official_years():
        rows = build_year(year)
        assert [r.day for r in rows] == days(date(year, 1, 1), date(year, 12, 31))
        for row in rows:
            assert row.is_working == chinese_calendar.is_workday(row.day), row
            assert not row.provisional
            if row.kind == "weekend":
                assert row.day.weekday() >= 5 and row.holiday is None
            if row.kind == "workday":
                assert row.day.weekday() < 5 and row.holiday is None
            if row.kind in ("holiday", "makeup_workday"):
                assert row.holiday


def test_2025_official_schedule() -> None:
    rows = by_day(2025)
    assert len(rows) == 365
    assert_off(rows, date(2025, 1, 1), date(2025, 1, 1), "元旦")
    # Spring Festival: Jan 28 (除夕, a holiday from 2025 on) - Feb 4, make-up Sun Jan 26, Sat Feb 8
    assert_off(rows, date(2025, 1, 28), date(2025, 2, 4), "春节")
    assert_makeup(rows, date(2025, 1, 26), "春节")
    assert_makeup(rows, date(2025, 2, 8), "春节")
    assert rows[date(2025, 1, 27)].kind == "workday" and rows[date(2025, 2, 5)].kind == "workday"
    assert_off(rows, date(2025, 4, 4), date(2025, 4, 6), "清明")
    # Labour Day: May 1-5, make-up Sun Apr 27
    assert_off(rows, date(2025, 5, 1), date(2025, 5, 5), "劳动节")
    assert_makeup(rows, date(2025, 4, 27), "劳动节")
    assert_off(rows, date(2025, 5, 31), date(2025, 6, 2), "端午")
    # National Day + Mid-Autumn (Oct 6): Oct 1-8, make-up Sun Sep 28, Sat Oct 11
    assert_off(rows, date(2025, 10, 1), date(2025, 10, 8))
    assert rows[date(2025, 10, 6)].holiday == "中秋"
    assert rows[date(2025, 10, 1)].holiday == "国庆节"
    assert_makeup(rows, date(2025, 9, 28), "国庆节")
    assert_makeup(rows, date(2025, 10, 11), "国庆节")
    assert rows[date(2025, 10, 12)].kind == "weekend"
    # 261 weekdays - 18 weekdays off + 5 make-up days
    assert sum(r.is_working for r in rows.values()) == 248
    assert weekday_surplus(list(rows.values())) == 13


def test_2026_official_schedule() -> None:
    """As the package has it, which matches the State Council's notice for 2026."""
    rows = by_day(2026)
    assert all(not r.provisional for r in rows.values())
    assert_off(rows, date(2026, 1, 1), date(2026, 1, 3), "元旦")
    assert_makeup(rows, date(2026, 1, 4), "元旦")
    # Spring Festival: 除夕 is Mon Feb 16; the break is Sun Feb 15 - Mon Feb 23 (9 days)
    assert_off(rows, date(2026, 2, 15), date(2026, 2, 23), "春节")
    assert_makeup(rows, date(2026, 2, 14), "春节")
    assert_makeup(rows, date(2026, 2, 28), "春节")
    assert_off(rows, date(2026, 4, 4), date(2026, 4, 6), "清明")
    assert_off(rows, date(2026, 5, 1), date(2026, 5, 5), "劳动节")
    assert_makeup(rows, date(2026, 5, 9), "劳动节")
    assert_off(rows, date(2026, 6, 19), date(2026, 6, 21), "端午")
    assert_off(rows, date(2026, 9, 25), date(2026, 9, 27), "中秋")  # separate from National Day
    assert_off(rows, date(2026, 10, 1), date(2026, 10, 7), "国庆节")
    assert_makeup(rows, date(2026, 9, 20), "国庆节")
    assert_makeup(rows, date(2026, 10, 10), "国庆节")
    makeups = sorted(d for d, r in rows.items() if r.kind == "makeup_workday")
    assert makeups == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]  # fmt: skip
    assert weekday_surplus(list(rows.values())) == 13


@pytest.mark.parametrize("year", [2025, 2026])
def test_rules_reproduce_the_official_schedules_under_the_2025_rules(year: int) -> None:
    official, generated = build_year(year), rule_based_year(year)
    assert all(r.provisional for r in generated)
    assert [(r.day, r.is_working, r.kind, r.holiday) for r in generated] == [
        (r.day, r.is_working, r.kind, r.holiday) for r in official
    ]


# ---- provisional years ---------------------------------------------------------------------


@needs_2027_provisional
def test_2027_is_provisional_with_13_statutory_days_off() -> None:
    rows = build_year(2027)
    by = {r.day: r for r in rows}
    assert len(rows) == 365 and all(r.provisional for r in rows)
    stat = statutory_holidays(2027)
    assert stat == [
        (date(2027, 1, 1), "元旦"),
        (date(2027, 2, 5), "春节"), (date(2027, 2, 6), "春节"),  # 除夕 Fri Feb 5, 初一 Sat Feb 6
        (date(2027, 2, 7), "春节"), (date(2027, 2, 8), "春节"),
        (date(2027, 4, 5), "清明"),
        (date(2027, 5, 1), "劳动节"), (date(2027, 5, 2), "劳动节"),
        (date(2027, 6, 9), "端午"),
        (date(2027, 9, 15), "中秋"),
        (date(2027, 10, 1), "国庆节"), (date(2027, 10, 2), "国庆节"), (date(2027, 10, 3), "国庆节"),
    ]  # fmt: skip
    for d, name in stat:
        assert by[d].kind == "holiday" and by[d].holiday == name and not by[d].is_working
    for row in rows:
        if row.day.weekday() >= 5:
            assert row.is_working == (row.kind == "makeup_workday"), row
    assert weekday_surplus(rows) == 13
    # the rules' 8-day Spring Festival from 除夕 and 7-day National Day
    assert_off(by, date(2027, 2, 5), date(2027, 2, 12), "春节")
    assert_off(by, date(2027, 10, 1), date(2027, 10, 7), "国庆节")
    assert by[date(2027, 10, 9)].kind == "makeup_workday"  # like 2021, whose Oct 1 was a Friday too


def test_every_provisional_year_keeps_the_rules() -> None:
    previous_tail: list[CalendarDay] = []
    for year in range(FIRST_PROVISIONAL, 2100):
        rows = build_year(year)
        by = {r.day: r for r in rows}
        assert [r.day for r in rows] == days(date(year, 1, 1), date(year, 12, 31))
        assert all(r.provisional for r in rows)
        stat = statutory_holidays(year)
        assert len(stat) == 13 and Counter(n for _, n in stat)["春节"] == 4
        for d, _ in stat:
            assert not by[d].is_working and by[d].kind == "holiday", (year, d)
        for row in rows:
            if row.day.weekday() >= 5:  # weekends are off unless declared make-up days
                assert row.is_working == (row.kind == "makeup_workday"), row
            else:
                assert row.kind in ("workday", "holiday"), row
        assert weekday_surplus(rows) == 13, year
        # no working stretch longer than 6 days, no lone make-up day
        seq = previous_tail + rows
        longest = max(len(list(g)) for working, g in itertools.groupby(seq, key=lambda r: r.is_working) if working)
        assert longest <= 6, year
        for a, b, c in zip(seq, seq[1:], seq[2:]):
            assert not (b.kind == "makeup_workday" and not a.is_working and not c.is_working), b
        previous_tail = rows[-10:]


def test_mid_autumn_on_national_day_merges_into_one_break() -> None:
    stat = statutory_holidays(2031)  # 中秋 2031 is Oct 1
    assert stat.count((date(2031, 10, 1), "国庆节")) == 1 and (date(2031, 10, 1), "中秋") in stat
    assert len({d for d, _ in stat}) == 12
    rows = by_day(2031)
    assert_off(rows, date(2031, 10, 1), date(2031, 10, 8))
    assert rows[date(2031, 10, 9)].is_working


def test_years_outside_the_supported_span_are_refused() -> None:
    with pytest.raises(ValueError):
        build_year(official_years().start - 1)
    with pytest.raises(ValueError):
        build_year(2100)


def test_calendar_day_checks_its_kind() -> None:
    with pytest.raises(ValueError):
        CalendarDay(date(2025, 1, 4), True, "weekend", None, False)
    with pytest.raises(ValueError):
        CalendarDay(date(2025, 1, 4), False, "day off", None, False)


# ---- WorkingCalendar -----------------------------------------------------------------------


def test_working_calendar_from_rows_in_any_order() -> None:
    rows = build_year(2025) + build_year(2026)
    random.Random(7).shuffle(rows)
    cal = WorkingCalendar(rows)
    assert (cal.first, cal.last, len(cal)) == (date(2025, 1, 1), date(2026, 12, 31), 730)
    assert cal.is_working_day(date(2025, 1, 26)) and not cal.is_working_day(date(2025, 1, 28))
    assert date(2025, 6, 1) in cal and date(2027, 1, 1) not in cal


def test_working_calendar_refuses_gaps_and_duplicates() -> None:
    rows = build_year(2025)
    with pytest.raises(ValueError, match="missing"):
        WorkingCalendar(rows[:10] + rows[11:])
    with pytest.raises(ValueError, match="twice"):
        WorkingCalendar(rows + rows[:1])
    with pytest.raises(ValueError):
        WorkingCalendar([])


def test_add_working_days_examples() -> None:
    # Fri Sep 26 2025: Sun Sep 28 (make-up) 1, Mon Sep 29 2, Tue Sep 30 3, Oct 1-8 off,
    # Thu Oct 9 4, Fri Oct 10 5
    assert CAL.add_working_days(date(2025, 9, 26), 5) == (date(2025, 10, 10), False)
    assert CAL.add_working_days(date(2025, 9, 26), 6) == (date(2025, 10, 11), False)  # make-up Sat
    assert CAL.add_working_days(date(2025, 9, 26), 0) == (date(2025, 9, 26), False)
    assert CAL.add_working_days(date(2025, 10, 3), 0) == (date(2025, 10, 9), False)
    assert CAL.add_working_days(date(2025, 10, 9), -1) == (date(2025, 9, 30), False)
    assert CAL.add_working_days(date(2025, 10, 9), -4) == (date(2025, 9, 26), False)
    assert CAL.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)
    assert CAL.previous_working_day(date(2025, 10, 9)) == date(2025, 9, 30)
    assert CAL.next_working_day(date(2025, 9, 27)) == date(2025, 9, 28)
    assert CAL.working_days_between(date(2025, 9, 26), date(2025, 10, 10)) == 5
    assert CAL.working_days_between(date(2025, 10, 10), date(2025, 9, 26)) == -5
    assert CAL.working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0


def test_add_working_days_reports_provisional_days() -> None:
    assert not CAL.is_provisional(date(2026, 12, 31)) and CAL.is_provisional(date(2027, 1, 1))
    last_official = CAL.previous_working_day(date(2027, 1, 1))
    assert CAL.add_working_days(last_official, 0) == (last_official, False)
    result, provisional = CAL.add_working_days(last_official, 1)
    assert result.year == 2027 and provisional
    assert CAL.add_working_days(result, -1) == (last_official, True)
    assert CAL.add_working_days(date(2027, 3, 1), 3)[1]


def test_walks_leaving_the_loaded_range_raise() -> None:
    cal = WorkingCalendar(build_year(2025))
    with pytest.raises(CalendarRangeError):
        cal.add_working_days(date(2025, 12, 30), 5)
    with pytest.raises(CalendarRangeError):
        cal.add_working_days(date(2025, 1, 2), -1)  # Jan 1 is a holiday
    with pytest.raises(CalendarRangeError):
        cal.is_working_day(date(2024, 12, 31))
    with pytest.raises(CalendarRangeError):
        cal.working_days_between(date(2025, 6, 1), date(2026, 1, 5))
    assert cal.add_working_days(date(2025, 1, 3), -1) == (date(2025, 1, 2), False)
    assert issubclass(CalendarRangeError, ValueError)


def stepped(cal: WorkingCalendar, start: date, n: int) -> tuple[date, bool]:
    """Day-by-day reference for add_working_days."""
    d, seen = start, [start]
    if n == 0:
        while not cal.is_working_day(d):
            d += ONE
            seen.append(d)
    step, left = (ONE, n) if n > 0 else (-ONE, -n)
    while left:
        d += step
        seen.append(d)
        left -= cal.is_working_day(d)
    return d, any(cal.is_provisional(x) for x in seen)


starts = st.dates(min_value=date(2024, 1, 1), max_value=date(2029, 12, 31))


@given(starts, st.integers(min_value=-200, max_value=200))
def test_add_working_days_agrees_with_stepping_day_by_day(start: date, n: int) -> None:
    assert CAL.add_working_days(start, n) == stepped(CAL, start, n)


@given(starts, st.integers(min_value=1, max_value=200))
def test_add_working_days_lands_on_a_working_day_and_inverts_between(start: date, n: int) -> None:
    result, _ = CAL.add_working_days(start, n)
    assert CAL.is_working_day(result) and result > start
    assert CAL.working_days_between(start, result) == n
    back, _ = CAL.add_working_days(result, -n)
    assert back <= start and CAL.working_days_between(back, result) == n


@given(starts, st.integers(min_value=0, max_value=199))
def test_add_working_days_is_monotonic_in_n(start: date, n: int) -> None:
    this, _ = CAL.add_working_days(start, n)
    following, _ = CAL.add_working_days(start, n + 1)
    assert this <= following
    if n >= 1 or CAL.is_working_day(start):
        assert this < following


@given(starts, starts)
def test_working_days_between_counts_the_half_open_interval(a: date, b: date) -> None:
    lo, hi = min(a, b), max(a, b)
    count = sum(CAL.is_working_day(d) for d in days(lo + ONE, hi)) if hi > lo else 0
    assert CAL.working_days_between(lo, hi) == count
    assert CAL.working_days_between(hi, lo) == -count


def test_add_working_days_is_fast() -> None:
    rng = random.Random(1)
    queries = [(date(2024, 1, 1) + timedelta(days=rng.randrange(2000)), rng.randrange(0, 60)) for _ in range(50_000)]
    began = time.perf_counter()
    for start, n in queries:
        CAL.add_working_days(start, n)
    assert time.perf_counter() - began < 2.0


# ---- deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("discovered", "deadline"),
    [
        (date(2025, 9, 15), date(2025, 10, 10)),  # Oct 10 2025 is a working Friday
        (date(2025, 10, 31), date(2025, 11, 10)),  # a working Monday
        (date(2025, 4, 1), date(2025, 5, 9)),  # May 10 2025 is a Saturday -> Fri May 9
        (date(2025, 7, 20), date(2025, 8, 8)),  # Aug 10 2025 is a Sunday -> Fri Aug 8
        (date(2024, 1, 31), date(2024, 2, 9)),  # Feb 10 2024 is 初一 (break Feb 10-17) -> Feb 9
        (date(2026, 9, 1), date(2026, 10, 10)),  # Oct 10 2026 is a make-up Saturday: it counts
        (date(2025, 12, 31), date(2026, 1, 9)),  # year roll-over; Jan 10 2026 is a Saturday
    ],
)
def test_routine_clue_deadline(discovered: date, deadline: date) -> None:
    assert routine_clue_deadline(CAL, discovered) == (deadline, False)


@needs_2027_provisional
def test_routine_clue_deadline_in_provisional_months() -> None:
    assert routine_clue_deadline(CAL, date(2026, 12, 15)) == (date(2027, 1, 8), True)  # Jan 10 Sun
    # Feb 10 2027 falls in the rules' Spring Festival break (Feb 5-13): back to Thu Feb 4
    assert routine_clue_deadline(CAL, date(2027, 1, 4)) == (date(2027, 2, 4), True)


def test_routine_clue_deadline_moves_later_only_when_the_month_starts_off() -> None:
    """If days 1-10 of the batch month are all off, the deadline cannot move back into the
    month of discovery: it is the first working day after the 10th."""
    rows = []
    for d in days(date(2030, 1, 1), date(2030, 2, 28)):
        if date(2030, 2, 1) <= d <= date(2030, 2, 10):
            rows.append(CalendarDay(d, False, "holiday", "春节", True))
        elif d.weekday() >= 5:
            rows.append(CalendarDay(d, False, "weekend", None, False))
        else:
            rows.append(CalendarDay(d, True, "workday", None, False))
    cal = WorkingCalendar(rows)
    assert routine_clue_deadline(cal, date(2030, 1, 31)) == (date(2030, 2, 11), True)  # Monday
    assert routine_clue_deadline(cal, date(2029, 12, 31)) == (date(2030, 1, 10), False)


def test_important_clue_deadline() -> None:
    assert important_clue_deadline(CAL, date(2025, 9, 26)) == (date(2025, 10, 10), False)
    assert important_clue_deadline(CAL, date(2025, 10, 1)) == (date(2025, 10, 14), False)
    assert important_clue_deadline(CAL, date(2025, 1, 24)) == (date(2025, 2, 7), False)
    assert important_clue_deadline(CAL, date(2026, 12, 29))[1]
