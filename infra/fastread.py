"""The hot read path of the API's dataloaders: fixed SQL text, run as driver SQL.

Every GraphQL request resolves its objects' children through a handful of dataloaders (an
inspection's targets, a problem's measures, the agency and tenant behind an id). Built as ORM
statements, each of those costs about 0.3 ms of Python before PostgreSQL sees it: the statement
is constructed, its cache key computed, the cached compilation looked up, IN lists expanded,
and ORM instances put in the identity map. Here the statement text is built once per loader
shape from the mapped table, with arrays instead of IN lists (`= ANY($n::bigint[])`, so one
prepared statement serves every batch size), and executed with `exec_driver_sql` in the
request's own transaction: SQLAlchemy's connection, its transaction, its disconnect handling
and row-level security stay exactly as they were. Rows come back as `Row`s, read by attribute
like the mapped objects (`r.tenant_id`), and are read-only.

The visibility predicates are those of `ducha.policies.filters`, written for arrays; with the
application's filters switched off (tests of RLS alone) they are left out the same way.

Inside the request's transaction the statements go to the asyncpg connection underneath the
session (`_fetch`), skipping SQLAlchemy's cursor adaptation, another ~85 µs a statement.
What that would lose is kept: SQLAlchemy's `before_cursor_execute` listeners still hear every
statement (the load bench records the SQL with one, tests count statements with one), and a
failing statement's error goes through the dialect's and the Connection's handling, so it
reaches the caller as SQLAlchemy's DBAPIError with a dead connection invalidated
(tests/test_faults.py restarts PostgreSQL under load).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import greenlet_spawn

from ducha.policies import filters
from ducha.tenants.scope import Scope

# Visibility modes of a loader (see ducha.policies.filters).
NONE = "none"  # RLS alone decides (the row's parent was already visible)
OWNER = "owner"  # tenant_visible(tenant_id)
OWNER_OR_AGENCY = "owner_or_agency"  # tenant_visible(tenant_id, agency_col=id)
ADDRESSED = "addressed"  # addressed_visible(tenant_id, target_tenant_id, agency_id)
TENANT_IDS = "tenant_ids"  # ids_visible(id, home=True): tenant rows
REGION = "region"  # region_visible(path)
INSPECTION = "inspection"  # the inspection queries' inspection_visible: the owner's, or one of its targets is addressed
INSTANCE = "instance"  # instance_visible: the owner's, or (past 'found') addressed to the caller


def _q(name: str) -> str:
    return name if name.isidentifier() and name.islower() else '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=256)
def _columns(model: Any) -> tuple[str, str]:
    """(table, select list) of a mapped class: each column under its attribute's name."""
    mapper = inspect(model)
    table = mapper.local_table
    cols = []
    for prop in mapper.column_attrs:
        if len(prop.columns) != 1 or getattr(prop.columns[0], "table", None) is not table:
            raise TypeError(f"{model.__name__}.{prop.key} is not a plain column")
        col = prop.columns[0]
        cols.append(f"t.{_q(col.name)}" + ("" if col.name == prop.key else f" AS {_q(prop.key)}"))
    return _q(table.name), ", ".join(cols)


@functools.lru_cache(maxsize=1024)
def _column(model: Any, attr: str) -> str:
    return "t." + _q(inspect(model).column_attrs[attr].columns[0].name)


def col(model: Any, attr: str) -> str:
    """A column of `model` as the page and count statements name it (`t.<column>`)."""
    return _column(model, attr)


@functools.lru_cache(maxsize=1024)
def _visibility(model: Any, mode: str, first: int) -> tuple[str, tuple[str, ...]]:
    """The predicate of a mode and the scope arrays it takes, numbered from `first`."""
    a, b = f"${first}", f"${first + 1}"
    if mode == OWNER:
        return f"{_column(model, 'tenant_id')} = ANY({a}::bigint[])", ("tenants",)
    if mode == OWNER_OR_AGENCY:
        return (f"({_column(model, 'tenant_id')} = ANY({a}::bigint[]) OR {_column(model, 'id')} = ANY({b}::bigint[]))",
                ("tenants", "agencies"))
    if mode == ADDRESSED:
        return (f"({_column(model, 'tenant_id')} = ANY({a}::bigint[]) OR {_column(model, 'target_tenant_id')}"
                f" = ANY({a}::bigint[]) OR {_column(model, 'agency_id')} = ANY({b}::bigint[]))", ("tenants", "agencies"))
    if mode == TENANT_IDS:
        return f"{_column(model, 'id')} = ANY({a}::bigint[])", ("tenants_and_home",)
    if mode == REGION:
        return f"({_column(model, 'path')} || '/') LIKE ANY({a}::text[])", ("region_likes",)
    if mode == INSPECTION:
        return (f"({_column(model, 'tenant_id')} = ANY({a}::bigint[]) OR EXISTS (SELECT 1 FROM inspection_target AS x"
                f" WHERE x.tenant_id = {_column(model, 'tenant_id')} AND x.inspection_id = {_column(model, 'id')}"
                f" AND (x.tenant_id = ANY({a}::bigint[]) OR x.target_tenant_id = ANY({a}::bigint[])"
                f" OR x.agency_id = ANY({b}::bigint[]))))", ("tenants", "agencies"))
    if mode == INSTANCE:
        return (f"({_column(model, 'tenant_id')} = ANY({a}::bigint[]) OR ({_column(model, 'status')} <> 'found' AND"
                f" ({_column(model, 'target_tenant_id')} = ANY({a}::bigint[])"
                f" OR {_column(model, 'agency_id')} = ANY({b}::bigint[]))))", ("tenants", "agencies"))
    raise ValueError(mode)


@functools.lru_cache(maxsize=512)
def _statement(model: Any, keys: tuple[tuple[str, str], ...], mode: str, order: str | None, enabled: bool
               ) -> tuple[str, tuple[str, ...]]:
    table, cols = _columns(model)
    where = [f"{_column(model, attr)} = ANY(${n}::{sqltype}[])" for n, (attr, sqltype) in enumerate(keys, start=1)]
    scope_args: tuple[str, ...] = ()
    if enabled and mode != NONE:
        pred, scope_args = _visibility(model, mode, len(keys) + 1)
        where.append(pred)
    sql = f"SELECT {cols} FROM {table} AS t WHERE {' AND '.join(where)}"
    if order:
        sql += f" ORDER BY {_column(model, order)}"
    return sql, scope_args


@functools.lru_cache(maxsize=4096)
def _scope_arrays(scope: Scope) -> dict[str, list[Any]]:
    return {
        "tenants": sorted(scope.tenant_ids),
        "agencies": sorted(scope.agency_ids),
        "tenants_and_home": sorted(scope.tenant_ids | {scope.home_tenant_id}),
        "region_likes": filters.region_patterns(scope.region_prefixes),
    }


def _sqltype(values: Sequence[Any]) -> str:
    return "text" if values and isinstance(next(iter(values)), str) else "bigint"


async def _connection(session: AsyncSession) -> Any:
    """The request's connection (Database.scoped leaves it in the session's info), else the
    session's own."""
    conn = session.info.get("ducha.connection")
    return conn if conn is not None else await session.connection()


class Record(asyncpg.Record):
    """An asyncpg record whose columns are also attributes (`r.tenant_id`), like a Row's.

    A statement's records come as a subclass with one property per column (`_record_class`),
    made after its first run: `__getattr__` is only reached after the normal lookup failed
    (raising and catching AttributeError inside CPython), about 1 µs an attribute, and a page
    of problems reads thousands of them; a property reading the column by position is ~20
    times cheaper. `__getattr__` stays for the first run and names that are not columns."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_RECORD_MEMBERS = frozenset(dir(Record))


@functools.lru_cache(maxsize=1024)
def _record_class(names: tuple[str, ...]) -> type[Record]:
    """Record with a property per column name; a name Record itself has (`get`, `keys` ...) or a
    name the statement repeats keeps the lookup it has on Record (the method; `self[name]`)."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    ns: dict[str, Any] = {"__slots__": ()}
    for i, n in enumerate(names):
        if counts[n] == 1 and n not in _RECORD_MEMBERS:
            ns[n] = property(itemgetter(i))
    return type("Record", (Record,), ns)


# statement text -> the record class of its columns (known after the statement's first run)
_statement_records: dict[str, type[Record]] = {}
_STATEMENT_RECORDS_MAX = 4096


async def _fetch(conn: Any, sql: str, params: Sequence[Any]) -> Sequence[Any]:
    """Run a SELECT in the connection's transaction on its asyncpg connection (see the module's
    text); SQLAlchemy's path where no transaction has begun yet or the statement fails."""
    sync = conn.sync_connection
    dbapi = sync.connection.dbapi_connection if not sync.invalidated else None
    driver = getattr(dbapi, "driver_connection", None)
    if driver is None or getattr(dbapi, "_transaction", None) is None:
        return (await conn.exec_driver_sql(sql, tuple(params))).all()  # type: ignore[no-any-return]
    _tell_listeners(sync, sql, params)
    try:
        # the adapter's own lock: dataloaders of one request dispatch concurrently, and one
        # connection runs one statement at a time (SQLAlchemy's cursor takes the same lock)
        record_class = _statement_records.get(sql, Record)
        async with dbapi._execute_mutex:
            rows = await driver.fetch(sql, *params, record_class=record_class)
        if record_class is Record and rows:
            if len(_statement_records) >= _STATEMENT_RECORDS_MAX:
                _statement_records.clear()
            _statement_records[sql] = _record_class(tuple(rows[0].keys()))
        return rows  # type: ignore[no-any-return]
    except Exception as error:  # noqa: BLE001 - raised again as SQLAlchemy would raise it
        await greenlet_spawn(_raise_as_sqlalchemy, sync, dbapi, error, sql, tuple(params))
        raise  # not reached: _raise_as_sqlalchemy always raises


def _tell_listeners(sync: Any, sql: str, params: Sequence[Any]) -> None:
    """SQLAlchemy's before_cursor_execute listeners hear a statement the driver runs directly."""
    if sync._has_events or sync.engine._has_events:
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, sql, tuple(params), None, False)


def _raise_as_sqlalchemy(sync: Any, dbapi: Any, error: Exception, sql: str, params: tuple[Any, ...]) -> None:
    """The error as SQLAlchemy's cursor would have raised it: the dialect's DBAPI exception,
    wrapped by the Connection (a disconnect invalidates the connection and its pool's older ones)."""
    try:
        dbapi._handle_exception(error)  # raises the DBAPI-level exception
    except Exception as translated:  # noqa: BLE001
        sync._handle_dbapi_exception(translated, sql, params, None, None)
    raise error


async def first_statement(conn: Any, sql: str, params: Sequence[Any], *, with_begin: str | None = None) -> None:
    """The transaction's first statement (the RLS scope): the adapter begins its transaction as
    it would before its first cursor (BEGIN, under its lock), then the statement runs as `_fetch`
    runs it. Saves SQLAlchemy's cursor path on the one statement every request has.

    `with_begin`, the same statement with its values as literals, goes in BEGIN's message when
    the connection can carry it (db.ScopeConnection): one round trip instead of two. Listeners
    still hear `sql` with `params`, as if it had run on its own."""
    sync = conn.sync_connection
    dbapi = sync.connection.dbapi_connection if not sync.invalidated else None
    if dbapi is not None and getattr(dbapi, "_transaction", False) is None and hasattr(dbapi, "_start_transaction"):
        driver = getattr(dbapi, "driver_connection", None)
        carried = with_begin is not None and hasattr(driver, "after_begin")
        try:
            async with dbapi._execute_mutex:
                if dbapi._transaction is None:
                    if carried:
                        driver.after_begin = with_begin
                    try:
                        await dbapi._start_transaction()
                    finally:
                        if carried and driver.after_begin is not None:  # BEGIN did not take it
                            driver.after_begin = None
                            carried = False
                else:
                    carried = False
        except Exception as error:  # noqa: BLE001 - raised as SQLAlchemy would raise it
            try:
                await greenlet_spawn(_raise_as_sqlalchemy, sync, dbapi, error, "BEGIN", ())
            finally:
                # asyncpg keeps a transaction whose BEGIN failed as the connection's open one (its
                # next BEGIN would be a SAVEPOINT outside any transaction): the connection is dropped
                if not sync.invalidated:
                    await greenlet_spawn(sync.invalidate)
            raise
        if carried:
            _tell_listeners(sync, sql, params)
            return
    await _fetch(conn, sql, params)


async def rows(session: AsyncSession, scope: Scope, model: Any, where: dict[str, Sequence[Any]], *,
               visibility: str = NONE, order: str | None = None) -> Sequence[Row[Any]]:
    """Rows of `model` whose columns take one of the given values (`attr = ANY(values)` for
    each entry of `where`), visible to `scope` by `visibility`, ordered by the `order` column."""
    keys = tuple((attr, _sqltype(values)) for attr, values in where.items())
    sql, scope_args = _statement(model, keys, visibility, order, filters.enabled())
    arrays = _scope_arrays(scope)
    params = tuple(list(v) for v in where.values()) + tuple(arrays[a] for a in scope_args)
    conn = await _connection(session)
    return await _fetch(conn, sql, params)


# --------------------------------------------------------------------------------------------
# Pages and counts: the list queries' keyset page (`id > after ORDER BY id LIMIT n`) and their
# totals, with the list's own conditions written with `Args`. A scope array of one value is written
# `col = $n` (see filters.among: an index on (col, id) then yields the rows in id order, which
# is what lets a page of a million-row table stop after n rows).


class Args:
    """Positional parameters of a statement being written: `args(v)` appends v, gives `$n`."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def copy(self) -> Args:
        out = Args()
        out.values = list(self.values)
        return out


def _scoped_predicate(model: Any, mode: str, scope: Scope, args: Args) -> str:
    """The visibility predicate, its scope arrays appended to `args`; a one-value array is a
    plain `=` (index order kept)."""
    pred, names = _visibility(model, mode, len(args.values) + 1)
    arrays = _scope_arrays(scope)
    for name in names:
        values = arrays[name]
        if name in ("tenants", "agencies") and len(values) == 1:
            slot = args(values[0])
            pred = pred.replace(f"= ANY({slot}::bigint[])", f"= {slot}::bigint")
        else:
            args(values)
    return pred


def _where(model: Any, scope: Scope, visibility: str, where: Sequence[str], args: Args) -> str:
    """The WHERE text: the caller's conditions (their parameters already in `args`), then the
    visibility predicate."""
    parts = list(where)
    if visibility != NONE and filters.enabled():
        parts.append(_scoped_predicate(model, visibility, scope, args))
    return " AND ".join(parts) if parts else "TRUE"


async def page(session: AsyncSession, scope: Scope, model: Any, *, visibility: str, where: Sequence[str] = (),
               args: Args | None = None, after: int | None, limit: int) -> Sequence[Row[Any]]:
    """One keyset page of `model` rows by id: visible, matching `where` (conditions written with
    `args`, which is left as it was), ids above `after`."""
    a = args.copy() if args is not None else Args()
    conds = [*where, f"{_column(model, 'id')} > {a(after)}"] if after is not None else list(where)
    cond = _where(model, scope, visibility, conds, a)
    table, cols = _columns(model)
    sql = f"SELECT {cols} FROM {table} AS t WHERE {cond} ORDER BY {_column(model, 'id')} LIMIT {a(limit)}"
    conn = await _connection(session)
    return await _fetch(conn, sql, a.values)


async def count(session: AsyncSession, scope: Scope, model: Any, *, visibility: str, where: Sequence[str] = (),
                args: Args | None = None) -> int:
    a = args.copy() if args is not None else Args()
    cond = _where(model, scope, visibility, where, a)
    table, _ = _columns(model)
    conn = await _connection(session)
    return int((await _fetch(conn, f"SELECT count(*) FROM {table} AS t WHERE {cond}", a.values))[0][0])


async def fetch(session: AsyncSession, sql: str, params: Sequence[Any]) -> Sequence[Any]:
    """A hand-written SELECT of the hot path (rows with attribute access), as `rows` runs it."""
    conn = await _connection(session)
    return await _fetch(conn, sql, params)


# --------------------------------------------------------------------------------------------
# More pieces for statements written out by hand (the problem list's union of visibility branches).


def among(column_sql: str, values: frozenset[int], args: Args) -> str:
    """filters.among as driver SQL: `= $n` for one value (index order kept), else `= ANY(...)`."""
    vs = sorted(values)
    if len(vs) == 1:
        return f"{column_sql} = {args(vs[0])}::bigint"
    return f"{column_sql} = ANY({args(vs)}::bigint[])"


@functools.lru_cache(maxsize=64)
def select_list(model: Any, alias: str, prefix: str = "") -> str:
    """`alias.column AS prefix+attribute, ...` for every column of a mapped class."""
    _, cols = _columns(model)
    out = []
    for part in cols.split(", "):
        column, _, attr = part.partition(" AS ")
        column = alias + column[1:]  # "t.x" -> "<alias>.x"
        name = attr or column.split(".", 1)[1]
        out.append(f"{column} AS {_q(prefix + name.strip(chr(34)))}")
    return ", ".join(out)


@functools.lru_cache(maxsize=64)
def record_type(model: Any) -> Any:
    """A read-only record class with the attributes of a mapped class (rows split from a join)."""
    return namedtuple(f"{model.__name__}Row", [p.key for p in inspect(model).column_attrs])  # type: ignore[misc]
