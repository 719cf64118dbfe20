"""Calendar mutations: a platform admin loads a year's official schedule."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy import text

from ducha.graphql import mutation
from ducha.graphql.calendar.queries import year_of
from ducha.graphql.calendar.types import CalendarYearLoaded, LoadCalendarInput
from ducha.graphql.context import Info
from ducha.graphql.errors import NotAllowed, ValidationError
from ducha.policies.authz import authorize
from ducha.services import calendar_store
from ducha.services.calendar_store import Holiday, MakeupDay

LoadCalendarResult = Annotated[CalendarYearLoaded | NotAllowed | ValidationError, strawberry.union("LoadCalendarResult")]


@strawberry.type
class CalendarMutation:
    @strawberry.mutation(description="Store a year's official schedule (platform admins); open provisional deadlines "
                                     "are recomputed on it and their owners told.")
    async def load_official_calendar(self, info: Info, input: LoadCalendarInput) -> LoadCalendarResult:
        ctx = info.context

        async def act() -> CalendarYearLoaded:
            # The calendar is the platform's: only a rule for `update calendar` at the root
            # region (the platform admin's) lets one in.
            root = (await ctx.session.execute(text("SELECT path FROM region WHERE parent_code IS NULL"))).scalar()
            authorize(ctx.principal, "update", "calendar", root or ctx.principal.region_path)
            # Platform tables and recomputation across tenants: the system role writes them,
            # in a transaction of its own that commits before this request's.
            async with ctx.db.system_session() as s:
                result = await calendar_store.load_official(
                    s, year=input.year, from_package=input.from_package,
                    holidays=[Holiday(h.first, h.last, h.name) for h in input.holidays],
                    makeup_days=[MakeupDay(m.date, m.name) for m in input.makeup_workdays],
                    by_user=ctx.principal.user_id, note=input.note,
                )
            row = (await ctx.session.execute(
                text("SELECT year, provisional, source, loaded_at, note FROM calendar_year WHERE year = :y"),
                {"y": result.year})).one()
            return CalendarYearLoaded(year=year_of(row), recomputed_deadlines=result.recomputed,
                                      changed_deadlines=result.changed)

        return await mutation.run(info, act)
