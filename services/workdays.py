"""The working-day calendar the cycle's deadlines are computed on (the stored calendar_day)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import calendar_store


async def add_working_days(session: AsyncSession, start: date, days: int) -> tuple[date, bool]:
    """`days` working days after `start`, and whether a provisional calendar year decided it."""
    cal = await calendar_store.working_calendar(session)
    return cal.add_working_days(start, days)
