"""The outbox: jobs written in the same transaction as the state change that causes them.

PostgreSQL is the truth; Redis only wakes workers. The relay (ducha.workers.relay) sends
unsent rows and re-sends rows a lost message left undone; handlers apply each row once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.workers.models import OutboxMessage


async def enqueue(
    session: AsyncSession, *, tenant_id: int, actor: str, payload: dict[str, Any], dedup_key: str
) -> bool:
    """Add a job unless one with this dedup_key exists in the tenant; True if added."""
    stmt = (
        insert(OutboxMessage)
        .values(tenant_id=tenant_id, actor=actor, payload=payload, dedup_key=dedup_key)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedup_key"])
        .returning(OutboxMessage.id)
    )
    return (await session.execute(stmt)).first() is not None
