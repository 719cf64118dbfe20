"""SQL builders for row-level security, shared by every migration that adds a tenant table.

Each policy reads the transaction's scope through small STABLE functions, wrapped as
`(SELECT f())` so PostgreSQL evaluates them once per statement (an init plan), not per row.
"""

from __future__ import annotations

TENANT_VISIBLE = "tenant_id = ANY ((SELECT ducha_tenant_ids())::bigint[])"
WRITABLE = "(SELECT ducha_writable())"


def enable(table: str, visible: str, *, writable: str | None = None) -> list[str]:
    """ENABLE + FORCE RLS on `table`; SELECT sees `visible`, writes need `writable` and no read-only scope."""
    w = writable or visible
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({visible})",
        f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK (({w}) AND {WRITABLE})",
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING (({w}) AND {WRITABLE})"
        f" WITH CHECK (({w}) AND {WRITABLE})",
        f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING (({w}) AND {WRITABLE})",
    ]


def disable(table: str) -> list[str]:
    return [f"DROP POLICY IF EXISTS {table}_{c} ON {table}" for c in ("select", "insert", "update", "delete")] + [
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def statements(script: str) -> list[str]:
    """Split a SQL script into statements (asyncpg runs one per call); `$$` bodies stay whole."""
    out: list[str] = []
    buf: list[str] = []
    in_body = False
    for line in script.splitlines():
        if line.strip().startswith("--") and not in_body:
            continue
        buf.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(buf).strip().rstrip(";"))
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return [s for s in out if s]


def run(script: str) -> None:
    """Execute every statement of a script inside the current migration."""
    from alembic import op

    for stmt in statements(script):
        op.execute(stmt)
