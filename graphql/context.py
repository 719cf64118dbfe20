"""The per-request context: the caller's identity, its scoped transaction and dataloaders."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from ducha.db import Database
from ducha.settings import Settings
from ducha.tenants.auth import Identity
from ducha.tenants.principal import Principal
from ducha.tenants.scope import Scope

log = logging.getLogger(__name__)


@dataclass
class Context:
    request: Request | None
    settings: Settings
    db: Database
    session: AsyncSession
    identity: Identity
    redis: Any = None
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    loaders: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    operation: str | None = None
    errors: list[Any] = field(default_factory=list)
    _reads: AsyncSession | None = None
    _reads_exit: Any = None
    _reads_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the request's graphql-core executors (graphql/executor.py registers them), see close()
    executors: list[Any] = field(default_factory=list)

    async def read_session(self) -> AsyncSession:
        """Where roll-up reads go: the replica's read-only transaction when READ_DATABASE_URL is
        set (opened once per request, same RLS scope), else the request's own transaction."""
        if self.db.read is None:
            return self.session
        async with self._reads_lock:
            if self._reads is None:
                cm = self.db.scoped_read(self.scope)
                self._reads = await cm.__aenter__()
                self._reads_exit = cm.__aexit__
            return self._reads

    async def close(self) -> None:
        """The request is answered: end the replica transaction, if one was opened, and break
        the request's reference cycles (context -> loaders -> their closures -> resolve info ->
        context; an executor -> its async helpers, bound methods of itself), so that what the
        request built is freed by reference counting when it ends instead of waiting for the
        cyclic garbage collector, which under load cost about a seventh of the API's CPU."""
        self.loaders.clear()
        for executor in self.executors:
            executor.async_helpers = None
        self.executors.clear()
        if self._reads_exit is not None:
            exit_, self._reads_exit, self._reads = self._reads_exit, None, None
            await exit_(None, None, None)

    @property
    def principal(self) -> Principal:
        return self.identity.principal

    @property
    def scope(self) -> Scope:
        return self.identity.scope

    def loader(self, name: str, factory: Callable[[], Any]) -> Any:
        """One dataloader instance per request and name."""
        if name not in self.loaders:
            self.loaders[name] = factory()
        return self.loaders[name]


Info: TypeAlias = strawberry.Info[Context, None]


F = TypeVar("F", bound=Callable[..., Any])


def request_loader(name: str) -> Callable[[F], F]:
    """For a loader factory `f(info)` that registers its loader under `name` (Context.loader):
    the request's loader as it is when there is one, so a field resolved per item does not
    build the factory's closure again each time."""

    def wrap(factory: F) -> F:
        @functools.wraps(factory)
        def get(info: Any) -> Any:
            got = info.context.loaders.get(name)
            return got if got is not None else factory(info)

        return get  # type: ignore[return-value]

    return wrap


def publish_after_commit(redis: Any, user_id: int) -> Callable[[], Awaitable[None]]:
    """After the commit, tell every process that the user's grants changed (best effort:
    while Redis is away, watchers are unhealthy and caches expire within a second)."""

    async def publish() -> None:
        from ducha.policies.authz import get_authorizer
        from ducha.policies.watcher import publish_policy_change

        get_authorizer().invalidate_user(user_id)  # this process at once, the others via Redis
        if redis is None:
            return

        try:
            await publish_policy_change(redis, user_id)
        except Exception:  # noqa: BLE001 - the grant is committed; caches expire by themselves
            log.warning("could not publish a policy change for user %s", user_id, exc_info=True)

    return publish
