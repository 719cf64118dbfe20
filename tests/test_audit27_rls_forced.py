"""Every table of the schema has row-level security ENABLEd and FORCEd with policies (the app
role is no owner, so FORCE also binds an owner that is not a superuser); a scope-less session
of the application role sees and changes nothing in any of them."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from ducha.tenants.scope import Scope

# Alembic's bookkeeping is the only table without RLS; the app role cannot write it.
NO_RLS = {"alembic_version"}


@pytest.fixture(scope="module")
async def catalog(database_url: str) -> list[tuple]:
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as c:
            return list((await c.execute(text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid),"
                " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'"
                "         AND NOT a.attisdropped),"
                " has_table_privilege('ducha_app', c.oid, 'INSERT, UPDATE, DELETE')"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"))).all())
    finally:
        await engine.dispose()


def test_every_table_has_rls_enabled_forced_and_policies(catalog):
    assert len(catalog) > 50
    missing = [name for name, on, forced, policies, _, _ in catalog
               if name not in NO_RLS and not (on and forced and policies > 0)]
    assert missing == [], f"tables without ENABLE + FORCE ROW LEVEL SECURITY and a policy: {missing}"


def test_every_tenant_owned_table_is_among_them(catalog):
    tenant_tables = {name for name, *_, has_tenant, _ in catalog if has_tenant}
    assert {"agency", "app_user", "audit_head", "audit_log", "outbox", "problem_instance"} <= tenant_tables
    assert not tenant_tables & NO_RLS


def test_the_app_role_cannot_write_the_tables_without_rls(catalog):
    assert [name for name, *_, writes in catalog if name in NO_RLS and writes] == []


async def _app(db, sql: str, scope: Scope | None = None, **params):
    from sqlalchemy.ext.asyncio import AsyncSession

    from ducha.db import apply_scope

    async with db.app.connect() as c, c.begin():
        async with AsyncSession(bind=c) as s:
            if scope is not None:
                await apply_scope(s, scope)
            return (await s.execute(text(sql), params)).all()


async def test_audit_head_is_behind_rls_for_the_app_role(db, demo, gql):
    # an audited change makes a head for 嘉鱼县
    async with db.system_session() as s:
        jiayu = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        yunxi = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '420322'"))).scalar_one()
        await s.execute(text("INSERT INTO audit_head (tenant_id, seq, hash) VALUES (:t, 5, :h)"
                             " ON CONFLICT (tenant_id) DO NOTHING"), {"t": yunxi, "h": "a" * 64})
        head = (await s.execute(text("SELECT seq, hash FROM audit_head WHERE tenant_id = :t"), {"t": yunxi})).one()
    # no scope: nothing seen, nothing moved
    assert await _app(db, "SELECT count(*) FROM audit_head") == [(0,)]
    assert await _app(db, "UPDATE audit_head SET seq = seq + 1 RETURNING tenant_id") == []
    with pytest.raises(DBAPIError, match="row-level security"):
        await _app(db, "INSERT INTO audit_head (tenant_id, seq, hash) VALUES (:t, 0, 'x')", t=jiayu)
    # the read-only overseer sees heads but cannot move them
    overseer = Scope(user_id=1, home_tenant_id=jiayu, tenant_ids=frozenset({jiayu, yunxi}), read_only=True)
    assert await _app(db, "SELECT seq FROM audit_head WHERE tenant_id = :t", overseer, t=yunxi) == [(head.seq,)]
    assert await _app(db, "UPDATE audit_head SET seq = seq + 1 WHERE tenant_id = :t RETURNING seq", overseer, t=yunxi) == []
    # ... except its home tenant's, which its one audited write (an export request) appends to,
    # by one step at a time like anyone's (0011)
    took = await _app(db, "INSERT INTO audit_head AS h (tenant_id, seq, hash) VALUES (:t, 0, :h)"
                          " ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq RETURNING tenant_id", overseer,
                      t=jiayu, h="0" * 64)
    assert took == [(jiayu,)]
    with pytest.raises(DBAPIError, match="audit_head"):
        await _app(db, "UPDATE audit_head SET seq = seq + 7 WHERE tenant_id = :t", overseer, t=jiayu)
    with pytest.raises(DBAPIError, match="row-level security"):  # no other entry than its export request
        await _app(db, "INSERT INTO audit_log (tenant_id, seq, at, actor_id, action, subject_type, subject_id,"
                       " prev_hash, hash) VALUES (:t, 1, now(), 1, 'problem.delete', 'problem', 1, 'x', 'y')",
                   overseer, t=jiayu)
    # a writing scope may append (seq + 1) to another tenant's chain, never rewrite or jump it
    writer = Scope(user_id=1, home_tenant_id=jiayu, tenant_ids=frozenset({jiayu}))
    for bad in ("seq = seq + 7", "seq = seq - 1", "hash = 'forged'", f"tenant_id = {jiayu}"):
        with pytest.raises(DBAPIError, match="audit_head"):
            await _app(db, f"UPDATE audit_head SET {bad} WHERE tenant_id = :t", writer, t=yunxi)
    with pytest.raises(DBAPIError):
        await _app(db, "DELETE FROM audit_head WHERE tenant_id = :t", writer, t=yunxi)
    async with db.system_session() as s:
        assert (await s.execute(text("SELECT seq, hash FROM audit_head WHERE tenant_id = :t"), {"t": yunxi})).one() == head
