"""Look-ahead loading: a list resolver loads what its items' fields will ask for, in one batch
each, and those fields then answer synchronously from the dataloader's cache.

An `async def` field costs a coroutine, a task and a gather slot per item even when its
dataloader already holds the value: twenty rows with three such fields are sixty tasks. A
field written as `def f(self, info): return then(loader, key, shape)` answers at once when the
loader holds a settled value for `key`, and hands graphql-core an awaitable only when it does
not (the same batching then applies as before). The list resolver calls `prefetch` for the
fields the operation selects (`selected`), so on the front end's pages every item's fields are
settled before graphql-core completes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.dataloader import Batch, DataLoader, DefaultCache, LoaderTask, dispatch

T = TypeVar("T")
R = TypeVar("R")

LOOKAHEAD = True  # tests switch it off to compare: `selected` then reports nothing, so nothing is prefetched


class Loader(DataLoader):  # type: ignore[type-arg]
    """Strawberry's DataLoader with a leaner `load` (the one every field of a page calls): the
    cache's dict read and written directly, and no done-callback on each key's future. Strawberry
    adds one so that a batch whose futures are all cancelled is not fetched; each costs a
    scheduled call when the batch resolves, for every key of every request, and here nothing
    cancels a loader's futures but a request that is failing anyway (the batch then runs and its
    results go nowhere). Batching, caching, `prime` and `load_many` are Strawberry's."""

    def __init__(self, load_fn: Any, **kwargs: Any) -> None:
        super().__init__(load_fn=load_fn, **kwargs)
        self._lean = (self.cache and type(self.cache_map) is DefaultCache and kwargs.get("cache_key_fn") is None
                      and not self.max_batch_size)

    def load(self, key: Any) -> Any:
        if not self._lean:
            return super().load(key)
        cache = self.cache_map.cache_map
        future = cache.get(key)
        if future is not None and not future.cancelled():
            return future
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        cache[key] = future
        batch = self.batch
        if batch is None or batch.dispatched or not batch.tasks:
            batch = self.batch = Batch()
            dispatch(self, batch)
        batch.tasks.append(LoaderTask(key, future))
        return future


def settled(loader: Any, key: Any) -> tuple[bool, Any]:
    """(True, value) when the loader's cache holds a successfully settled result for key."""
    fut = loader.cache_map.get(key)
    if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
        return True, fut.result()
    return False, None


def then(loader: Any, key: Any, shape: Callable[[Any], R]) -> R | Awaitable[R]:
    """shape(value) now if the loader already holds key's value, else a future of it.

    A future chained to the loader's, not a coroutine: graphql-core gathers a parent's pending
    fields, and a coroutine there becomes a task of its own (created, scheduled, stepped twice)
    where a future is awaited as it is. The key is registered with the loader now either way,
    so the batch is the same."""
    ok, value = settled(loader, key)
    if ok:
        return shape(value)
    pending = loader.load(key)
    out = pending.get_loop().create_future()

    def deliver(done: Any) -> None:
        if out.done():  # cancelled: the field's parent failed and gave up on it
            return
        if done.cancelled():
            out.cancel()
            return
        error = done.exception()
        if error is not None:
            out.set_exception(error)
            return
        try:
            out.set_result(shape(done.result()))
        except Exception as e:  # noqa: BLE001 - the field's error, raised where graphql-core awaits it
            out.set_exception(e)

    pending.add_done_callback(deliver)
    return out


async def prefetch(loader: Any, keys: Iterable[Any]) -> None:
    """Load every key not yet in the loader's cache, as one batch."""
    missing = list(dict.fromkeys(k for k in keys if loader.cache_map.get(k) is None))
    if missing:
        await settle_all([loader.load(k) for k in missing])


async def settle_all(futures: list[Any]) -> list[Any]:
    """The results of futures already registered with their loaders, in order: as
    `asyncio.gather` would give them, without its callback per future and its own future (the
    futures of one batch settle together, so after the first wait the rest are done). The first
    error is raised; the others' are marked retrieved, as gather marks them."""
    out = []
    try:
        for f in futures:
            out.append(await f)
    except BaseException:
        for f in futures:
            f.add_done_callback(retrieve)
        raise
    return out


def retrieve(fut: Any) -> None:
    """Mark a settled future's error retrieved (no "exception was never retrieved" when it is
    collected): its error is reported elsewhere, or by whoever runs the work again."""
    if fut.done() and not fut.cancelled():
        fut.exception()


def selected(info: Any, *path: str) -> frozenset[str]:
    """Names of the fields selected at `path` below the current field (fragments and inline
    fragments included; directives are not evaluated, so a field under @skip still counts,
    which errs on the side of loading)."""
    if not LOOKAHEAD:
        return frozenset()
    raw = getattr(info, "_raw_info", info)
    fragments = raw.fragments
    level: list[Any] = [n.selection_set for n in raw.field_nodes if n.selection_set is not None]
    for step in path:
        nxt: list[Any] = []
        for field in _fields(level, fragments):
            if field.name.value == step and field.selection_set is not None:
                nxt.append(field.selection_set)
        level = nxt
    return frozenset(f.name.value for f in _fields(level, fragments))


def _fields(selection_sets: list[Any], fragments: dict[str, Any]) -> list[FieldNode]:
    out: list[FieldNode] = []
    stack = list(selection_sets)
    seen: set[str] = set()
    while stack:
        ss = stack.pop()
        for sel in ss.selections:
            if isinstance(sel, FieldNode):
                out.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                stack.append(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)
    return out


def member_of(enum_cls: Any) -> Callable[[Any], Any]:
    """The member of `enum_cls` with a stored value, by one dict lookup (`enum_cls(value)` goes
    through the enum metaclass, about five times dearer, for every row a page builds). An unknown
    value raises ValueError, as `enum_cls(value)` does."""
    members = {m.value: m for m in enum_cls}
    name = enum_cls.__name__

    def member(value: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid {name}") from None

    return member
