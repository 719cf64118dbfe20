"""Grant changes reach every process through Redis within 2 s; a lost connection fails safe."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ducha.policies.authz import Authorizer
from ducha.policies.watcher import CHANNEL, PolicyWatcher, publish_policy_change
from ducha.tenants.principal import Principal, RoleGrant

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent
XIANNING = "420000/421200"
JIAYU = "420000/421200/421221"


@pytest.fixture
async def redis_client():
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await asyncio.wait_for(client.ping(), 2)
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        pytest.skip(f"no Redis answers at REDIS_URL={REDIS_URL}: {exc!r}")
    yield client
    await client.aclose()


def a_user_id() -> int:
    # Other test runs may share this Redis and channel: a user id nobody else publishes.
    return random.randrange(10**12, 10**13)


def inspector(user_id: int, *, grants: bool = True) -> Principal:
    g = (RoleGrant("inspector", "421200", XIANNING, 1),) if grants else ()
    return Principal(user_id, "u", "张三", 1, 1, XIANNING, g, grants_version=1)


class Heard:
    """Records a cache's invalidations and lets a test wait for one."""

    def __init__(self, authorizer: Authorizer) -> None:
        self.events: list[tuple[float, int | None]] = []
        self._changed = asyncio.Event()
        authorizer.cache.add_listener(self._on)

    def _on(self, user_id: int | None) -> None:
        self.events.append((time.monotonic(), user_id))
        self._changed.set()

    async def wait_for(self, user_id: int | None, timeout: float) -> float:
        """Monotonic time at which ``user_id`` was invalidated (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for at, uid in self.events:
                if uid == user_id:
                    return at
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no invalidation of {user_id} within {timeout}s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


async def test_two_processes_see_a_revoked_grant_within_two_seconds(redis_client):
    uid = a_user_id()
    authorizers = [Authorizer(), Authorizer()]  # two processes, each with its own cache
    watchers = [PolicyWatcher(a) for a in authorizers]
    heard = [Heard(a) for a in authorizers]
    try:
        for w in watchers:
            await w.start(REDIS_URL)
            assert w.healthy and w.authorizer.cache.trusted
        # Both caches hold "allowed"; then the grant is revoked (the caller still presents
        # the same grants_version, the worst case the watcher exists for).
        for a in authorizers:
            assert a.allowed(inspector(uid), "create", "problem", JIAYU)
            assert a.allowed(inspector(uid, grants=False), "create", "problem", JIAYU)
        sent = time.monotonic()
        reached = await publish_policy_change(redis_client, uid)
        assert reached >= 2
        seen = [await h.wait_for(uid, timeout=2.0) for h in heard]
        assert max(seen) - sent < 2.0
        for a in authorizers:
            assert not a.allowed(inspector(uid, grants=False), "create", "problem", JIAYU)
    finally:
        for w in watchers:
            await w.stop()


async def test_a_change_for_everyone_drops_every_cache(redis_client):
    channel = f"{CHANNEL}:test:{uuid.uuid4().hex}"
    authorizers = [Authorizer(), Authorizer()]
    watchers = [PolicyWatcher(a, channel=channel) for a in authorizers]
    heard = [Heard(a) for a in authorizers]
    try:
        for w in watchers:
            await w.start(REDIS_URL)
        for a in authorizers:
            a.allowed(inspector(1), "read", "plan", JIAYU)
            assert len(a.cache) == 1
        for h in heard:
            h.events.clear()
        sent = time.monotonic()
        await publish_policy_change(redis_client, None, channel=channel)
        seen = [await h.wait_for(None, timeout=2.0) for h in heard]
        assert max(seen) - sent < 2.0
        assert all(len(a.cache) == 0 for a in authorizers)
        assert all(w.messages == 1 for w in watchers)
    finally:
        for w in watchers:
            await w.stop()


async def test_a_watcher_in_another_process_sees_the_change(redis_client):
    uid = a_user_id()
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from ducha.policies.authz import Authorizer
        from ducha.policies.watcher import PolicyWatcher

        async def main():
            authorizer = Authorizer()
            seen = asyncio.Event()
            authorizer.cache.add_listener(lambda uid: uid == {uid} and seen.set())
            watcher = PolicyWatcher(authorizer)
            await watcher.start({REDIS_URL!r})
            print("READY" if watcher.healthy else "UNHEALTHY", flush=True)
            await asyncio.wait_for(seen.wait(), 10)
            print("SEEN {uid}", flush=True)
            await watcher.stop()

        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script,
        cwd="/",  # not the checkout root: the installed ducha package, as a worker sees it
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert first.strip() == b"READY", (first, await proc.stderr.read())
        sent = time.monotonic()
        assert await publish_policy_change(redis_client, uid) >= 1
        line = await asyncio.wait_for(proc.stdout.readline(), 5)
        elapsed = time.monotonic() - sent
        assert line.strip() == f"SEEN {uid}".encode(), (line, await proc.stderr.read())
        assert elapsed < 2.0
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_without_redis_the_cache_is_untrusted_and_nothing_is_cached():
    a = Authorizer()
    watcher = PolicyWatcher(a, ready_timeout=0.5, backoff_initial=0.05, backoff_max=0.2)
    try:
        await watcher.start("redis://127.0.0.1:1/0")  # nothing listens there
        assert not watcher.healthy
        assert watcher.running  # keeps retrying in the background
        assert not a.cache.trusted
        assert a.allowed(inspector(3), "create", "problem", JIAYU)
        assert not a.allowed(inspector(3, grants=False), "create", "problem", JIAYU)
        assert len(a.cache) == 0
        assert watcher.last_error is not None
    finally:
        await watcher.stop()
    assert not watcher.running


async def test_a_broken_connection_resubscribes_and_invalidates_everything(redis_client):
    channel = f"{CHANNEL}:test:{uuid.uuid4().hex}"
    a = Authorizer()
    heard = Heard(a)
    watcher = PolicyWatcher(a, channel=channel, backoff_initial=0.05)
    try:
        await watcher.start(REDIS_URL)
        assert watcher.healthy and watcher.connects == 1
        a.allowed(inspector(4), "read", "plan", JIAYU)
        assert len(a.cache) == 1
        heard.events.clear()
        killed = 0
        for client in await redis_client.client_list():
            if client.get("name") == f"ducha-policy-watcher:{channel}":
                killed += await redis_client.execute_command("CLIENT", "KILL", "ID", client["id"])
        assert killed == 1
        deadline = time.monotonic() + 5
        while watcher.connects < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert watcher.connects == 2 and watcher.healthy
        assert isinstance(watcher.last_error, Exception)
        # Messages sent while it was away are lost: it dropped everything on the way.
        assert None in [uid for _, uid in heard.events]
        assert len(a.cache) == 0
        # And it hears changes again.
        await publish_policy_change(redis_client, 42, channel=channel)
        await heard.wait_for(42, timeout=2.0)
    finally:
        await watcher.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs a redis-server binary")
async def test_a_silent_redis_is_detected_by_pings_and_fails_safe():
    """A Redis that stops answering but keeps the socket open (a stall, a partition)."""
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    a = Authorizer()
    watcher = PolicyWatcher(a, ping_interval=0.2, dead_after=1.0, backoff_initial=0.05, backoff_max=0.2)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not await watcher.wait_healthy(0) and time.monotonic() < deadline:
            if not watcher.running:
                await watcher.start(url)
            await asyncio.sleep(0.05)
        assert watcher.healthy
        server.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        while watcher.healthy and time.monotonic() - stopped < 5:
            await asyncio.sleep(0.02)
        assert not watcher.healthy and not a.cache.trusted
        assert time.monotonic() - stopped < 2.0
        a.allowed(inspector(5), "read", "plan", JIAYU)
        assert len(a.cache) == 0
        server.send_signal(signal.SIGCONT)
        assert await watcher.wait_healthy(5)
        assert a.cache.trusted and watcher.connects >= 2
    finally:
        await watcher.stop()
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(10)
