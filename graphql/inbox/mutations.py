"""Inbox mutations: mark notifications read (each user for itself, read-only users too)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ducha.graphql import mutation
from ducha.graphql.context import Info
from ducha.graphql.errors import ValidationError
from ducha.graphql.inbox.types import NotificationsMarked
from ducha.services import inbox as svc
from ducha.services.errors import InvalidInput

MarkReadResult = Annotated[NotificationsMarked | ValidationError, strawberry.union("MarkReadResult")]


@strawberry.type
class InboxMutation:
    @strawberry.mutation(description="Mark notifications read for the caller; ids it cannot see are ignored.")
    async def mark_notifications_read(self, info: Info, ids: list[strawberry.ID]) -> MarkReadResult:
        ctx = info.context

        async def act() -> NotificationsMarked:
            if len(ids) > 500:
                raise InvalidInput("ids", "mark at most 500 at a time")
            if not all(str(i).isdigit() and len(str(i)) <= 18 for i in ids):
                raise InvalidInput("ids", "notification ids are numeric")
            n = await svc.mark_read(ctx.session, ctx.scope, [int(i) for i in ids])
            return NotificationsMarked(count=n, unread_count=await svc.unread_count(ctx.session, ctx.scope))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Mark the caller's whole inbox read.")
    async def mark_all_notifications_read(self, info: Info) -> MarkReadResult:
        ctx = info.context

        async def act() -> NotificationsMarked:
            n = await svc.mark_read(ctx.session, ctx.scope, None)
            return NotificationsMarked(count=0 if n < 0 else n, unread_count=await svc.unread_count(ctx.session, ctx.scope))

        return await mutation.run(info, act)
