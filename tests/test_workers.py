"""The outbox path end to end: a role change is committed with its job, the relay sends it
through Redis, a Dramatiq worker applies it once; one scheduler leads however many run."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from ducha.services import outbox
from ducha.workers import jobs, relay, scheduler

GRANT = """mutation { grantRole(input: {login: "jiayu.xinjie", role: AGENCY_LEADER, regionCode: "421221104"}) { __typename } }"""
REVOKE = GRANT.replace("grantRole", "revokeRole")


async def _inbox(db, login):
    async with db.system_session() as s:
        return (await s.execute(text(
            "SELECT n.kind, n.title FROM notification n JOIN app_user u ON u.id = n.user_id WHERE u.login = :l ORDER BY n.id"),
            {"l": login})).all()




async def _drain(db, *, until, timeout=15.0):
    deadline = time.monotonic() + timeout
    send = relay.dramatiq_sender()
    while time.monotonic() < deadline:
        await relay.relay_once(db, send)
        if await until():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_role_change_notifies_the_user_through_redis_and_a_worker(gql, db, worker):
    before = len(await _inbox(db, "jiayu.xinjie"))
    assert (await gql.data("jiayu.office", GRANT))["grantRole"]["__typename"] == "RoleGrantChanged"

    async def arrived() -> bool:
        return len(await _inbox(db, "jiayu.xinjie")) == before + 1

    assert await _drain(db, until=arrived)
    kind, title = (await _inbox(db, "jiayu.xinjie"))[-1]
    assert kind == "role_changed" and "单位负责人" in title
    await gql.data("jiayu.office", REVOKE)


async def test_a_duplicate_delivery_has_no_second_effect(db, demo):
    async with db.system_session() as s:
        tenant, user = (await s.execute(text(
            "SELECT tenant_id, id FROM app_user WHERE login = 'jiayu.court'"))).one()
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="dup-test",
                             payload={"user_id": user, "role": "inspector", "region_code": "421221", "change": "granted"})
        oid = (await s.execute(text("SELECT id FROM outbox WHERE dedup_key = 'dup-test'"))).scalar_one()
        # the same dedup key twice is one row
        assert not await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="dup-test", payload={})
    before = len(await _inbox(db, "jiayu.court"))
    results = await asyncio.gather(*(jobs.run_job(db, tenant, oid) for _ in range(5)))
    assert sorted(results) == ["done", "skipped", "skipped", "skipped", "skipped"]
    assert len(await _inbox(db, "jiayu.court")) == before + 1


async def test_failing_jobs_retry_then_become_dead_letters(db, demo):
    async with db.system_session() as s:
        tenant = (await s.execute(text("SELECT tenant_id FROM app_user WHERE login = 'jiayu.court'"))).scalar_one()
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="poison", payload={"user_id": "x"})
        oid = (await s.execute(text("SELECT id FROM outbox WHERE dedup_key = 'poison'"))).scalar_one()
    for _ in range(jobs.MAX_ATTEMPTS):
        with pytest.raises(Exception):
            await jobs.run_job(db, tenant, oid)
    async with db.system_session() as s:
        row = (await s.execute(text("SELECT attempts, dead_at IS NOT NULL AS dead, last_error FROM outbox WHERE id = :i"),
                               {"i": oid})).one()
    assert row.attempts == jobs.MAX_ATTEMPTS and row.dead and row.last_error
    assert await jobs.run_job(db, tenant, oid) == "skipped"


async def test_relay_resends_what_redis_lost(db, demo):
    async with db.system_session() as s:
        tenant = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="lost-msg", payload={})
    sent: list[tuple[int, int]] = []
    assert await relay.relay_once(db, lambda t, i: sent.append((t, i)), resend_after_s=3600) >= 1
    n = len(sent)
    # not done, but sent recently: not re-sent yet
    await relay.relay_once(db, lambda t, i: sent.append((t, i)), resend_after_s=3600)
    assert len(sent) == n
    # the message was lost (Redis flushed): after the resend interval it goes again
    await relay.relay_once(db, lambda t, i: sent.append((t, i)), resend_after_s=0)
    assert any(i for _, i in sent[n:])
    async with db.system_session() as s:
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE done_at IS NULL AND dead_at IS NULL"))


async def test_each_resend_waits_twice_as_long(db, demo):
    """Copies of copies wait longer: a row sent 3 times waits 4x the interval before a 4th."""
    async with db.system_session() as s:
        tenant = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="slow-worker", payload={})
        await s.execute(text("UPDATE outbox SET sent_at = now() - interval '100 seconds', send_count = 3"
                             " WHERE dedup_key = 'slow-worker'"))
        oid = (await s.execute(text("SELECT id FROM outbox WHERE dedup_key = 'slow-worker'"))).scalar_one()
    sent: list[int] = []
    await relay.relay_once(db, lambda t, i: sent.append(i), resend_after_s=30)  # 100 s < 30 s x 4
    assert oid not in sent
    await relay.relay_once(db, lambda t, i: sent.append(i), resend_after_s=20)  # 100 s > 20 s x 4
    assert oid in sent
    async with db.system_session() as s:
        assert (await s.execute(text("SELECT send_count FROM outbox WHERE id = :i"), {"i": oid})).scalar_one() == 4
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE id = :i"), {"i": oid})


async def test_exactly_one_scheduler_leads(db, demo):
    ran: list[str] = []
    stops = {name: asyncio.Event() for name in ("a", "b", "c")}

    def sender(name):
        def send(t, i):
            ran.append(name)
        return send

    async with db.system_session() as s:
        tenant = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="leader-1", payload={})
    tasks = {n: asyncio.create_task(scheduler.run(db, relay_every_s=0.05, stop=e, send=sender(n)))
             for n, e in stops.items()}
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert len(set(ran)) == 1, ran
    leader = ran[0]
    # the leader stops: another takes over and relays the next row
    stops[leader].set()
    await tasks[leader]
    async with db.system_session() as s:
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE dedup_key = 'leader-1'"))
        await outbox.enqueue(s, tenant_id=tenant, actor="role_changed", dedup_key="leader-2", payload={})
    ran.clear()
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.05)
    assert len(set(ran)) == 1 and ran[0] != leader
    for e in stops.values():
        e.set()
    await asyncio.gather(*tasks.values())
    async with db.system_session() as s:
        await s.execute(text("UPDATE outbox SET done_at = now() WHERE done_at IS NULL AND dead_at IS NULL"))
