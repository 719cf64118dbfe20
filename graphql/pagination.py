"""Relay-style connections with keyset cursors and a page cap."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

T = TypeVar("T")


class PageError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of items, newest ids last; pass `endCursor` as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items match the filter, across all pages.")
    async def total_count(self) -> int:
        return await self._count()


def encode_cursor(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        k, _, v = raw.partition(":")
        if k != kind:
            raise ValueError
        return int(v)
    except (ValueError, UnicodeDecodeError):
        raise PageError("after", "malformed cursor; pass a cursor from pageInfo.endCursor") from None


def check_first(first: int, cap: int) -> int:
    if first < 1 or first > cap:
        raise PageError("first", f"first must be between 1 and {cap}")
    return first


def build(
    kind: str, rows: Sequence[T], first: int, key: Callable[[T], int], count: Callable[[], Awaitable[int]],
    after: int | None,
) -> Connection[T]:
    """`rows` holds up to first+1 rows fetched in key order; the extra one only signals a next page."""
    page = list(rows[:first])
    edges = [Edge(cursor=encode_cursor(kind, key(r)), node=r) for r in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _count=count,
    )
