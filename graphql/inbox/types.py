"""GraphQL face of the inbox."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ducha.services import inbox as svc


@strawberry.type(description="A notification to the caller or to one of its agencies.")
class Notification:
    id: strawberry.ID
    kind: str = strawberry.field(description="e.g. clue.transferred, escalation.reminder, deadline.recomputed")
    title: str
    body: str
    subject_type: str | None = strawberry.field(description="What it is about (clue, escalation, deadline, ...).")
    subject_id: strawberry.ID | None
    created_at: datetime
    read: bool
    read_at: datetime | None

    @classmethod
    def from_item(cls, n: svc.Item) -> Notification:
        return cls(id=strawberry.ID(str(n.id)), kind=n.kind, title=n.title, body=n.body, subject_type=n.subject_type,
                   subject_id=strawberry.ID(str(n.subject_id)) if n.subject_id is not None else None,
                   created_at=n.created_at, read=n.read_at is not None, read_at=n.read_at)


@strawberry.type(description="How many notifications were newly marked read.")
class NotificationsMarked:
    count: int
    unread_count: int
