"""Retries with backoff through the real broker (issue 4, item 5): a job whose handler fails
twice is retried by Dramatiq on the real Redis with a growing delay, then succeeds once; its
outbox row counts every attempt, and the effect happens exactly once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import text

from ducha.services import outbox
from ducha.workers import jobs, relay
from ducha.workers.actors import run_outbox
from ducha.workers.handlers import HANDLERS

FLAKY = "test.audit46.flaky"




def test_the_actor_retries_with_exponential_backoff_as_often_as_the_outbox_allows():
    opts = run_outbox.options
    assert opts["max_retries"] == jobs.MAX_ATTEMPTS
    assert 0 < opts["min_backoff"] < opts["max_backoff"] <= 60_000


async def test_a_failing_job_is_retried_with_backoff_and_applied_once(db, demo, worker):
    calls: list[float] = []
    effects: list[int] = []

    async def flaky(session: Any, tenant_id: int, outbox_id: int, payload: dict[str, Any]) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError(f"transient failure {len(calls)}")
        effects.append(outbox_id)

    HANDLERS[FLAKY] = flaky
    try:
        async with db.system_session() as s:
            tenant = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
            await outbox.enqueue(s, tenant_id=tenant, actor=FLAKY, payload={}, dedup_key="audit46-flaky")
            oid = (await s.execute(text("SELECT id FROM outbox WHERE dedup_key = 'audit46-flaky'"))).scalar_one()
        # sent once; the relay's re-send (after 30 s) stays out of it
        send = relay.dramatiq_sender()
        async with db.system_session() as s:
            await s.execute(text("UPDATE outbox SET sent_at = now(), send_count = 1 WHERE id = :i"), {"i": oid})
        send(tenant, oid)
        deadline = time.monotonic() + 20
        row = None
        while time.monotonic() < deadline:
            async with db.system_session() as s:
                row = (await s.execute(text("SELECT attempts, done_at, dead_at, last_error FROM outbox WHERE id = :i"),
                                       {"i": oid})).one()
            if row.done_at is not None:
                break
            await asyncio.sleep(0.1)
        assert row is not None and row.done_at is not None, row
        assert row.attempts == 3 and row.dead_at is None and row.last_error is None
        assert effects == [oid] and len(calls) == 3
        gaps = [b - a for a, b in zip(calls, calls[1:])]
        # Dramatiq's backoff: min_backoff x 2^n x [1, 2) - at least 0.5 s, then at least 1 s
        assert gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps
        await asyncio.sleep(0.5)
        assert len(calls) == 3  # nothing more once done
    finally:
        HANDLERS.pop(FLAKY, None)
