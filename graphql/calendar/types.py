"""GraphQL face of the working-day calendar: days, years, deadline previews."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry


@strawberry.enum(description="What a day of the working calendar is.")
class DayKind(Enum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"


@strawberry.type(description="One day of China's working calendar.")
class CalendarDay:
    date: date
    is_working: bool
    kind: DayKind
    holiday: str | None = strawberry.field(description="The holiday's name (e.g. 国庆节) for holidays and make-up days.")
    provisional: bool = strawberry.field(description="Generated from the rules; not yet officially published.")


@strawberry.enum(description="Where a stored year of the calendar comes from.")
class CalendarSource(Enum):
    PACKAGE = "package"
    RULES = "rules"
    MANUAL = "manual"


@strawberry.type(description="A stored year of the calendar.")
class CalendarYear:
    year: int
    provisional: bool
    source: CalendarSource
    loaded_at: datetime
    note: str


@strawberry.type(description="A deadline computed on the working calendar.")
class DeadlinePreview:
    due_on: date
    provisional: bool = strawberry.field(description="Rests on days of a year not yet officially published.")
    working_days: int = strawberry.field(description="Working days from the start (exclusive) to the due date.")


@strawberry.type(description="A year's official schedule is stored; provisional deadlines were recomputed.")
class CalendarYearLoaded:
    year: CalendarYear
    recomputed_deadlines: int
    changed_deadlines: int


@strawberry.input(description="A run of days off, e.g. 国庆节 2027-10-01 .. 2027-10-07.")
class HolidayInput:
    first: date
    last: date
    name: str


@strawberry.input(description="A Saturday or Sunday declared a working day (调休上班).")
class MakeupDayInput:
    date: date
    name: str


@strawberry.input(description="A year's official schedule: from the installed package, or as published.")
class LoadCalendarInput:
    year: int
    from_package: bool = strawberry.field(default=False, description="Take the year from the installed chinesecalendar.")
    holidays: list[HolidayInput] = strawberry.field(default_factory=list)
    makeup_workdays: list[MakeupDayInput] = strawberry.field(default_factory=list)
    note: str = strawberry.field(default="", description="e.g. the notice's number: 国办发明电〔2026〕X号")
