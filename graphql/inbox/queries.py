"""Inbox queries: the unread count and the notifications, newest first."""

from __future__ import annotations

import strawberry

from ducha.graphql import pagination
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input
from ducha.graphql.inbox.types import Notification
from ducha.services import inbox as svc


@strawberry.type
class InboxQuery:
    @strawberry.field(description="Unread notifications addressed to the caller or its agencies.")
    async def unread_count(self, info: Info) -> int:
        return await svc.unread_count(info.context.session, info.context.scope)

    @strawberry.field(description="The caller's inbox, newest first; pass endCursor as `after` for older ones.")
    async def inbox(self, info: Info, first: int = 20, after: str | None = None,
                    unread_only: bool = False) -> pagination.Connection[Notification]:
        ctx = info.context
        try:
            n = pagination.check_first(first, ctx.settings.max_page_size)
            before = pagination.decode_cursor("notification", after)
        except pagination.PageError as e:
            raise bad_input(e.field, str(e)) from None
        items, more = await svc.page(ctx.session, ctx.scope, first=n, before_id=before, unread_only=unread_only)

        async def count() -> int:
            return await svc.count(ctx.session, ctx.scope, unread_only=unread_only)

        nodes = [Notification.from_item(i) for i in items]
        # newest first: the extra row only signals more; build() takes rows up to first+1
        return pagination.build("notification", nodes + ([nodes[-1]] if more else []), n, lambda x: int(x.id),
                                count, before)
