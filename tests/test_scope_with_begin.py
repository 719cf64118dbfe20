"""A request's RLS scope travels in BEGIN's message (ducha.db.ScopeConnection): one round trip
instead of two, the scope set exactly as the separate statement sets it, SQLAlchemy's
listeners still hearing the scope statement; a scope whose values are not plainly literal
goes as its own statement; a failed BEGIN leaves nothing behind for the next transaction."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from ducha import db as dbmod
from ducha.tenants.auth import load_identity


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every simple-protocol message the app's connections send (asyncpg `execute` without args)."""
    out: list[str] = []
    orig = dbmod.ScopeConnection.execute

    async def spy(self: Any, query: str, *args: Any, **kw: Any) -> str:
        carried = self.after_begin
        result = await orig(self, query, *args, **kw)
        out.append(query if carried is None or not query.startswith("BEGIN") else f"{query.rstrip(';')}; {carried}")
        return result

    monkeypatch.setattr(dbmod.ScopeConnection, "execute", spy)
    return out


async def _settings_seen(session: Any) -> tuple[str, ...]:
    row = (await session.execute(text(
        "SELECT current_setting('ducha.user_id'), current_setting('ducha.home_tenant'),"
        " current_setting('ducha.tenant_ids'), current_setting('ducha.agency_ids'),"
        " current_setting('ducha.region_prefixes'), current_setting('ducha.read_only')"))).one()
    return tuple(row)


async def test_the_scope_goes_with_begin_and_is_set_as_by_its_own_statement(db, demo, sent):
    async with db.system_session() as s:
        ident = await load_identity(s, "jiayu.office")
    heard: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        heard.append(statement)

    event.listen(db.app.sync_engine, "before_cursor_execute", listen)
    sent.clear()
    try:
        async with db.scoped(ident.scope) as s:
            seen = await _settings_seen(s)
    finally:
        event.remove(db.app.sync_engine, "before_cursor_execute", listen)
    scoped = [q for q in sent if "set_config" in q]  # (an idle connection's ping may BEGIN and ROLLBACK first)
    assert len(scoped) == 1 and scoped[0].startswith("BEGIN") and sent[-1] == "COMMIT;", sent
    assert heard[0] == dbmod._SET_SCOPE, "listeners (the load bench's recorder, statement counts) hear the scope"
    assert seen == dbmod._scope_params(ident.scope)
    assert dbmod._scope_sql(ident.scope) is not None

    # a value a literal could not safely hold: the scope goes as its own (parameterised) statement
    odd = replace(ident.scope, region_prefixes=frozenset({*ident.scope.region_prefixes, "42'; --"}))
    assert dbmod._scope_sql(odd) is None
    sent.clear()
    async with db.scoped(odd) as s:
        seen = await _settings_seen(s)
    assert seen == dbmod._scope_params(odd)
    assert not any("set_config" in q for q in sent), sent


async def test_a_connection_whose_begin_failed_carries_nothing_into_its_next_transaction(db, demo, monkeypatch):
    async with db.system_session() as s:
        ident = await load_identity(s, "jiayu.office")
        other = await load_identity(s, "xianning.office")
    failed_on: list[Any] = []
    orig = dbmod.ScopeConnection.execute

    async def flaky(self: Any, query: str, *args: Any, **kw: Any) -> str:
        if query.startswith("BEGIN") and not failed_on:
            failed_on.append(self)  # the connection drops before the message goes: the scope still waits
            raise asyncpg.exceptions.ConnectionDoesNotExistError("lost")
        return await orig(self, query, *args, **kw)

    monkeypatch.setattr(dbmod.ScopeConnection, "execute", flaky)
    with pytest.raises(Exception, match="lost"):
        async with db.scoped(ident.scope):
            pass
    assert failed_on and failed_on[0].after_begin is None, "a scope left waiting would ride the next BEGIN"
    async with db.scoped(other.scope) as s:
        assert await _settings_seen(s) == dbmod._scope_params(other.scope)
