"""The persisted inbox: notifications written in the same transaction as their cause."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base


class Notification(Base):
    __tablename__ = "notification"

    tenant_id: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    kind: Mapped[str]
    title: Mapped[str]
    body: Mapped[str] = mapped_column(default="")
    subject_type: Mapped[str | None]
    subject_id: Mapped[int | None]
    dedup_key: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    read_at: Mapped[datetime | None]


async def notify(
    session: AsyncSession,
    *,
    tenant_id: int,
    kind: str,
    title: str,
    dedup_key: str,
    body: str = "",
    user_id: int | None = None,
    agency_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
) -> bool:
    """Add one notification unless its dedup_key exists; True if it was added (idempotent)."""
    stmt = (
        insert(Notification)
        .values(
            tenant_id=tenant_id,
            kind=kind,
            title=title,
            body=body,
            user_id=user_id,
            agency_id=agency_id,
            subject_type=subject_type,
            subject_id=subject_id,
            dedup_key=dedup_key,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedup_key"])
        .returning(Notification.id)
    )
    return (await session.execute(stmt)).first() is not None


async def unread_count(session: AsyncSession, user_id: int, agency_id: int | None) -> int:
    cond = Notification.user_id == user_id
    if agency_id is not None:
        cond = cond | (Notification.agency_id == agency_id)
    stmt = select(func.count()).select_from(Notification).where(cond, Notification.read_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def mark_read(session: AsyncSession, user_id: int, ids: list[int]) -> int:
    stmt = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.read_at.is_(None))
        .values(read_at=func.now())
    )
    return (await session.execute(stmt)).rowcount  # type: ignore[attr-defined, no-any-return]
