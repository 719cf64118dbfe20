"""The read-only overseer's export request may move its own tenant's audit head.

0005 lets a read-only scope (the provincial justice department) file an export job, its
outbox row and the `export.request` entry of the audit chain, in its home tenant. 0008 then
put audit_head under RLS with writes allowed to writable scopes only, so that one audited
write of a read-only scope was refused: the overseer could no longer export. Now a session
may also read, create and advance the head of its *home* tenant. That is all it adds for a
read-only scope: the head's trigger (0008) still lets an UPDATE only keep the head or move it
by exactly one, and the only audit_log row such a scope may add is its own export request
(0005); a head moved without its row shows up as a cut chain in `verify`.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from ducha.migrations import rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HOME = "tenant_id = (SELECT ducha_home_tenant())"

SCRIPT = f"""
CREATE POLICY audit_head_home_select ON audit_head FOR SELECT USING ({HOME});
CREATE POLICY audit_head_home_insert ON audit_head FOR INSERT WITH CHECK ({HOME});
CREATE POLICY audit_head_home_update ON audit_head FOR UPDATE USING ({HOME}) WITH CHECK ({HOME});
"""


def upgrade() -> None:
    rls.run(SCRIPT)


def downgrade() -> None:
    for c in ("select", "insert", "update"):
        op.execute(f"DROP POLICY IF EXISTS audit_head_home_{c} ON audit_head")
