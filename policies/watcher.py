"""Redis pub/sub policy watcher: every API and worker process sees a grant or revoke fast.

Whoever changes a grant (after the database commit) calls :func:`publish_policy_change`;
every process runs one :class:`PolicyWatcher`, which drops the affected entries of its
authorizer's :class:`~ducha.policies.authz.DecisionCache`.

Pub/sub is fire-and-forget: a message sent while a subscriber is disconnected is lost. So
the watcher fails safe. While it is not subscribed (not yet connected, connection broken,
Redis silent past ``dead_after`` seconds despite pings) the cache is marked *untrusted*:
nothing is cached or served from cache, and principal loaders can see
``cache.trusted is False`` and reload grants. It resubscribes with capped exponential
backoff, and on every (re)subscription invalidates everything before trusting the cache
again, since messages may have been missed in between.

redis-py's own silent reconnect-and-resubscribe is switched off (``Retry(..., 0)``) for the
same reason: a reconnect it performed quietly would hide a window of missed messages.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from typing import Any

from ducha.policies.authz import Authorizer, get_authorizer

__all__ = ["CHANNEL", "PolicyWatcher", "publish_policy_change"]

log = logging.getLogger(__name__)

CHANNEL = "ducha:policy"


def _encode(user_id: int | None) -> str:
    return json.dumps({"user_id": user_id, "at": time.time()})


def _decode(data: Any) -> tuple[bool, int | None]:
    """(everyone?, user_id) from a message; anything unreadable means everyone (fail safe)."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        payload = json.loads(data)
        user_id = payload["user_id"]
        if user_id is None:
            return True, None
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            return True, None
        return False, user_id
    except Exception:  # noqa: BLE001
        log.warning("unreadable policy change message %r: invalidating everything", data)
        return True, None


async def publish_policy_change(redis: Any, user_id: int | None, *, channel: str = CHANNEL) -> int:
    """Tell every process that ``user_id``'s grants changed (``None``: everything did).

    ``redis`` is a ``redis.asyncio.Redis`` (or a sync ``redis.Redis``). Call it after the
    transaction that changed the grants has committed. Returns the number of subscribers
    reached.
    """
    result = redis.publish(channel, _encode(user_id))
    if inspect.isawaitable(result):
        result = await result
    return int(result)


class PolicyWatcher:
    """Subscribes to the policy channel and invalidates an authorizer's cache."""

    def __init__(
        self,
        authorizer: Authorizer | None = None,
        *,
        channel: str = CHANNEL,
        ping_interval: float = 1.0,
        dead_after: float = 3.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        connect_timeout: float = 2.0,
        ready_timeout: float = 5.0,
    ) -> None:
        self.authorizer = authorizer if authorizer is not None else get_authorizer()
        self.channel = channel
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.ready_timeout = ready_timeout
        self.redis_url: str | None = None
        self.messages = 0  # policy change messages handled
        self.connects = 0  # successful (re)subscriptions
        self.last_error: BaseException | None = None
        self._healthy = False
        self._healthy_event = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # Until the first subscription succeeds, invalidations could be missed.
        self.authorizer.cache.mark_untrusted()

    @property
    def healthy(self) -> bool:
        """Subscribed and hearing from Redis: the cache can be trusted."""
        return self._healthy

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, redis_url: str) -> None:
        """Start watching; waits up to ``ready_timeout`` s for the first subscription.

        If Redis does not answer in time it returns anyway, unhealthy, and keeps retrying in
        the background (the process runs, uncached, rather than not at all).
        """
        if self.running:
            raise RuntimeError("PolicyWatcher already started")
        self.redis_url = redis_url
        self._stopping = False
        self._task = asyncio.create_task(self._run(redis_url), name=f"policy-watcher:{self.channel}")
        await self.wait_healthy(self.ready_timeout)

    async def wait_healthy(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._healthy_event.wait(), timeout)
        except TimeoutError:
            pass
        return self._healthy

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._set_unhealthy(stopping=True)

    # internals -------------------------------------------------------------------------------

    def _set_healthy(self) -> None:
        # Messages may have been missed while we were not subscribed: mark_trusted drops
        # everything before trusting the cache again.
        self.authorizer.cache.mark_trusted()
        self._healthy = True
        self._healthy_event.set()

    def _set_unhealthy(self, *, stopping: bool = False) -> None:
        was = self._healthy
        self._healthy = False
        self._healthy_event.clear()
        # Nobody hears invalidations now (stopped included): cache nothing.
        self.authorizer.cache.mark_untrusted()
        if was and not stopping:
            log.warning("policy watcher lost Redis; authorization cache untrusted")

    def _handle(self, data: Any) -> None:
        everyone, user_id = _decode(data)
        self.messages += 1
        if everyone:
            self.authorizer.invalidate_all()
        else:
            assert user_id is not None
            self.authorizer.invalidate_user(user_id)

    async def _run(self, redis_url: str) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        backoff = self.backoff_initial
        while not self._stopping:
            client = None
            pubsub = None
            try:
                # TCP keepalive only where there is TCP (the embedded Redis is a unix socket).
                tcp = {} if redis_url.startswith("unix:") else {"socket_keepalive": True}
                client = Redis.from_url(
                    redis_url,
                    socket_connect_timeout=self.connect_timeout,
                    retry=Retry(NoBackoff(), 0),
                    client_name=f"ducha-policy-watcher:{self.channel}",
                    **tcp,
                )
                pubsub = client.pubsub()
                await asyncio.wait_for(pubsub.subscribe(self.channel), self.connect_timeout)
                await self._await_subscribed(pubsub)
                self.connects += 1
                self._set_healthy()
                log.info("policy watcher subscribed to %s", self.channel)
                backoff = self.backoff_initial
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: unhealthy, retry
                self.last_error = exc
                self._set_unhealthy()
                log.warning("policy watcher: %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
            finally:
                await self._close(pubsub, client)
            if self._stopping:
                break
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.backoff_max)

    async def _await_subscribed(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ConnectionError("no subscribe confirmation from Redis")
            msg = await pubsub.get_message(timeout=remaining)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                return
            if msg["type"] == "message":
                # Cannot happen before the confirmation, but never drop a change.
                self._handle(msg["data"])

    async def _listen(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        last_heard = last_ping = loop.time()
        poll = min(0.5, self.ping_interval)
        while not self._stopping:
            msg = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if msg is not None:
                last_heard = now
                if msg["type"] == "message":
                    self._handle(msg["data"])
                elif msg["type"] in ("unsubscribe", "punsubscribe"):
                    raise ConnectionError("unsubscribed from the policy channel")
                continue
            if now - last_heard > self.dead_after:
                raise ConnectionError(f"no answer from Redis for {now - last_heard:.1f}s")
            if now - last_ping >= self.ping_interval:
                last_ping = now
                await pubsub.ping()  # the pong arrives through get_message

    @staticmethod
    async def _close(pubsub: Any, client: Any) -> None:
        for closer in (pubsub, client):
            if closer is None:
                continue
            try:
                await asyncio.wait_for(closer.aclose(), 1.0)
            except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                pass
