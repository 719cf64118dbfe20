"""Outbox handlers of documents and exports, registered in workers/handlers.py's registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import documents, exports
from ducha.workers.handlers import handler


@handler(exports.PRODUCE)
async def produce_export(session: AsyncSession, tenant_id: int, outbox_id: int, payload: dict[str, Any]) -> None:
    """Write an export's file (once: a done job is left alone)."""
    await exports.produce(session, tenant_id, int(payload["export_id"]))


@handler(documents.RUNG_DOCUMENT)
async def write_rung_document(session: AsyncSession, tenant_id: int, outbox_id: int, payload: dict[str, Any]) -> None:
    """Write the document of a reached rung (once: a second run finds it written)."""
    await documents.issue_for_escalation(session, tenant_id, int(payload["escalation_id"]))
