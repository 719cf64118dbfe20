"""Engines and transactions. Every API transaction carries its principal's scope for RLS.

Three logins (see README, "Database roles"):
- the owner (DATABASE_URL) runs migrations and owns the tables; nothing else uses it;
- `ducha_app` (APP_DATABASE_URL) serves the API and is bound by row-level security;
- `ducha_system` (SYSTEM_DATABASE_URL) has BYPASSRLS for workers, sweeps and sign-in lookups.
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import DateTime, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.orm import DeclarativeBase

from ducha.settings import Settings, get_settings

if TYPE_CHECKING:
    from ducha.tenants.scope import Scope

APP_ROLE = "ducha_app"
SYSTEM_ROLE = "ducha_system"


class Base(DeclarativeBase):
    """Declarative base of every ORM-mapped table. The schema itself is made by migrations."""

    # every timestamp column is timestamptz
    type_annotation_map = {datetime: DateTime(timezone=True)}


def _asyncpg(url: str | URL) -> URL:
    u = make_url(url) if isinstance(url, str) else url
    return u.set(drivername="postgresql+asyncpg")


def owner_url(settings: Settings | None = None) -> URL:
    s = settings or get_settings()
    if not s.database_url:
        raise RuntimeError("DATABASE_URL is not set and the embedded server was not started")
    return _asyncpg(s.database_url)


def app_url(settings: Settings | None = None) -> URL:
    s = settings or get_settings()
    if s.app_database_url:
        return _asyncpg(s.app_database_url)
    return owner_url(s).set(username=APP_ROLE, password=None)


def system_url(settings: Settings | None = None) -> URL:
    s = settings or get_settings()
    if s.system_database_url:
        return _asyncpg(s.system_database_url)
    return owner_url(s).set(username=SYSTEM_ROLE, password=None)


def read_url(settings: Settings | None = None) -> URL | None:
    """The replica for roll-up reads, if one is configured."""
    s = settings or get_settings()
    return _asyncpg(s.read_database_url) if s.read_database_url else None


class ScopeConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's connection, able to send a request's RLS scope in the same message as its BEGIN.

    Every API request begins a transaction and sets its scope first thing; as two statements
    that is two round trips, and on a 2-core machine a round trip costs the API ~0.1 ms of CPU
    (a write, a wake-up, a read). `Database.scoped` leaves the scope's SQL (`_scope_sql`: the
    same set_config calls, values written as literals) in `after_begin`; the BEGIN that
    SQLAlchemy's adapter then sends through asyncpg's Transaction carries it, one simple-query
    message of two statements, and asyncpg's transaction state is exactly what BEGIN alone
    leaves. Anything else executes unchanged."""

    after_begin: str | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        after = self.after_begin
        if after is not None:  # taken by this message, whatever it is: never a later one's
            self.after_begin = None
            if not args and query.startswith("BEGIN"):
                query = query.rstrip().rstrip(";") + "; " + after
        return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]


# A pooled connection idle longer than this is pinged before use (see _ping_idle).
IDLE_PING_S = 2.0


def _engine(url: URL, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=False,  # see _ping_idle
        connect_args={"server_settings": {"application_name": "ducha"}, "connection_class": ScopeConnection},
    )
    _ping_idle(engine)
    return engine


def _ping_idle(engine: AsyncEngine) -> None:
    """A restarted PostgreSQL must not poison the pool, but a ping on every checkout is a
    round trip on every request. So only a connection that sat idle is pinged (a dead one is
    replaced before use); a busy one that dies mid-request raises a disconnect error, SQLAlchemy
    invalidates every pooled connection older than it, and the API answers that request 503 +
    Retry-After (graphql/app.py). tests/test_faults.py restarts PostgreSQL under load."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as e:  # noqa: BLE001 - any failure: this connection is not usable
            raise DisconnectionError(f"idle connection failed its ping: {type(e).__name__}") from e


@dataclass
class Database:
    """The process's engines: `app` (RLS-bound) and `system` (BYPASSRLS)."""

    app: AsyncEngine
    system: AsyncEngine
    # roll-up reads on a streaming replica (READ_DATABASE_URL), as ducha_app; None: the primary
    read: AsyncEngine | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        s = settings or get_settings()
        ru = read_url(s)
        return cls(app=_engine(app_url(s), s), system=_engine(system_url(s), s),
                   read=_engine(ru, s) if ru is not None else None)

    async def dispose(self) -> None:
        await self.app.dispose()
        await self.system.dispose()
        if self.read is not None:
            await self.read.dispose()

    def __post_init__(self) -> None:
        self._app_sessions = async_sessionmaker(self.app, expire_on_commit=False)
        self._system_sessions = async_sessionmaker(self.system, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read, expire_on_commit=False) if self.read is not None else None

    @asynccontextmanager
    async def scoped_read(self, scope: Scope) -> AsyncIterator[AsyncSession]:
        """A read-only transaction on the replica with the same RLS scope (needs `read`)."""
        if self._read_sessions is None:
            raise RuntimeError("no READ_DATABASE_URL is configured")
        async with self._read_sessions() as session:
            try:
                await session.execute(text("SET TRANSACTION READ ONLY"))  # the first statement of autobegin's transaction
                await apply_scope(session, scope)
                yield session
            finally:
                await session.rollback()

    @asynccontextmanager
    async def scoped(self, scope: Scope) -> AsyncIterator[AsyncSession]:
        """One transaction as `ducha_app` with the scope set LOCAL to it; commits on success.

        The transaction is the connection's, begun here; the session joins it ("rollback_only":
        `session.rollback()` rolls the whole request back, the session never commits it, savepoints
        of `begin_nested` are its own). Every request pays this, so it is the short way: one
        checkout, BEGIN and the scope in the adapter's first statement (fastread.first_statement),
        the session made only as an object bound to the connection."""
        from ducha import fastread

        # Checkout and BEGIN in one greenlet hop, COMMIT (or ROLLBACK) and checkin in another,
        # instead of one hop for each (AsyncConnection.start, begin, commit, close).
        sync = await greenlet_spawn(_checkout_and_begin, self.app.sync_engine)
        ok = False
        try:
            conn = AsyncConnection(self.app, sync)
            await fastread.first_statement(conn, _SET_SCOPE, _scope_params(scope), with_begin=_scope_sql(scope))
            session = AsyncSession(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only")
            session.info["ducha.connection"] = conn  # fastread's statements go straight to it
            try:
                yield session
                if session.in_transaction():  # the session was used (add, get, execute ...)
                    await session.flush()  # pending ORM changes belong to this transaction
            finally:
                # a session never used (the request read through fastread alone) holds nothing:
                # no transaction of its own, no objects; closing it would only cost a greenlet hop
                if session.in_transaction() or session.identity_map:
                    await session.close()
            ok = True
        finally:
            await greenlet_spawn(_end_and_checkin, sync, ok)

    @asynccontextmanager
    async def system_session(self) -> AsyncIterator[AsyncSession]:
        """One transaction as `ducha_system` (no RLS); for workers, sweeps and sign-in."""
        async with self._system_sessions() as session, session.begin():
            yield session


def _checkout_and_begin(engine: Engine) -> Connection:
    conn = engine.connect()
    try:
        conn.begin()
    except BaseException:
        conn.close()
        raise
    return conn


def _end_and_checkin(conn: Connection, commit: bool) -> None:
    """COMMIT when the request succeeded and its transaction is still active (a session's
    rollback ends it), else ROLLBACK; the connection goes back to the pool either way."""
    try:
        trans = conn.get_transaction()
        if trans is not None and trans.is_active:
            if commit:
                trans.commit()
            else:
                trans.rollback()
    finally:
        conn.close()


# Driver SQL (no statement construction, cache key or compilation: this runs on every request).
_SET_SCOPE = (
    "SELECT set_config('ducha.user_id', $1, true),"
    " set_config('ducha.home_tenant', $2, true),"
    " set_config('ducha.tenant_ids', $3, true),"
    " set_config('ducha.agency_ids', $4, true),"
    " set_config('ducha.region_prefixes', $5, true),"
    " set_config('ducha.read_only', $6, true)"
)


_LITERAL_SAFE = re.compile(r'[0-9A-Za-z{}",/_.:-]*')


@functools.lru_cache(maxsize=4096)
def _scope_sql(scope: Scope) -> str | None:
    """_SET_SCOPE with its values written as literals, to travel with BEGIN (ScopeConnection);
    None, and the scope goes as its own statement, if a value holds anything but digits, letters
    and `{}",/_.:-` (ids, id arrays and region paths do): nothing a literal could be broken out of."""
    return scope_sql_with_literals(_scope_params(scope))


def scope_sql_with_literals(values: tuple[str, ...]) -> str | None:
    """_SET_SCOPE with these values written in (see _scope_sql); the load bench's baseline sends
    its recorded scope the same way."""
    if len(values) != 6 or not all(isinstance(v, str) and _LITERAL_SAFE.fullmatch(v) for v in values):
        return None
    sql = _SET_SCOPE
    for n in range(len(values), 0, -1):  # $6 before $1, so that $1 could not eat a $1x
        sql = sql.replace(f"${n}", f"'{values[n - 1]}'")
    return sql


def _pg_array(values: object) -> str:
    return "{" + ",".join(json.dumps(str(v)) for v in values) + "}"  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _scope_params(scope: Scope) -> tuple[str, ...]:
    """The set_config values of a scope (scopes are immutable and cached with the identity)."""
    return (
        str(scope.user_id),
        str(scope.home_tenant_id),
        _pg_array(sorted(scope.tenant_ids)),
        _pg_array(sorted(scope.agency_ids)),
        _pg_array(sorted(scope.region_prefixes)),
        "on" if scope.read_only else "off",
    )


async def apply_scope(session: AsyncSession, scope: Scope) -> None:
    """Set the RLS scope for the current transaction only (set_config(..., true) = SET LOCAL)."""
    from ducha import fastread

    conn = await session.connection()
    await fastread.first_statement(conn, _SET_SCOPE, _scope_params(scope))
