"""Generate infra/citus/distribute.sql from the migrated schema, and check Citus's rules on it.

``python -m ducha.citus.generate [--check PATH]`` reads PostgreSQL's catalog of the database at
DATABASE_URL (migrated to head by ``ducha migrate``) and prints the DDL that makes the shared
tables reference tables and distributes every other table by ``tenant_id``, all in one
colocation group; with ``--check`` it exits 1 when PATH differs from that output or the schema
breaks a rule. ``tests/test_citus_rules.py`` runs both against the test database.

The rules (what ``create_distributed_table`` and ``create_reference_table`` refuse, or what
would make a tenant's rows span nodes):

- every table is a reference table, a local one, or has the ``tenant_id`` column;
- a distributed table has a primary key, and ``tenant_id`` is in it, in every unique
  constraint and unique index, and in every exclusion constraint;
- a foreign key between distributed tables pairs ``tenant_id`` with ``tenant_id`` (same
  position on both sides); to a reference table anything goes;
- a reference table references reference tables only;
- a foreign key holding ``tenant_id`` never sets it NULL/DEFAULT on delete and never
  cascades or sets it on update;
- ``tenant_id`` has one type everywhere (colocation needs equal types).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DISTRIBUTION_COLUMN = "tenant_id"

# Replicated to every node: the platform's own data (the region tree, working-day calendar)
# and the small directories every tenant's rows point at and every request joins (who the
# caller is, its agency and grants, which tenants exist). Read on each request, written
# rarely, a few thousand rows; none of them may reference a distributed table.
REFERENCE_TABLES: tuple[str, ...] = (
    "region",
    "tenant",
    "agency",
    "app_user",
    "role_assignment",
    "calendar_day",
    "calendar_year",
    # roll-up bookkeeping of the platform: which tenant holds each region, and "today"
    "rollup_region",
    "rollup_clock",
)

# Stay on the coordinator only: bookkeeping no query joins.
LOCAL_TABLES: tuple[str, ...] = ("alembic_version",)

HERE = Path(__file__).resolve().parent
DDL_PATH = HERE / "distribute.sql"


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: str  # 'p' primary key, 'u' unique, 'x' exclusion, 'f' foreign key, 'i' unique index
    columns: tuple[str, ...]  # key columns; '' for an expression
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    on_delete: str = "a"  # pg_constraint.confdeltype
    on_update: str = "a"


@dataclass
class Table:
    name: str
    columns: dict[str, str] = field(default_factory=dict)  # name -> type
    constraints: list[Constraint] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)  # "name (row|statement)"

    @property
    def tenant_owned(self) -> bool:
        return DISTRIBUTION_COLUMN in self.columns

    def of_kind(self, *kinds: str) -> list[Constraint]:
        return [c for c in self.constraints if c.kind in kinds]


@dataclass(frozen=True)
class Violation:
    rule: str
    table: str
    constraint: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.table}.{self.constraint}: {self.detail}"


_TABLES = text("""
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
""")
_COLUMNS = text("""
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
""")
_CONSTRAINTS = text("""
SELECT con.conname, con.contype::text, rel.relname, frel.relname,
       ARRAY(SELECT coalesce(a.attname, '') FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT coalesce(a.attname, '') FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
       con.confdeltype::text, con.confupdtype::text
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
LEFT JOIN pg_class frel ON frel.oid = con.confrelid
WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'x', 'f')
""")
# Unique indexes made by CREATE UNIQUE INDEX (those behind constraints are read above); key
# columns only (INCLUDE columns do not take part in uniqueness); 0 is an expression.
_UNIQUE_INDEXES = text("""
SELECT i.relname, t.relname,
       ARRAY(SELECT coalesce(a.attname, '') FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o)
             LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n
             WHERE o <= ix.indnkeyatts ORDER BY o)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND ix.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.conrelid = ix.indrelid
                  AND c.contype IN ('p', 'u', 'x'))
""")
_TRIGGERS = text("""
SELECT c.relname, t.tgname, CASE WHEN t.tgtype & 1 = 1 THEN 'row' ELSE 'statement' END
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
""")


async def read_schema(conn: AsyncConnection) -> dict[str, Table]:
    """The public schema's tables, columns, keys and unique indexes, from the catalog."""
    tables = {name: Table(name) for (name,) in (await conn.execute(_TABLES)).all()}
    for rel, col, typ in (await conn.execute(_COLUMNS)).all():
        if rel in tables:
            tables[rel].columns[col] = typ
    for name, kind, rel, ref, cols, ref_cols, on_delete, on_update in (await conn.execute(_CONSTRAINTS)).all():
        if rel in tables:
            tables[rel].constraints.append(Constraint(name, kind, tuple(cols), ref, tuple(ref_cols or ()),
                                                      on_delete or "a", on_update or "a"))
    for name, rel, cols in (await conn.execute(_UNIQUE_INDEXES)).all():
        if rel in tables:
            tables[rel].constraints.append(Constraint(name, "i", tuple(cols)))
    for rel, name, level in (await conn.execute(_TRIGGERS)).all():
        if rel in tables:
            tables[rel].triggers.append(f"{name} ({level})")
    for t in tables.values():
        t.constraints.sort(key=lambda c: (c.kind, c.name))
        t.triggers.sort()
    return tables


def distributed(tables: dict[str, Table]) -> list[str]:
    return sorted(n for n, t in tables.items() if t.tenant_owned and n not in REFERENCE_TABLES and n not in LOCAL_TABLES)


def violations(tables: dict[str, Table]) -> list[Violation]:
    """Every way the schema breaks Citus's rules (empty: distribute.sql runs as generated)."""
    out: list[Violation] = []
    dist = set(distributed(tables))
    ref = {n for n in REFERENCE_TABLES if n in tables}
    col = DISTRIBUTION_COLUMN
    for name in REFERENCE_TABLES:
        if name not in tables:
            out.append(Violation("classified", name, "-", "listed as a reference table but not in the schema"))
    for name, t in sorted(tables.items()):
        if name not in dist and name not in ref and name not in LOCAL_TABLES:
            out.append(Violation("classified", name, "-", f"no {col} column and not a reference or local table"))
    types = {tables[n].columns[col] for n in dist}
    if len(types) > 1:
        out.append(Violation("one type", "*", col, f"{col} has several types: {sorted(types)}"))
    for name in sorted(dist):
        t = tables[name]
        if not t.of_kind("p"):
            out.append(Violation("primary key", name, "-", "a distributed table needs a primary key"))
        for c in t.of_kind("p"):
            if col not in c.columns:
                out.append(Violation("primary key", name, c.name, f"({', '.join(c.columns)}) lacks {col}"))
        for c in t.of_kind("u", "i", "x"):
            if col not in c.columns:
                what = {"u": "unique constraint", "i": "unique index", "x": "exclusion constraint"}[c.kind]
                out.append(Violation("unique", name, c.name, f"{what} ({', '.join(c.columns)}) lacks {col}"))
        for c in t.of_kind("f"):
            pair = col in c.columns and c.ref_columns[c.columns.index(col)] == col
            if c.ref_table in dist and not pair:
                out.append(Violation("foreign key", name, c.name,
                                     f"({', '.join(c.columns)}) -> {c.ref_table} ({', '.join(c.ref_columns)}) "
                                     f"does not pair {col} with {col}"))
            elif c.ref_table not in dist and c.ref_table not in ref:
                out.append(Violation("foreign key", name, c.name, f"references {c.ref_table}, neither distributed nor reference"))
            if col in c.columns and (c.on_delete in "nd" or c.on_update in "cnd"):
                out.append(Violation("foreign key action", name, c.name,
                                     f"ON DELETE/UPDATE would change {col} (confdeltype={c.on_delete}, confupdtype={c.on_update})"))
    for name in sorted(ref):
        for c in tables[name].of_kind("f"):
            if c.ref_table not in ref:
                out.append(Violation("reference", name, c.name, f"a reference table references {c.ref_table}"))
    return out


def _topological(names: Iterable[str], tables: dict[str, Table]) -> list[str]:
    """Referenced tables before those that reference them; alphabetical among equals."""
    pending = set(names)
    deps = {n: {c.ref_table for c in tables[n].of_kind("f") if c.ref_table in pending and c.ref_table != n}
            for n in pending}
    order: list[str] = []
    while pending:
        ready = sorted(n for n in pending if not deps[n] & pending)
        if not ready:  # a cycle: Citus takes the rest in any order once the keys are added later
            ready = sorted(pending)
        order.append(ready[0])
        pending.discard(ready[0])
    return order


def render(tables: dict[str, Table]) -> str:
    """The DDL, deterministic for a given schema."""
    refs = _topological([n for n in REFERENCE_TABLES if n in tables], tables)
    dist = _topological(distributed(tables), tables)
    local = sorted(n for n in LOCAL_TABLES if n in tables)
    lines = [
        "-- Generated by `python -m ducha.citus.generate` from the migrated schema: do not edit by hand.",
        "-- Run once on the Citus coordinator, as the owner, after `ducha migrate` and before any data.",
        "-- tests/test_citus_rules.py checks the schema keeps Citus's rules and that this file is current.",
        "CREATE EXTENSION IF NOT EXISTS citus;",
        "",
        "-- Reference tables: one copy on every node; referenced tables first.",
        *(f"SELECT create_reference_table('{n}');" for n in refs),
        "",
        f"-- Distributed by {DISTRIBUTION_COLUMN}, all in one colocation group: a tenant's rows of every",
        "-- table sit on one node, so its joins, foreign keys and RLS sub-selects stay local.",
    ]
    if dist:
        anchor = dist[0]
        lines.append(f"SELECT create_distributed_table('{anchor}', '{DISTRIBUTION_COLUMN}', colocate_with => 'none');")
        lines += [f"SELECT create_distributed_table('{n}', '{DISTRIBUTION_COLUMN}', colocate_with => '{anchor}');"
                  for n in dist[1:]]
    lines += ["", f"-- Left on the coordinator: {', '.join(local) or 'none'}."]
    triggered = [t for t in [*refs, *dist] if tables[t].triggers]
    if triggered:
        # Not a rule the DDL can satisfy: Citus runs no trigger on a reference table and only
        # row-level ones on shards (citus.enable_unsafe_triggers), seeing that shard alone.
        lines += ["", "-- Triggers: none runs on a reference table; on a distributed one only row-level ones that read",
                  "-- their own row may stay (citus.enable_unsafe_triggers). See infra/citus/README.md."]
        lines += [f"--   {t}: {', '.join(tables[t].triggers)}" for t in triggered]
    lines.append("")
    return "\n".join(lines)


async def _load(url: str) -> dict[str, Table]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            return await read_schema(conn)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha.citus.generate", description=__doc__.splitlines()[0])
    p.add_argument("--url", default=None, help="database (default: DATABASE_URL, migrated to head)")
    p.add_argument("--check", type=Path, default=None, help="exit 1 unless PATH equals the output and no rule is broken")
    args = p.parse_args(argv)
    from ducha.settings import get_settings

    url = args.url or get_settings().database_url
    if not url:
        print("set DATABASE_URL (or --url) to a migrated database", file=sys.stderr)
        return 2
    tables = asyncio.run(_load(url))
    found = violations(tables)
    for v in found:
        print(f"citus rule broken: {v}", file=sys.stderr)
    ddl = render(tables)
    if args.check is not None:
        same = args.check.read_text(encoding="utf-8") == ddl
        if not same:
            print(f"{args.check} is not current: regenerate it with python -m ducha.citus.generate", file=sys.stderr)
        return 0 if same and not found else 1
    sys.stdout.write(ddl)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
