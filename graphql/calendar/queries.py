"""Calendar queries for the front end's deadline previews; any signed-in user may ask."""

from __future__ import annotations

import calendar as _months
from datetime import date

import strawberry
from graphql import GraphQLError
from sqlalchemy import text

from ducha.graphql.calendar.types import CalendarDay, CalendarSource, CalendarYear, DayKind, DeadlinePreview
from ducha.graphql.clues.types import ClueImportance
from ducha.graphql.context import Info
from ducha.services import calendar_store
from ducha.services.calendar import CalendarRangeError, WorkingCalendar, important_clue_deadline, routine_clue_deadline

MAX_DAYS = 1000


def _bad(field: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": field})


async def _cal(info: Info) -> WorkingCalendar:
    return await calendar_store.working_calendar(info.context.session)


def _in_range(cal: WorkingCalendar, d: date, field: str) -> None:
    if d not in cal:
        raise _bad(field, f"{d} is outside the stored calendar {cal.first} .. {cal.last}")


def calendar_day(row: object) -> CalendarDay:
    return CalendarDay(date=row.day, is_working=row.is_working, kind=DayKind(row.kind),  # type: ignore[attr-defined]
                       holiday=row.holiday, provisional=row.provisional)  # type: ignore[attr-defined]


def year_of(r: object) -> CalendarYear:
    return CalendarYear(year=r.year, provisional=r.provisional, source=CalendarSource(r.source),  # type: ignore[attr-defined]
                        loaded_at=r.loaded_at, note=r.note)  # type: ignore[attr-defined]


async def _preview(info: Info, start: date, days: int) -> DeadlinePreview:
    if abs(days) > MAX_DAYS:
        raise _bad("days", f"days must be between -{MAX_DAYS} and {MAX_DAYS}")
    cal = await _cal(info)
    _in_range(cal, start, "start")
    try:
        due, provisional = cal.add_working_days(start, days)
    except CalendarRangeError as e:
        raise _bad("days", str(e)) from None
    return DeadlinePreview(due_on=due, provisional=provisional, working_days=cal.working_days_between(start, due))


@strawberry.type
class CalendarQuery:
    @strawberry.field(description="Whether the date is a working day in China (make-up days count, holidays do not).")
    async def is_working_day(self, info: Info, date: date) -> bool:
        cal = await _cal(info)
        _in_range(cal, date, "date")
        return cal.is_working_day(date)

    @strawberry.field(description="The `days`-th working day after `start` (start itself never counts; 0: start or "
                                  "the next working day; negative: before).")
    async def add_working_days(self, info: Info, start: date, days: int) -> date:
        return (await _preview(info, start, days)).due_on

    @strawberry.field(description="addWorkingDays with whether the result rests on provisional days.")
    async def working_day_preview(self, info: Info, start: date, days: int) -> DeadlinePreview:
        return await _preview(info, start, days)

    @strawberry.field(description="The transfer deadline a clue would get: important within 5 working days of "
                                  "discovery, routine in the monthly batch before the 10th.")
    async def clue_deadline_preview(self, info: Info, importance: ClueImportance, discovered_on: date) -> DeadlinePreview:
        cal = await _cal(info)
        _in_range(cal, discovered_on, "discoveredOn")
        rule = important_clue_deadline if importance is ClueImportance.IMPORTANT else routine_clue_deadline
        try:
            due, provisional = rule(cal, discovered_on)
        except CalendarRangeError as e:
            raise _bad("discoveredOn", str(e)) from None
        return DeadlinePreview(due_on=due, provisional=provisional,
                               working_days=cal.working_days_between(discovered_on, due))

    @strawberry.field(description="Every day of a month, for a calendar view.")
    async def calendar_month(self, info: Info, year: int, month: int) -> list[CalendarDay]:
        if not 1 <= month <= 12 or not 1900 <= year <= 2099:
            raise _bad("month", "month is 1-12 and year 1900-2099")
        first = date(year, month, 1)
        last = date(year, month, _months.monthrange(year, month)[1])
        rows = (await info.context.session.execute(
            text("SELECT day, is_working, kind, holiday, provisional FROM calendar_day"
                 " WHERE day BETWEEN :a AND :b ORDER BY day"), {"a": first, "b": last})).all()
        return [calendar_day(r) for r in rows]

    @strawberry.field(description="The stored years and whether each is official or provisional.")
    async def calendar_years(self, info: Info) -> list[CalendarYear]:
        rows = (await info.context.session.execute(
            text("SELECT year, provisional, source, loaded_at, note FROM calendar_year ORDER BY year"))).all()
        return [year_of(r) for r in rows]
