"""The audit log: a gapless hash chain per tenant that `ducha audit verify` checks."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ducha import cli
from ducha.db import apply_scope
from ducha.services import audit
from ducha.tenants.scope import Scope

DEMO_STAFFED = ("420000", "421200", "420300", "421221", "420322")


@pytest.fixture(scope="module")
async def spare_tenants(db, demo):
    """Tenants of the demo province nobody else writes to: each test takes its own."""
    async with db.system_session() as s:
        ids = list((await s.execute(text(
            "SELECT id FROM tenant WHERE region_code <> ALL (:staffed)"
            " AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.tenant_id = tenant.id) ORDER BY id"
        ), {"staffed": list(DEMO_STAFFED)})).scalars())
    assert len(ids) >= 20
    return iter(ids)


@pytest.fixture
async def tenant(db, spare_tenants):
    """An empty chain; its rows are removed afterwards so that no tampering outlives the test."""
    t = next(spare_tenants)
    yield t
    async with db.system_session() as s:
        await s.execute(text("DELETE FROM audit_log WHERE tenant_id = :t"), {"t": t})
        await s.execute(text("DELETE FROM audit_head WHERE tenant_id = :t"), {"t": t})


async def _append(db, tenant_id: int, n: int, *, start: int = 0) -> None:
    async with db.system_session() as s:
        for i in range(start, start + n):
            await audit.record(s, tenant_id=tenant_id, actor_id=None, action="problem.update",
                               subject_type="problem", subject_id=1000 + i,
                               before={"status": "found", "n": i}, after={"status": "notified", "n": i})


async def _findings(db, tenant_id: int, **kw) -> list[audit.Finding]:
    async with db.system_session() as s:
        return await audit.verify(s, tenant_id, **kw)


async def _sql(db, sql: str, **params) -> None:
    async with db.system_session() as s:
        await s.execute(text(sql), params)


@dataclass
class _Thing:
    when: date
    amount: Decimal


async def test_record_chains_rows_and_history_reads_them(db, tenant):
    jiayu_user = None
    async with db.system_session() as s:
        jiayu_user = (await s.execute(text("SELECT id FROM app_user ORDER BY id LIMIT 1"))).scalar_one()
        before = {"title": "执法案卷不规范", "score": 1.5, "big": 1e20, "tags": {"b", "a"},
                  "due": date(2025, 3, 1), "money": Decimal("12.50"), "thing": _Thing(date(2025, 1, 2), Decimal("1"))}
        seq1 = await audit.record(s, tenant_id=tenant, actor_id=jiayu_user, action="problem.create",
                                  subject_type="problem", subject_id=7, before=None, after=before)
        seq2 = await audit.record(s, tenant_id=tenant, actor_id=jiayu_user, action="problem.update",
                                  subject_type="problem", subject_id=7, before=before, after={"title": "改"})
        seq3 = await audit.record(s, tenant_id=tenant, actor_id=None, action="inspection.create",
                                  subject_type="inspection", subject_id=7, before=None, after={})
    assert (seq1, seq2, seq3) == (1, 2, 3)

    async with db.system_session() as s:
        rows = await audit.history(s, "problem", 7, tenant)
        assert [r.seq for r in rows] == [1, 2]
        assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
        assert rows[0].before is None  # SQL NULL, not JSON null
        assert rows[0].after["big"] == "1e+20" and rows[0].after["tags"] == ["a", "b"]
        assert rows[0].after["money"] == "12.50" and rows[0].after["thing"] == {"when": "2025-01-02", "amount": "1"}
        assert rows[0].at.tzinfo is not None and rows[0].at <= rows[1].at
        # the documented hash, recomputed by hand from what is stored
        r = rows[1]
        assert r.hash == audit.chain_hash(r.prev_hash, audit.canonical(
            tenant_id=tenant, seq=2, at=r.at, actor_id=r.actor_id, action=r.action, subject_type=r.subject_type,
            subject_id=r.subject_id, before=r.before, after=r.after))
        assert '"title":"执法案卷不规范"' in audit.canonical(
            tenant_id=tenant, seq=1, at=r.at, actor_id=None, action="a", subject_type="b", subject_id=1,
            before=None, after={"title": "执法案卷不规范"})
        assert await audit.head(s, tenant) == (3, (await audit.history(s, "inspection", 7, tenant))[0].hash)
    assert await _findings(db, tenant) == []


async def test_snapshot_of_an_orm_object_takes_loaded_columns_only(db, demo):
    from ducha.tenants.models import Tenant

    async with db.system_session() as s:
        t = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        obj = await s.get(Tenant, t)
        snap = audit.snapshot(obj)
        assert snap["id"] == t and snap["region_code"] == "421221"
        assert isinstance(snap["created_at"], str)
        s.expire(obj, ["name"])
        assert "name" not in audit.snapshot(obj)  # no lazy load inside an async session
    with pytest.raises(TypeError):
        audit.snapshot(object())


async def test_concurrent_appends_make_one_chain_without_gaps(db, tenant):
    async def worker(k: int) -> None:
        for i in range(8):
            async with db.system_session() as s:
                await audit.record(s, tenant_id=tenant, actor_id=None, action="x", subject_type="w",
                                   subject_id=k, before=None, after={"i": i})
                # hold the transaction open after appending so that others queue on the lock
                await asyncio.sleep(random.random() / 200)

    await asyncio.gather(*(worker(k) for k in range(8)))
    async with db.system_session() as s:
        rows = (await s.execute(text(
            "SELECT seq, prev_hash, hash, at FROM audit_log WHERE tenant_id = :t ORDER BY seq"), {"t": tenant})).all()
    assert [r.seq for r in rows] == list(range(1, 65))
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert len({r.prev_hash for r in rows}) == 64  # no two rows claim the same predecessor
    assert all(a.at <= b.at for a, b in zip(rows, rows[1:], strict=False))
    assert await _findings(db, tenant) == []


async def test_the_app_role_appends_and_reads_but_cannot_update_or_delete(db, tenant):
    scope = Scope(user_id=1, home_tenant_id=tenant, tenant_ids=frozenset({tenant}))
    async with db.scoped(scope) as s:
        assert await audit.record(s, tenant_id=tenant, actor_id=None, action="a", subject_type="s",
                                  subject_id=1, before=None, after={"ok": True}) == 1
    async with db.scoped(scope) as s:
        assert [r.seq for r in await audit.history(s, "s", 1, tenant)] == [1]
    for stmt in ("UPDATE audit_log SET after = '{}' WHERE tenant_id = :t",
                 "DELETE FROM audit_log WHERE tenant_id = :t",
                 "UPDATE audit_log SET seq = seq + 1 WHERE tenant_id = :t"):
        async with db.app.connect() as c, c.begin():
            from sqlalchemy.ext.asyncio import AsyncSession

            async with AsyncSession(bind=c) as s:
                await apply_scope(s, scope)
                with pytest.raises(DBAPIError, match="permission denied"):
                    await s.execute(text(stmt), {"t": tenant})
    async with db.app.connect() as c, c.begin():
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(bind=c) as s:
            await apply_scope(s, scope)
            with pytest.raises(DBAPIError, match="permission denied"):
                await s.execute(text("DELETE FROM audit_head WHERE tenant_id = :t"), {"t": tenant})
    # A target unit (agency scope, no tenant) appends to the office's chain it cannot read.
    target = Scope(user_id=1, home_tenant_id=tenant + 1, agency_ids=frozenset({1}))
    async with db.scoped(target) as s:
        assert await audit.history(s, "s", 1, tenant) == []
        assert await audit.record(s, tenant_id=tenant, actor_id=None, action="a", subject_type="s",
                                  subject_id=1, before=None, after={"by": "target"}) == 2
    # A read-only scope appends nothing.
    overseer = Scope(user_id=1, home_tenant_id=tenant, tenant_ids=frozenset({tenant}), read_only=True)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.scoped(overseer) as s:
            await audit.record(s, tenant_id=tenant, actor_id=None, action="a", subject_type="s",
                               subject_id=1, before=None, after=None)
    assert await _findings(db, tenant) == []


async def test_verify_finds_an_altered_row(db, tenant):
    await _append(db, tenant, 5)
    await _sql(db, "UPDATE audit_log SET after = jsonb_set(after, '{status}', '\"closed\"')"
                   " WHERE tenant_id = :t AND seq = 3", t=tenant)
    assert [(f.seq, f.kind) for f in await _findings(db, tenant)] == [(3, "altered")]


async def test_verify_finds_other_alterations(db, tenant):
    await _append(db, tenant, 6)
    await _sql(db, "UPDATE audit_log SET actor_id = NULL, at = at + interval '1 second', action = 'x'"
                   " WHERE tenant_id = :t AND seq = 2", t=tenant)
    await _sql(db, "UPDATE audit_log SET hash = repeat('a', 64) WHERE tenant_id = :t AND seq = 5", t=tenant)
    assert [(f.seq, f.kind) for f in await _findings(db, tenant)] == [(2, "altered"), (5, "altered")]


async def test_verify_finds_a_row_rewritten_with_a_recomputed_hash(db, tenant):
    await _append(db, tenant, 4)
    async with db.system_session() as s:
        r = (await s.execute(text("SELECT * FROM audit_log WHERE tenant_id = :t AND seq = 2"), {"t": tenant})).one()
        forged = audit.chain_hash(r.prev_hash, audit.canonical(
            tenant_id=tenant, seq=2, at=r.at, actor_id=r.actor_id, action=r.action, subject_type=r.subject_type,
            subject_id=r.subject_id, before=r.before, after={"status": "forged"}))
        await s.execute(text("UPDATE audit_log SET after = '{\"status\": \"forged\"}', hash = :h"
                             " WHERE tenant_id = :t AND seq = 2"), {"h": forged, "t": tenant})
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind) for f in found] == [(2, "altered")]
    assert "re-hashed" in found[0].detail


async def test_verify_finds_a_removed_row(db, tenant):
    await _append(db, tenant, 5)
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 3", t=tenant)
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind, f.detail) for f in found] == [(3, "removed", "the row written as seq 3 is missing")]


async def test_verify_finds_removed_rows_hidden_by_renumbering(db, tenant):
    await _append(db, tenant, 8)
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq IN (3, 4)", t=tenant)
    for old in range(5, 9):
        await _sql(db, "UPDATE audit_log SET seq = :new WHERE tenant_id = :t AND seq = :old",
                   t=tenant, old=old, new=old - 2)
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind) for f in found] == [(3, "removed")]
    assert found[0].detail == "the rows written as seq 3..4 are missing"


async def test_verify_finds_a_cut_tail_through_the_head(db, tenant):
    await _append(db, tenant, 6)
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq >= 5", t=tenant)
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind, f.detail) for f in found] == [
        (5, "removed", "the head is at seq 6: seq 5..6 missing at the end")]
    await _sql(db, "DELETE FROM audit_head WHERE tenant_id = :t", t=tenant)
    assert [(f.seq, f.kind) for f in await _findings(db, tenant)] == [(4, "removed")]


async def test_verify_finds_rows_appended_behind_the_heads_back(db, tenant):
    await _append(db, tenant, 3)
    async with db.system_session() as s:
        seq, prev = await audit.head(s, tenant)
        at = datetime.now(UTC)
        h = audit.chain_hash(prev, audit.canonical(tenant_id=tenant, seq=4, at=at, actor_id=None, action="forged",
                                                   subject_type="s", subject_id=1, before=None, after=None))
        await s.execute(text("INSERT INTO audit_log (tenant_id, seq, at, action, subject_type, subject_id,"
                             " prev_hash, hash) VALUES (:t, 4, :at, 'forged', 's', 1, :p, :h)"),
                        {"t": tenant, "at": at, "p": prev, "h": h})
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind) for f in found] == [(4, "altered")] and "beyond the head" in found[0].detail
    # the head still says 3: the forged row never became part of the chain's record
    async with db.system_session() as s:
        assert await audit.head(s, tenant) == (seq, prev)


async def test_verify_finds_the_first_row_removed(db, tenant):
    await _append(db, tenant, 3)
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 1", t=tenant)
    assert [(f.seq, f.kind) for f in await _findings(db, tenant)] == [(1, "removed")]


async def _swap(db, tenant: int, a: int, b: int) -> None:
    # through a free value: the primary key is checked row by row
    await _sql(db, "UPDATE audit_log SET seq = -1 WHERE tenant_id = :t AND seq = :a", t=tenant, a=a)
    await _sql(db, "UPDATE audit_log SET seq = :a WHERE tenant_id = :t AND seq = :b", t=tenant, a=a, b=b)
    await _sql(db, "UPDATE audit_log SET seq = :b WHERE tenant_id = :t AND seq = -1", t=tenant, b=b)


async def test_verify_finds_two_swapped_rows(db, tenant):
    await _append(db, tenant, 6)
    await _swap(db, tenant, 3, 4)
    found = await _findings(db, tenant)
    assert [(f.seq, f.kind, f.detail) for f in found] == [
        (3, "reordered", "written as seq 4, stored at seq 3"),
        (4, "reordered", "written as seq 3, stored at seq 4"),
    ]


async def test_verify_finds_distant_swaps_across_batches(db, tenant):
    await _append(db, tenant, 40)
    await _swap(db, tenant, 5, 30)
    found = await _findings(db, tenant, batch=7)
    assert {(f.seq, f.kind) for f in found} == {(5, "reordered"), (30, "reordered")}


async def test_a_clean_chain_streams_in_batches(db, tenant):
    # rows written directly (the same hash) to make a long chain quickly
    n = 3_000
    prev, rows = audit.GENESIS, []
    at0 = datetime(2025, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        at = at0 + timedelta(microseconds=seq * 7)
        h = audit.chain_hash(prev, audit.canonical(tenant_id=tenant, seq=seq, at=at, actor_id=None, action="a",
                                                   subject_type="s", subject_id=seq, before=None, after={"i": seq}))
        rows.append({"t": tenant, "seq": seq, "at": at, "sid": seq, "after": f'{{"i": {seq}}}', "p": prev, "h": h})
        prev = h
    async with db.system_session() as s:
        await s.execute(text("INSERT INTO audit_log (tenant_id, seq, at, action, subject_type, subject_id, after,"
                             " prev_hash, hash) VALUES (:t, :seq, :at, 'a', 's', :sid, CAST(:after AS jsonb), :p, :h)"),
                        rows)
        await s.execute(text("INSERT INTO audit_head (tenant_id, seq, hash) VALUES (:t, :n, :h)"),
                        {"t": tenant, "n": n, "h": prev})
    assert await _findings(db, tenant, batch=500) == []
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2500", t=tenant)
    assert [(f.seq, f.kind) for f in await _findings(db, tenant, batch=500)] == [(2500, "removed")]


async def test_verify_without_a_tenant_checks_every_chain(db, tenant, spare_tenants):
    await _append(db, tenant, 3)
    await _sql(db, "UPDATE audit_log SET subject_id = 1 WHERE tenant_id = :t AND seq = 2", t=tenant)
    async with db.system_session() as s:
        found = await audit.verify(s)
    assert (tenant, 2, "altered") in {(f.tenant_id, f.seq, f.kind) for f in found}


async def test_cli_audit_verify_exit_codes(db, tenant, capsys):
    await _append(db, tenant, 4)
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--tenant", str(tenant)]) == 0
    assert "audit log: intact" in capsys.readouterr().out
    await _sql(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2", t=tenant)
    assert await asyncio.to_thread(cli.main, ["audit", "verify", "--tenant", str(tenant)]) == 1
    out = capsys.readouterr().out
    assert f"tenant {tenant} seq 2: removed: the row written as seq 2 is missing" in out and "1 finding(s)" in out


# ---- the checker alone, on chains made in memory ---------------------------------------------


def _chain(n: int, tenant_id: int = 1) -> list[audit._Row]:
    prev, out = audit.GENESIS, []
    at0 = datetime(2025, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        at = at0 + timedelta(seconds=seq)
        after = {"i": seq}
        h = audit.chain_hash(prev, audit.canonical(tenant_id=tenant_id, seq=seq, at=at, actor_id=2, action="a",
                                                   subject_type="s", subject_id=seq, before=None, after=after))
        out.append(audit._Row(seq, at, 2, "a", "s", seq, None, after, prev, h))
        prev = h
    return out


def _check(rows: list[audit._Row], window: int = audit.REORDER_WINDOW) -> list[tuple[int, str]]:
    c = audit.ChainChecker(1, window)
    for r in rows:
        c.feed(r)
    return [(f.seq, f.kind) for f in c.finish()]


def _renumber(rows: list[audit._Row]) -> list[audit._Row]:
    for i, r in enumerate(rows, 1):
        r.seq = i
    return rows


def test_checker_clean_and_truncated_tail():
    rows = _chain(50)
    assert _check(rows) == []
    assert _check(rows[:30]) == []  # the chain alone cannot tell a cut tail; verify asks audit_head


def test_checker_a_row_moved_far_back():
    rows = _chain(60)
    moved = rows.pop(9)  # written as seq 10
    rows.insert(49, moved)
    found = _check(_renumber(rows))
    assert (50, "reordered") in found and all(k == "reordered" for _, k in found)


def test_checker_a_copied_row():
    rows = _chain(10)
    copy = audit._Row(**{f: getattr(rows[3], f) for f in audit._Row.__slots__})
    rows.insert(6, copy)
    found = _check(_renumber(rows))
    assert (7, "altered") in found


def test_checker_many_rows_removed_beyond_the_window():
    rows = _chain(100)
    del rows[20:60]
    assert _check(rows, window=10) == [(21, "removed")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["delete", "swap", "move", "alter", "copy"]),
                          st.integers(0, 39), st.integers(0, 39)), min_size=1, max_size=4),
       st.booleans(), st.integers(2, 50))
def test_checker_finds_any_tampering_short_of_cutting_the_tail(ops, renumber, window):
    rows = _chain(40)
    original = [r.hash for r in rows]
    for op, i, j in ops:
        i, j = i % len(rows), j % len(rows)
        if op == "delete" and len(rows) > 2:
            del rows[i]
        elif op == "swap":
            rows[i], rows[j] = rows[j], rows[i]
        elif op == "move":
            rows.insert(j, rows.pop(i))
        elif op == "alter":
            rows[i] = dataclasses.replace(rows[i], after={"i": -1})
        elif op == "copy":
            rows.insert(j, dataclasses.replace(rows[i]))
    if renumber:
        rows = _renumber([dataclasses.replace(r) for r in rows])
    else:
        # stored seqs stay the original ones: keep them unique and in order, as the table would
        rows = [dataclasses.replace(r, seq=k) for k, r in zip(sorted(r.seq for r in rows), rows, strict=True)]
    intact_prefix = [r.hash for r in rows] == original[:len(rows)] and all(
        r.after == {"i": r.subject_id} for r in rows)
    found = _check(rows, window)
    assert bool(found) != intact_prefix, (ops, renumber, found)
