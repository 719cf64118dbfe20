"""Where the cycle meets the deadline registry that the escalation ladder watches."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession


async def deadline_opened(session: AsyncSession, *, tenant_id: int, subject_type: str, subject_id: int,
                          agency_id: int, due_on: date, provisional: bool, title: str,
                          basis_on: date | None = None, rule_days: int = 0) -> None:
    """Register something due by a unit, so overdue items climb the escalation ladder.

    With basis_on/rule_days the deadline is 'N working days after basis_on', recomputed when
    an official calendar replaces a provisional year; without, it is a fixed date.
    """
    from ducha.services import deadlines

    rule = {"rule": "working_days", "basis_on": basis_on, "rule_days": rule_days} if basis_on else {}
    await deadlines.track(session, tenant_id=tenant_id, subject_type=subject_type, subject_id=subject_id,
                          agency_id=agency_id, due_on=due_on, provisional=provisional, title=title, **rule)


async def deadline_closed(session: AsyncSession, *, tenant_id: int, subject_type: str, subject_id: int) -> None:
    """The unit delivered: the climb stops."""
    from ducha.services import deadlines

    await deadlines.close(session, subject_type, subject_id, tenant_id)
