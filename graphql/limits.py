"""Per-user and per-tenant rate limits in Redis (fixed one-minute windows) with Retry-After."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("ducha.limits")

_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class Refusal:
    scope: str
    limit: int
    retry_after: int


async def check(redis: Any, *, user_id: int, tenant_id: int, per_user: int, per_tenant: int,
                window_s: int = 60) -> Refusal | None:
    """Count this request; a Refusal when the user's or the tenant's window is full.

    Redis away: the request passes (rate limiting is protection, not correctness) and it is logged.
    """
    if per_user <= 0 and per_tenant <= 0:
        return None
    now = int(time.time())
    window = now // window_s
    retry = window_s - now % window_s
    try:
        for scope, key, limit in (("user", f"ducha:rl:u:{user_id}:{window}", per_user),
                                  ("tenant", f"ducha:rl:t:{tenant_id}:{window}", per_tenant)):
            if limit <= 0:
                continue
            n = int(await redis.eval(_SCRIPT, 1, key, window_s + 1))
            if n > limit:
                return Refusal(scope, limit, retry)
    except Exception:  # noqa: BLE001
        log.warning("rate limit check skipped: Redis unavailable")
    return None
