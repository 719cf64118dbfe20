"""The shape of every mutation: run one service call in a savepoint, map failures to types.

A failure rolls the savepoint back, so an error member never leaves a partial write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

from ducha.graphql.context import Info
from ducha.graphql.errors import conflict, invalid, invalid_transition, not_allowed, not_found
from ducha.policies.authz import NotAllowed as NotAllowedError
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, NotWritable, TransitionError

T = TypeVar("T")


class _Failed(Exception):
    def __init__(self, member: Any) -> None:
        self.member = member


def error_member(exc: BaseException) -> Any | None:
    """The typed error for a domain failure, or None where it is a bug (re-raised)."""
    if isinstance(exc, NotAllowedError):
        return not_allowed(exc.action, exc.resource)
    if isinstance(exc, NotWritable):
        return not_allowed("update", exc.what, str(exc))
    if isinstance(exc, NotFoundError):
        return not_found(exc.what, exc.id)
    if isinstance(exc, InvalidInput):
        return invalid(exc.field.split("."), exc.message)
    if isinstance(exc, ConflictError):
        return conflict(str(exc))
    if isinstance(exc, TransitionError):
        return invalid_transition(exc.state, exc.action, str(exc))
    if type(exc).__name__ == "FileIntegrityError":
        return conflict(f"stored file failed its integrity check: {exc}")
    if isinstance(exc, IntegrityError):
        return conflict("this conflicts with data that already exists")
    if isinstance(exc, DBAPIError) and "row-level security" in str(exc.orig):
        return not_allowed("write", "row", "outside your scope")
    if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
        # a data exception the validation let through: NUL or an unpaired surrogate in text
        # (JSON may carry both; PostgreSQL stores neither), a number out of a column's range
        return invalid("input", "a value cannot be stored as given (NUL, unpaired surrogate or out of range)")
    return None


async def run(info: Info, action: Callable[[], Awaitable[T]]) -> T | Any:
    """Run `action` in a savepoint of the request's transaction; typed error member on failure."""
    session = info.context.session
    try:
        async with session.begin_nested():
            try:
                return await action()
            except Exception as e:  # noqa: BLE001 - mapped or re-raised below
                member = error_member(e)
                if member is None:
                    raise
                raise _Failed(member) from e
    except _Failed as f:
        return f.member
