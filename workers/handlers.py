"""What each outbox job does. A handler runs inside the transaction that marks its row done,
so a second delivery finds the row done and has no second effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.roles import ROLES, Role
from ducha.services.notifications import notify

Handler = Callable[[AsyncSession, int, int, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@handler("role_changed")
async def role_changed(session: AsyncSession, tenant_id: int, outbox_id: int, payload: dict[str, Any]) -> None:
    """Tell a user that a role was granted to or revoked from them."""
    role = ROLES[Role(payload["role"])].label
    verb = "授予" if payload["change"] == "granted" else "撤销"
    await notify(
        session,
        tenant_id=tenant_id,
        user_id=int(payload["user_id"]),
        kind="role_changed",
        title=f"角色变更：已{verb}「{role}」（{payload['region_code']}）",
        body=f"由 {payload.get('by', '系统')} 操作。",
        dedup_key=f"outbox:{outbox_id}",
    )
