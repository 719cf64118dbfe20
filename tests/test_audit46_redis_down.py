"""With Redis stopped, the mutations of issues 4 and 6 still succeed - a clue registered and
transferred, a leader's decision on an interview rung, an export requested - and their jobs run
once Redis is back: the rung is delivered once, its interview notice (约谈通知) writes itself, and
the export's workbook is produced and downloadable.

Runs against the private stack of tests/test_faults.py (its own PostgreSQL, Redis, API, worker
and scheduler as subprocesses), so that the shared Redis other tests use is never stopped.
"""

from __future__ import annotations

import asyncio
import io
import time

import httpx
from openpyxl import load_workbook

from ducha.services.calendar import WorkingCalendar, build_year
from ducha.services.calendar_store import today
from tests.test_faults import Stack, _post, stack  # noqa: F401 - `stack` is the module's fixture

JOBS_WITHIN_S = 30.0
E = "... on UserError { code message }"
REGISTER = ("mutation($i: RegisterClueInput!) { registerClue(input: $i) { __typename ... on Clue { id } " + E + " } }")
TARGETS = "query($c: ID!) { clueTransferTargets(clueId: $c) { id kind } }"
TRANSFER = ("mutation($c: ID!, $r: ID!) { transferClue(input: {clueId: $c, receiverAgencyId: $r}) { __typename "
            "... on Clue { state } " + E + " } }")
DECIDE = ("mutation($i: ID!) { decideEscalation(input: {escalationId: $i, approve: true, reason: \"约谈主要负责人\"}) {"
          " __typename ... on Escalation { status } " + E + " } }")
EXPORT = ("mutation { requestExport(input: {kind: CLUE_REGISTER, params: {regionCode: \"421221\"}}) { __typename "
          "... on ExportJob { id status } " + E + " } }")
JOB = "query($i: ID!) { exportJob(id: $i) { ... on ExportJob { status downloadUrl rowsTotal } } }"


async def _data(client: httpx.AsyncClient, stack: Stack, login: str, query: str,  # noqa: F811
                variables: dict | None = None) -> dict:
    r = await _post(client, stack, login, query, variables or {})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body.get("errors"), body
    return body["data"]


async def _proposed_interview(stack: Stack) -> int:  # noqa: F811
    """An overdue item of 新街镇 waiting at the interview rung for the leader (rows written as
    the sweep would have written them)."""
    day = today()
    cal = WorkingCalendar(r for y in (day.year - 1, day.year) for r in build_year(y))
    due = cal.add_working_days(day, -6)[0]
    conn = await stack.connect()
    try:
        tid = await conn.fetchval("SELECT id FROM tenant WHERE region_code = '421221'")
        aid = await conn.fetchval("SELECT id FROM agency WHERE name = '新街镇人民政府'")
        did = await conn.fetchval(
            "INSERT INTO deadline (tenant_id, subject_type, subject_id, title, agency_id, agency_tenant_id, rule,"
            " basis_on, due_on, rung, escalate_from) VALUES ($1, 'test.redis_down', 1, '整改措施：规范执法公示', $2, $1,"
            " 'fixed', $3, $3, 3, NULL) RETURNING id", tid, aid, due)
        return int(await conn.fetchval(
            "INSERT INTO escalation (tenant_id, deadline_id, rung, agency_id, agency_tenant_id, status, automatic,"
            " working_days_overdue, as_of) VALUES ($1, $2, 3, $3, $1, 'proposed', false, 6, $4) RETURNING id",
            tid, did, aid, day))
    finally:
        await conn.close()


async def _pending(stack: Stack) -> int:  # noqa: F811
    return int(await stack.scalar("SELECT count(*) FROM outbox WHERE done_at IS NULL AND dead_at IS NULL"))


async def test_with_redis_stopped_clue_escalation_and_export_mutations_succeed_and_their_jobs_run_after(stack):  # noqa: F811
    rung = await _proposed_interview(stack)
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        while await _pending(stack) and time.monotonic() - started < JOBS_WITHIN_S:
            await asyncio.sleep(0.2)  # nothing in flight when Redis goes
        jobs_before = int(await stack.scalar("SELECT count(*) FROM outbox"))
        stack.redis.stop()
        try:
            d = await _data(client, stack, "jiayu.court", REGISTER, {"i": {
                "source": "LITIGATION", "importance": "IMPORTANT", "discoveredOn": today().isoformat(),
                "title": "Redis停止时登记的线索", "content": "行政诉讼中发现的执法问题。"}})
            assert d["registerClue"]["__typename"] == "Clue", d
            cid = d["registerClue"]["id"]
            office = {t["kind"]: t["id"] for t in (await _data(client, stack, "jiayu.court", TARGETS, {"c": cid}))
                      ["clueTransferTargets"]}["OFFICE"]
            d = await _data(client, stack, "jiayu.court", TRANSFER, {"c": cid, "r": office})
            assert d["transferClue"] == {"__typename": "Clue", "state": "TRANSFERRED"}, d
            d = await _data(client, stack, "jiayu.leader", DECIDE, {"i": str(rung)})
            assert d["decideEscalation"] == {"__typename": "Escalation", "status": "ISSUED"}, d
            d = await _data(client, stack, "jiayu.office", EXPORT)
            assert d["requestExport"]["__typename"] == "ExportJob" and d["requestExport"]["status"] == "QUEUED", d
            job = d["requestExport"]["id"]
            # everything committed, with its notice; the jobs wait in the outbox, none could run
            assert await stack.scalar("SELECT count(*) FROM notification WHERE kind = 'clue.transferred'"
                                      " AND title LIKE '%Redis停止时登记的线索%'") == 1
            assert int(await stack.scalar("SELECT count(*) FROM outbox")) == jobs_before + 2  # the delivery, the export
            assert await stack.scalar("SELECT deliveries FROM escalation WHERE id = $1", rung) == 0
            assert await stack.scalar("SELECT status FROM export_job WHERE id = $1", int(job)) == "queued"
            await asyncio.sleep(1.5)  # the scheduler keeps trying to relay meanwhile
            assert await stack.scalar("SELECT count(*) FROM outbox WHERE done_at IS NOT NULL AND created_at >"
                                      " now() - interval '2 minutes'") == 0
        finally:
            stack.redis.start()
        back = time.monotonic()
        while time.monotonic() - back < JOBS_WITHIN_S:
            done = await stack.scalar("SELECT status FROM export_job WHERE id = $1", int(job)) == "done"
            letter = await stack.scalar("SELECT count(*) FROM document WHERE escalation_id = $1", rung)
            if done and letter and not await _pending(stack):
                break
            await asyncio.sleep(0.2)
        waited = time.monotonic() - back
        # each job ran once: one delivery, one notice, no dead letter
        assert await stack.scalar("SELECT deliveries FROM escalation WHERE id = $1", rung) == 1
        assert await stack.scalar("SELECT count(*) FROM document WHERE escalation_id = $1 AND kind = 'interview_notice'",
                                  rung) == 1, f"no interview notice {waited:.1f} s after Redis came back"
        assert await stack.scalar("SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL") == 0
        assert await _pending(stack) == 0
        # the export is there, and opens with the clue registered while Redis was away
        state = (await _data(client, stack, "jiayu.office", JOB, {"i": job}))["exportJob"]
        assert state["status"] == "DONE" and state["downloadUrl"], state
        r = await client.get(stack.api_url.replace("/graphql", state["downloadUrl"]))
        assert r.status_code == 200, r.text
        rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
        assert any(row[5] == "Redis停止时登记的线索" and row[2].date() == today() for row in rows[1:])
        # the unit was told of the interview, once
        assert await stack.scalar("SELECT count(*) FROM notification WHERE kind = 'escalation.interview'"
                                  " AND subject_id = $1", rung) == 1
        assert await stack.scalar("SELECT count(*) FROM notification WHERE kind = 'document.interview_notice'") == 1
        stack.alive()
        print(f"jobs of the outage done {waited:.1f} s after Redis came back")
