"""The escalation ladder: overdue deadlines climb reminder → supervision letter → interview →
public criticism → referral, driven by the sweeper with a fixed 'today'; leaders decide the
later rungs, suspend and extend; rectifying stops the climb; nothing happens twice; and with
Redis away, mutations still succeed and their jobs run once it is back."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from ducha.services import calendar_store, deadlines, escalation
from ducha.workers import jobs, relay

ESC = "__typename ... on Escalation { id rung status } ... on UserError { code message }"
DL = "__typename ... on Deadline { id dueOn rung suspendedAt nextRungOn } ... on UserError { code message }"


async def _cal(db):
    async with db.system_session() as s:
        return await calendar_store.working_calendar(s)


async def _one(db, sql: str, **params: Any) -> Any:
    async with db.system_session() as s:
        return (await s.execute(text(sql), params)).first()


async def _agency(db, name: str) -> tuple[int, int]:
    r = await _one(db, "SELECT id, tenant_id FROM agency WHERE name = :n", n=name)
    return r.id, r.tenant_id


async def _rungs(db, deadline_id: int) -> list[tuple[int, str]]:
    async with db.system_session() as s:
        rows = (await s.execute(text("SELECT rung, status FROM escalation WHERE deadline_id = :d ORDER BY rung"),
                                {"d": deadline_id})).all()
    return [(r.rung, r.status) for r in rows]


async def _track(db, agency: str, due: date, subject_id: int, title: str) -> int:
    aid, tid = await _agency(db, agency)
    async with db.system_session() as s:
        return await deadlines.track(s, tenant_id=tid, subject_type="test.item", subject_id=subject_id,
                                     agency_id=aid, due_on=due, provisional=False, title=title)


async def sweep(db, today: date) -> escalation.SweepResult:
    return await escalation.sweep(db, today)


async def test_a_late_receipt_climbs_the_ladder(gql, db):
    reg = await gql.data("jiayu.office", """mutation { registerClue(input: {source: PETITION, importance: IMPORTANT,
        discoveredOn: "2025-05-06", title: "信访反映某干部违规", content: "需移送纪委"}) { ... on Clue { id } } }""")
    cid = reg["registerClue"]["id"]
    t = await gql.data("jiayu.office", "query($c: ID!) { clueTransferTargets(clueId: $c) { id } }", {"c": cid})
    await gql.data("jiayu.office", "mutation($c: ID!, $r: ID!) { transferClue(input: {clueId: $c, receiverAgencyId: $r})"
                                   " { __typename } }", {"c": cid, "r": t["clueTransferTargets"][0]["id"]})
    d = await gql.data("jiayu.office", """query { deadlines(first: 100, filter: {subjectType: "clue.receipt", open: true})
        { edges { node { id title dueOn rung agency { name } } } } }""")
    node = next(e["node"] for e in d["deadlines"]["edges"] if "信访反映某干部违规" in e["node"]["title"])
    did, due = int(node["id"]), date.fromisoformat(node["dueOn"])
    assert node["agency"]["name"] == "嘉鱼县纪委监委"
    cal = await _cal(db)
    assert cal.working_days_between(calendar_store.today(), due) == 3  # receipt within 3 working days

    def past(n: int) -> date:
        return cal.add_working_days(due, n)[0]

    await sweep(db, due)
    assert await _rungs(db, did) == []
    await sweep(db, past(1))
    assert await _rungs(db, did) == [(1, "issued")]
    inbox = await gql.data("jiayu.discipline", "{ unreadCount inbox(first: 50) { edges { node { kind title } } } }")
    assert any(e["node"]["kind"] == "escalation.reminder" and "【催办】线索签收：信访反映某干部违规" in e["node"]["title"]
               for e in inbox["inbox"]["edges"])
    # the same day swept again: no second record, notice or job
    before = await _one(db, "SELECT (SELECT count(*) FROM notification) n, (SELECT count(*) FROM outbox) o")
    await sweep(db, past(1))
    after = await _one(db, "SELECT (SELECT count(*) FROM notification) n, (SELECT count(*) FROM outbox) o")
    assert await _rungs(db, did) == [(1, "issued")] and tuple(before) == tuple(after)
    await sweep(db, past(3))
    assert await _rungs(db, did) == [(1, "issued"), (2, "issued")]
    # the interview waits for the office leader; meanwhile the climb halts
    await sweep(db, past(5))
    assert await _rungs(db, did) == [(1, "issued"), (2, "issued"), (3, "proposed")]
    office = await gql.data("jiayu.leader", "{ inbox(first: 50) { edges { node { kind title } } } }")
    assert any(e["node"]["kind"] == "escalation.interview.proposed" for e in office["inbox"]["edges"])
    await sweep(db, past(12))
    assert len(await _rungs(db, did)) == 3
    pending = await gql.data("jiayu.leader", "{ escalations(first: 100, filter: {status: PROPOSED}) { edges { node { id rung "
                                             "deadline { id } } } } }")
    proposal = next(e["node"] for e in pending["escalations"]["edges"] if e["node"]["deadline"]["id"] == str(did))
    assert proposal["rung"] == "INTERVIEW"
    decide = f"mutation($i: DecideEscalationInput!) {{ decideEscalation(input: $i) {{ {ESC} }} }}"
    # office staff may not decide rungs; the leader may
    r = await gql.data("jiayu.office", decide, {"i": {"escalationId": proposal["id"], "approve": True}})
    assert r["decideEscalation"]["__typename"] == "NotAllowed"
    r = await gql.data("jiayu.leader", decide, {"i": {"escalationId": proposal["id"], "approve": True, "reason": "约谈主要负责人"}})
    assert r["decideEscalation"]["status"] == "ISSUED"
    r = await gql.data("jiayu.leader", decide, {"i": {"escalationId": proposal["id"], "approve": False, "reason": "x"}})
    assert r["decideEscalation"]["__typename"] == "InvalidTransition"
    assert await _one(db, "SELECT 1 FROM outbox WHERE dedup_key = :k", k=f"escalation.deliver:{proposal['id']}")
    # the climb resumes: public criticism is past its threshold already
    await sweep(db, past(12))
    assert (await _rungs(db, did))[-1] == (4, "proposed")
    crit = (await _one(db, "SELECT id FROM escalation WHERE deadline_id = :d AND rung = 4", d=did)).id
    r = await gql.data("jiayu.leader", decide, {"i": {"escalationId": str(crit), "approve": False}})
    assert r["decideEscalation"]["__typename"] == "ValidationError"  # declining needs a reason
    r = await gql.data("jiayu.leader", decide, {"i": {"escalationId": str(crit), "approve": False, "reason": "已约谈，暂不通报"}})
    assert r["decideEscalation"]["status"] == "DECLINED"
    await sweep(db, past(15))
    assert (await _rungs(db, did))[-1] == (5, "proposed")
    # the target sees the rungs addressed to it; a peer county sees none
    seen = await gql.data("jiayu.discipline", "{ escalations(first: 100) { edges { node { deadline { id } } } } }")
    assert sum(e["node"]["deadline"]["id"] == str(did) for e in seen["escalations"]["edges"]) == 5
    peer = await gql.data("yunxi.office", "{ escalations(first: 100) { edges { node { id } } } deadlines(first: 100)"
                                          " { edges { node { title } } } }")
    assert "信访反映某干部违规" not in str(peer)
    # signing for the clue at last stops the climb and cancels the pending referral
    r = await gql.data("jiayu.discipline", "mutation($c: ID!) { receiveClue(clueId: $c) { __typename } }", {"c": cid})
    assert r["receiveClue"]["__typename"] == "Clue"
    assert (await _rungs(db, did))[-1] == (5, "cancelled")
    await sweep(db, past(40))
    assert len(await _rungs(db, did)) == 5


async def test_rectifying_stops_the_climb(db, demo):
    did = await _track(db, "新街镇人民政府", date(2025, 3, 3), 1001, "整改措施：完善执法公示")
    await sweep(db, date(2025, 3, 4))
    assert await _rungs(db, did) == [(1, "issued")]
    aid, tid = await _agency(db, "新街镇人民政府")
    async with db.system_session() as s:
        assert await deadlines.close(s, "test.item", 1001, tid, reason="rectified")
        assert not await deadlines.close(s, "test.item", 1001, tid, reason="again")
    await sweep(db, date(2025, 6, 30))
    assert await _rungs(db, did) == [(1, "issued")]


async def test_leader_suspends_resumes_and_extends_with_a_reason(gql, db):
    did = await _track(db, "新街镇人民政府", date(2025, 3, 3), 1002, "整改措施：规范行政处罚")
    def mut(t: str, f: str) -> str:
        return f"mutation($i: {t}!) {{ {f}(input: $i) {{ {DL} }} }}"

    suspend = mut("SuspendDeadlineInput", "suspendDeadline")
    r = await gql.data("jiayu.leader", suspend, {"i": {"deadlineId": str(did), "reason": " "}})
    assert r["suspendDeadline"]["__typename"] == "ValidationError"
    r = await gql.data("jiayu.office", suspend, {"i": {"deadlineId": str(did), "reason": "复核中"}})
    assert r["suspendDeadline"]["__typename"] == "NotAllowed"
    r = await gql.data("jiayu.leader", suspend, {"i": {"deadlineId": str(did), "reason": "涉及上级统一部署，暂停计时"}})
    assert r["suspendDeadline"]["suspendedAt"] is not None
    r = await gql.data("jiayu.leader", suspend, {"i": {"deadlineId": str(did), "reason": "again"}})
    assert r["suspendDeadline"]["__typename"] == "InvalidTransition"
    await sweep(db, date(2025, 5, 30))
    assert await _rungs(db, did) == []  # a suspended deadline does not climb
    # resumed four working days later: the due date moves by four working days
    cal = await _cal(db)
    later = cal.add_working_days(calendar_store.today(), 4)[0]
    leader = await _principal(db, "jiayu.leader")
    async with db.system_session() as s:
        moved = await escalation.resume(s, leader, did, reason="部署已明确，恢复计时", today=later)
    assert moved.due_on == cal.add_working_days(date(2025, 3, 3), 4)[0] and moved.suspended_at is None
    extend = mut("ExtendDeadlineInput", "extendDeadline")
    r = await gql.data("jiayu.leader", extend, {"i": {"deadlineId": str(did), "reason": "x", "newDueOn": "2025-01-01"}})
    assert r["extendDeadline"]["__typename"] == "ValidationError"
    r = await gql.data("jiayu.leader", extend, {"i": {"deadlineId": str(did), "reason": "申请延期获批", "workingDays": 5}})
    assert r["extendDeadline"]["dueOn"] == cal.add_working_days(moved.due_on, 5)[0].isoformat()
    new_due = date.fromisoformat(r["extendDeadline"]["dueOn"])
    await sweep(db, new_due)
    assert await _rungs(db, did) == []
    await sweep(db, cal.add_working_days(new_due, 1)[0])
    assert await _rungs(db, did) == [(1, "issued")]


async def _principal(db, login: str):
    from ducha.tenants.auth import load_identity

    async with db.system_session() as s:
        return (await load_identity(s, login)).principal


async def test_a_tenant_sets_its_own_ladder(gql, db):
    q = """mutation($i: EscalationPolicyInput!) { setEscalationPolicy(input: $i) { __typename
           ... on EscalationPolicy { customized rungs { rung thresholdWorkingDays automatic } }
           ... on ValidationError { fields { path } } } }"""
    bad = await gql.data("yunxi.office", q, {"i": {"thresholds": [1, 2, 2, 4, 5], "automatic": [True] * 5}})
    assert bad["setEscalationPolicy"]["fields"][0]["path"] == ["thresholds", "2"]
    no = await gql.data("yunxi.justice", q, {"i": {"thresholds": [1, 2, 3, 4, 5], "automatic": [True] * 5}})
    assert no["setEscalationPolicy"]["__typename"] == "NotAllowed"
    ok = await gql.data("yunxi.office", q, {"i": {"thresholds": [1, 2, 3, 4, 5],
                                                  "automatic": [True, True, True, False, True]}})
    assert ok["setEscalationPolicy"]["customized"]
    assert [r["automatic"] for r in ok["setEscalationPolicy"]["rungs"]] == [True, True, True, False, True]
    did = await _track(db, "郧西县司法局", date(2025, 3, 3), 1003, "自查报告")
    cal = await _cal(db)
    await sweep(db, cal.add_working_days(date(2025, 3, 3), 3)[0])
    # caught up in one sweep: every automatic rung up to the threshold passed
    assert await _rungs(db, did) == [(1, "issued"), (2, "issued"), (3, "issued")]
    await sweep(db, cal.add_working_days(date(2025, 3, 3), 9)[0])
    assert await _rungs(db, did) == [(1, "issued"), (2, "issued"), (3, "issued"), (4, "proposed")]
    # jiayu keeps the default ladder
    d = await gql.data("jiayu.office", "{ escalationPolicy { customized rungs { thresholdWorkingDays automatic } } }")
    assert d["escalationPolicy"]["customized"] is False
    assert [r["thresholdWorkingDays"] for r in d["escalationPolicy"]["rungs"]] == [1, 3, 5, 10, 15]


async def test_a_second_delivery_has_no_second_effect(db, demo):
    did = await _track(db, "新街镇人民政府", date(2025, 2, 3), 1004, "整改通知")
    await sweep(db, date(2025, 2, 5))
    rec = await _one(db, "SELECT tenant_id, id FROM escalation WHERE deadline_id = :d AND rung = 1", d=did)
    job = await _one(db, "SELECT id FROM outbox WHERE dedup_key = :k", k=f"escalation.deliver:{rec.id}")
    results = await asyncio.gather(*(jobs.run_job(db, rec.tenant_id, job.id) for _ in range(5)))
    assert sorted(results) == ["done", "skipped", "skipped", "skipped", "skipped"]
    again = await _one(db, "SELECT deliveries, delivered_at FROM escalation WHERE id = :i", i=rec.id)
    assert again.deliveries == 1 and again.delivered_at is not None




async def test_with_redis_away_mutations_succeed_and_jobs_run_once_it_is_back(gql, db, worker):
    from dramatiq.brokers.redis import RedisBroker

    from ducha.workers.actors import run_outbox

    did = await _track(db, "嘉鱼县人民法院", date(2025, 1, 6), 1005, "反馈逾期")
    await sweep(db, date(2025, 1, 20))
    proposal = await _one(db, "SELECT id FROM escalation WHERE deadline_id = :d AND status = 'proposed'", d=did)
    assert proposal is not None
    # Redis is unreachable: the leader's decision still commits, with its job in the outbox
    r = await gql.data("jiayu.leader", "mutation($i: ID!) { decideEscalation(input: {escalationId: $i, approve: true,"
                                       " reason: \"约谈\"}) { __typename } }", {"i": str(proposal.id)})
    assert r["decideEscalation"]["__typename"] == "Escalation"
    job = await _one(db, "SELECT tenant_id, id FROM outbox WHERE dedup_key = :k", k=f"escalation.deliver:{proposal.id}")
    away = RedisBroker(url="redis://127.0.0.1:1/0", socket_timeout=0.5)

    def send_nowhere(tenant_id: int, outbox_id: int) -> None:
        away.enqueue(run_outbox.message(tenant_id, outbox_id))

    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises: the relay gives up, rows stay
        await relay.relay_once(db, send_nowhere)
    row = await _one(db, "SELECT sent_at, done_at FROM outbox WHERE id = :i", i=job.id)
    assert row.sent_at is None and row.done_at is None
    # Redis is back: the relay sends, the worker applies it once
    send = relay.dramatiq_sender()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await relay.relay_once(db, send)
        done = await _one(db, "SELECT done_at FROM outbox WHERE id = :i", i=job.id)
        if done.done_at is not None:
            break
        await asyncio.sleep(0.1)
    rec = await _one(db, "SELECT deliveries, delivered_at FROM escalation WHERE id = :i", i=proposal.id)
    assert rec.deliveries == 1 and rec.delivered_at is not None


def test_the_sweeps_are_registered_with_the_single_scheduler():
    from ducha.workers.handlers import HANDLERS
    from ducha.workers.scheduler import PERIODIC

    assert ("escalation", 60) in [(name, every) for name, every, _ in PERIODIC]
    assert escalation.DELIVER in HANDLERS


async def test_dead_letters_are_listed_and_counted(gql, db):
    from ducha.services import outbox
    from ducha.workers import sweeps

    async with db.system_session() as s:
        tid = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        await outbox.enqueue(s, tenant_id=tid, actor="no.such.job", payload={}, dedup_key="dead-letter-test")
        oid = (await s.execute(text("SELECT id FROM outbox WHERE dedup_key = 'dead-letter-test'"))).scalar_one()
    assert await jobs.run_job(db, tid, oid) == "dead"
    health = await sweeps.outbox_health(db)
    assert health["dead"] >= 1 and sweeps.DEAD_LETTERS._value.get() >= 1
    q = "{ deadLetters(first: 100) { totalCount edges { node { id actor lastError } } } }"
    mine = (await gql.data("jiayu.office", q))["deadLetters"]["edges"]
    assert any(e["node"]["id"] == str(oid) and "no handler" in e["node"]["lastError"] for e in mine)
    assert (await gql.data("yunxi.office", q))["deadLetters"]["totalCount"] == 0 or all(
        e["node"]["id"] != str(oid) for e in (await gql.data("yunxi.office", q))["deadLetters"]["edges"])
    assert (await gql.data("jiayu.court", q))["deadLetters"]["totalCount"] == 0


async def test_two_sweeps_at_once_add_each_rung_once(db, demo):
    did = await _track(db, "新街镇人民政府", date(2025, 4, 1), 1006, "并发清扫")
    await asyncio.gather(*(sweep(db, date(2025, 4, 3)) for _ in range(3)))
    assert await _rungs(db, did) == [(1, "issued")]
    notices = await _one(db, "SELECT count(*) AS n FROM notification n JOIN escalation e ON e.id = n.subject_id"
                             " AND n.subject_type = 'escalation' WHERE e.deadline_id = :d", d=did)
    assert notices.n == 1
