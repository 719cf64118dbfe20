"""Outbox handlers of the escalation ladder, registered in workers/handlers.py's registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import documents, escalation
from ducha.workers.handlers import handler


@handler(escalation.DELIVER)
async def deliver_rung(session: AsyncSession, tenant_id: int, outbox_id: int, payload: dict[str, Any]) -> None:
    """Deliver an issued rung and queue its document (督办函, 约谈通知); runs once per job."""
    eid = int(payload["escalation_id"])
    if await escalation.deliver(session, tenant_id, eid):
        rec = await escalation.get_record(session, eid)
        await documents.queue_for_escalation(session, tenant_id, eid, rec.rung)
