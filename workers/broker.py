"""The Dramatiq broker on Redis. Redis is only the wake-up; PostgreSQL holds the truth."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from ducha.settings import get_settings

_broker: RedisBroker | None = None


def get_broker() -> RedisBroker:
    """The process's broker (made once, from REDIS_URL) and set as Dramatiq's global one."""
    global _broker
    if _broker is None:
        url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
        # heartbeat_timeout: a killed worker's unacked messages come back after this; the
        # outbox reconciler re-sends anyway, so it is a latency knob, not a safety one.
        _broker = RedisBroker(url=url, namespace="ducha", heartbeat_timeout=30_000)
        _broker.add_middleware(AsyncIO())
        dramatiq.set_broker(_broker)
    return _broker
