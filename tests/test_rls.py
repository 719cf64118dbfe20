"""Row-level security is the second wall: the application role cannot get around it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ducha.tenants.scope import Scope


async def _one(db, sql: str, scope: Scope | None = None, **params):
    async with db.app.connect() as c:
        async with c.begin():
            if scope is not None:
                from ducha.db import apply_scope
                from sqlalchemy.ext.asyncio import AsyncSession

                async with AsyncSession(bind=c) as s:
                    await apply_scope(s, scope)
                    return (await s.execute(text(sql), params)).all()
            return (await c.execute(text(sql), params)).all()


async def test_app_role_is_no_owner_and_cannot_bypass(db, demo):
    rows = await _one(db, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    assert rows == [(False, False)]
    owners = await _one(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
    assert owners == [(0,)]


async def test_without_a_scope_nothing_is_visible_or_writable(db, demo):
    for table in ("region", "tenant", "agency", "app_user", "role_assignment", "outbox", "notification"):
        assert await _one(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    async with db.system_session() as s:
        jiayu = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
    with pytest.raises(DBAPIError, match="row-level security"):
        await _one(db, "INSERT INTO agency (tenant_id, region_code, region_path, kind, name)"
                       " VALUES (:t, '421221', '420000/421200/421221', 'office', 'x') RETURNING id", t=jiayu)


@pytest.mark.parametrize(
    "attempt",
    [
        "SET row_security = off; SELECT count(*) FROM tenant",
        "ALTER TABLE tenant DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE tenant NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_select ON tenant",
        "SET ROLE postgres",
        "SET ROLE ducha_system",
        "ALTER ROLE ducha_app BYPASSRLS",
        "CREATE POLICY sneaky ON tenant FOR SELECT USING (true)",
    ],
)
async def test_bypass_attempts_fail(db, demo, attempt):
    async with db.app.connect() as c:
        with pytest.raises(DBAPIError):
            for stmt in attempt.split("; "):
                r = await c.execute(text(stmt))
                if stmt.startswith("SELECT"):
                    # row_security=off makes a query that RLS would filter raise instead
                    assert r.scalar_one() == 0
                    raise DBAPIError(stmt, None, Exception("filtered"))


async def test_scope_confines_reads_and_writes(db, demo):
    async with db.system_session() as s:
        jiayu = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        yunxi = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '420322'"))).scalar_one()
    scope = Scope(user_id=1, home_tenant_id=jiayu, tenant_ids=frozenset({jiayu}),
                  region_prefixes=frozenset({"420000/421200/421221"}))
    seen = await _one(db, "SELECT DISTINCT tenant_id FROM agency", scope)
    assert seen == [(jiayu,)]
    with pytest.raises(DBAPIError, match="row-level security"):
        await _one(db, "INSERT INTO agency (tenant_id, region_code, region_path, kind, name)"
                       " VALUES (:t, '420322', '420000/420300/420322', 'office', 'x') RETURNING id", scope, t=yunxi)
    readonly = Scope(user_id=1, home_tenant_id=jiayu, tenant_ids=frozenset({jiayu}), read_only=True)
    # A read-only scope sees the rows but its UPDATE/DELETE match none, and INSERT is refused.
    assert await _one(db, "SELECT count(*) > 0 FROM agency", readonly) == [(True,)]
    assert await _one(db, "UPDATE agency SET short_name = 'x' WHERE tenant_id = :t RETURNING id", readonly, t=jiayu) == []
    assert await _one(db, "DELETE FROM agency WHERE tenant_id = :t RETURNING id", readonly, t=jiayu) == []
    with pytest.raises(DBAPIError, match="row-level security"):
        await _one(db, "INSERT INTO agency (tenant_id, region_code, region_path, kind, name)"
                       " VALUES (:t, '421221', '420000/421200/421221', 'office', 'y') RETURNING id", readonly, t=jiayu)


async def test_region_prefix_match_respects_code_boundaries(db, demo):
    # 42120 is a prefix of 421200 as text but not as a code: it must see nothing.
    scope = Scope(user_id=1, home_tenant_id=1, region_prefixes=frozenset({"420000/42120"}))
    assert await _one(db, "SELECT count(*) FROM region", scope) == [(0,)]
    scope = Scope(user_id=1, home_tenant_id=1, region_prefixes=frozenset({"420000/421200"}))
    n = (await _one(db, "SELECT count(*) FROM region", scope))[0][0]
    assert n == 1 + 6 + 8  # 咸宁市, its 6 counties, 嘉鱼县's 8 towns


async def test_scope_is_local_to_its_transaction(db, demo):
    """set_config(..., true) must not leak into the pooled connection's next transaction."""
    scope = Scope(user_id=1, home_tenant_id=1, tenant_ids=frozenset({1}), region_prefixes=frozenset({"420000"}))
    async with db.app.connect() as c:
        from ducha.db import apply_scope
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(bind=c) as s:
            async with s.begin():
                await apply_scope(s, scope)
                assert (await s.execute(text("SELECT count(*) FROM tenant"))).scalar_one() == 1
            async with s.begin():
                assert (await s.execute(text("SELECT count(*) FROM tenant"))).scalar_one() == 0
