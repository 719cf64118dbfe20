"""The stored working-day calendar: seeding `calendar_day`, loading a year's official schedule,
and the cached :class:`WorkingCalendar` every deadline is computed on.

Writes need the system session (the API role may only read these platform tables). When an
official schedule replaces a provisional year, every open provisional deadline is recomputed
and its owners are told (``deadlines.recompute_provisional``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services.calendar import CalendarDay, CalendarRangeError, WorkingCalendar, build_year, official_years
from ducha.services.errors import InvalidInput

CHINA = timezone(timedelta(hours=8))  # no daylight saving in China: a fixed offset is exact
PROVISIONAL_AHEAD = 2  # years stored beyond the current one, so deadlines and ladders fit

INSERT_DAYS = text(
    "INSERT INTO calendar_day (day, is_working, kind, holiday, provisional)"
    " VALUES (:day, :is_working, :kind, :holiday, :provisional)"
    " ON CONFLICT (day) DO UPDATE SET is_working = excluded.is_working, kind = excluded.kind,"
    " holiday = excluded.holiday, provisional = excluded.provisional"
)
INSERT_YEARS = text(
    "INSERT INTO calendar_year (year, provisional, source, loaded_by, note)"
    " VALUES (:year, :provisional, :source, :loaded_by, :note)"
    " ON CONFLICT (year) DO UPDATE SET provisional = excluded.provisional, source = excluded.source,"
    " loaded_by = excluded.loaded_by, note = excluded.note, loaded_at = clock_timestamp()"
)
# Recount working_seq over the whole table (a few thousand rows) after any change of days.
RENUMBER = text(
    "UPDATE calendar_day c SET working_seq = s.seq"
    " FROM (SELECT day, (sum(is_working::int) OVER (ORDER BY day))::int AS seq FROM calendar_day) s"
    " WHERE c.day = s.day AND c.working_seq IS DISTINCT FROM s.seq"
)


def today() -> date:
    """Today in China (deadlines are days of the Chinese calendar, not of the server's zone)."""
    return datetime.now(CHINA).date()


def _row(d: CalendarDay) -> dict[str, Any]:
    return {"day": d.day, "is_working": d.is_working, "kind": d.kind, "holiday": d.holiday,
            "provisional": d.provisional}


def _year(year: int, provisional: bool, source: str, by: int | None = None, note: str = "") -> dict[str, Any]:
    return {"year": year, "provisional": provisional, "source": source, "loaded_by": by, "note": note}


def seed_plan(now: date | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for every official year of the package and provisional years up to PROVISIONAL_AHEAD."""
    years = official_years()
    last = max(years.stop - 1, (now or today()).year + PROVISIONAL_AHEAD)
    days: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    for y in range(years.start, last + 1):
        rows = build_year(y)
        days += [_row(r) for r in rows]
        provisional = y not in years
        meta.append(_year(y, provisional, "rules" if provisional else "package"))
    return days, meta


# --- the cached calendar -------------------------------------------------------------------

_VERSION = text("SELECT count(*) AS n, max(loaded_at) AS at FROM calendar_year")
_ALL_DAYS = text("SELECT day, is_working, kind, holiday, provisional FROM calendar_day ORDER BY day")
_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], WorkingCalendar] | None = None


async def working_calendar(session: AsyncSession) -> WorkingCalendar:
    """The stored calendar as a WorkingCalendar, cached per process until a year is (re)loaded."""
    global _cached
    v = (await session.execute(_VERSION)).one()
    version = (v.n, v.at)
    hit = _cached
    if hit is not None and hit[0] == version:
        return hit[1]
    rows = (await session.execute(_ALL_DAYS)).all()
    if not rows:
        raise CalendarRangeError("the working-day calendar is empty; run the migrations")
    cal = WorkingCalendar(CalendarDay(r.day, r.is_working, r.kind, r.holiday, r.provisional) for r in rows)
    with _lock:
        _cached = (version, cal)
    return cal


def forget() -> None:
    """Drop the cached calendar (tests that rewrite the table behind the version stamp)."""
    global _cached
    with _lock:
        _cached = None


# --- years ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holiday:
    """A run of days off in an official schedule, e.g. 国庆节 Oct 1-8."""

    first: date
    last: date
    name: str


@dataclass(frozen=True)
class MakeupDay:
    """A Saturday or Sunday declared a working day (调休上班)."""

    day: date
    name: str


@dataclass(frozen=True)
class LoadResult:
    year: int
    source: str
    recomputed: int  # open provisional deadlines recomputed on the new schedule
    changed: int  # of which the due date moved


def schedule_year(year: int, holidays: Sequence[Holiday], makeup_days: Sequence[MakeupDay]) -> list[CalendarDay]:
    """Every day of `year` from a published schedule: its holiday runs and make-up working days.

    Weekends inside or touching a run of days off take the holiday's name, as the package does.
    """
    if not 1900 <= year <= 2099:
        raise InvalidInput("year", "year must be between 1900 and 2099")
    if not holidays:
        raise InvalidInput("holidays", "an official schedule lists its holidays")
    first, last = date(year, 1, 1), date(year, 12, 31)
    off: dict[date, str] = {}
    for i, h in enumerate(holidays):
        name = h.name.strip()
        if not name or len(name) > 20:
            raise InvalidInput(f"holidays.{i}.name", "a holiday name has 1-20 characters")
        if h.last < h.first:
            raise InvalidInput(f"holidays.{i}.last", "the last day is before the first")
        if h.first < first or h.last > last:
            raise InvalidInput(f"holidays.{i}", f"the days must lie in {year}")
        if (h.last - h.first).days > 15:
            raise InvalidInput(f"holidays.{i}", "a holiday run is at most 16 days")
        d = h.first
        while d <= h.last:
            if d in off:
                raise InvalidInput(f"holidays.{i}", f"{d} is in two holiday runs")
            off[d] = name
            d += timedelta(days=1)
    makeup: dict[date, str] = {}
    for i, m in enumerate(makeup_days):
        name = m.name.strip()
        if not name or len(name) > 20:
            raise InvalidInput(f"makeupWorkdays.{i}.name", "a holiday name has 1-20 characters")
        if not first <= m.day <= last:
            raise InvalidInput(f"makeupWorkdays.{i}.date", f"the day must lie in {year}")
        if m.day.weekday() < 5:
            raise InvalidInput(f"makeupWorkdays.{i}.date", f"{m.day} is a weekday; make-up days are weekend days")
        if m.day in off:
            raise InvalidInput(f"makeupWorkdays.{i}.date", f"{m.day} is also listed as a holiday")
        if m.day in makeup:
            raise InvalidInput(f"makeupWorkdays.{i}.date", f"{m.day} is listed twice")
        makeup[m.day] = name

    def touching(d: date) -> str | None:
        # a weekend day joined by days off to a holiday run belongs to that break
        for step in (timedelta(days=1), timedelta(days=-1)):
            x = d + step
            while x.weekday() >= 5 and x not in makeup and x not in off and first <= x <= last:
                x += step
            if x in off:
                return off[x]
        return None

    rows: list[CalendarDay] = []
    d = first
    while d <= last:
        if d in makeup:
            rows.append(CalendarDay(d, True, "makeup_workday", makeup[d], False))
        elif d in off:
            rows.append(CalendarDay(d, False, "holiday", off[d], False))
        elif d.weekday() >= 5:
            name = touching(d)
            rows.append(CalendarDay(d, False, "holiday" if name else "weekend", name, False))
        else:
            rows.append(CalendarDay(d, True, "workday", None, False))
        d += timedelta(days=1)
    return rows


async def _store_days(session: AsyncSession, rows: Iterable[CalendarDay]) -> None:
    payload = [_row(r) for r in rows]
    for i in range(0, len(payload), 1000):
        await session.execute(INSERT_DAYS, payload[i : i + 1000])


async def stored_years(session: AsyncSession) -> dict[int, Any]:
    rows = (await session.execute(text("SELECT year, provisional, source, loaded_at, note FROM calendar_year"))).all()
    return {r.year: r for r in rows}


async def ensure_years(session: AsyncSession, through: int | None = None) -> list[int]:
    """Store missing years up to `through` (default: this year + PROVISIONAL_AHEAD) and replace
    provisional years the installed package now knows. System session. Returns years written."""
    from ducha.services import deadlines

    through = through or today().year + PROVISIONAL_AHEAD
    have = await stored_years(session)
    official = official_years()
    start = min(have) if have else official.start
    written: list[int] = []
    for y in range(start, through + 1):
        known = y in official
        row = have.get(y)
        if row is not None and not (row.provisional and known):
            continue
        await _store_days(session, build_year(y))
        await session.execute(INSERT_YEARS, _year(y, not known, "package" if known else "rules"))
        written.append(y)
    if written:
        await session.execute(RENUMBER)
        if any(y in official for y in written):
            await deadlines.recompute_provisional(session, await working_calendar(session))
        await deadlines.refresh_next(session)
    return written


async def load_official(
    session: AsyncSession,
    *,
    year: int,
    from_package: bool = False,
    holidays: Sequence[Holiday] = (),
    makeup_days: Sequence[MakeupDay] = (),
    by_user: int | None = None,
    note: str = "",
) -> LoadResult:
    """Replace `year` with its official schedule (from the package, or as given); recompute the
    open provisional deadlines and tell their owners. System session; authorize before."""
    from ducha.services import deadlines

    if from_package:
        if holidays or makeup_days:
            raise InvalidInput("fromPackage", "give either fromPackage or the holidays, not both")
        if year not in official_years():
            raise InvalidInput("fromPackage", f"the installed chinesecalendar does not know {year};"
                                              " enter the published holidays and make-up days")
        rows = build_year(year)
        source = "package"
    else:
        rows = schedule_year(year, holidays, makeup_days)
        source = "manual"
    have = await stored_years(session)
    if have and year > max(have) + 1:
        raise InvalidInput("year", f"load the years before {year} first (the calendar has no gaps)")
    if have and year < min(have):
        raise InvalidInput("year", f"years before {min(have)} are not kept")
    await _store_days(session, rows)
    await session.execute(INSERT_YEARS, _year(year, False, source, by_user, note[:500]))
    await session.execute(RENUMBER)
    cal = await working_calendar(session)
    recomputed, changed = await deadlines.recompute_provisional(session, cal)
    await deadlines.refresh_next(session)
    return LoadResult(year, source, recomputed, changed)
