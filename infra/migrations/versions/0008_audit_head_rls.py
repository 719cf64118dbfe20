"""Row-level security on audit_head, the last tenant table without it.

audit_head (one row per tenant: the audit chain's last seq and hash) was left without RLS so
that a unit acting on a higher office's item can append to that office's chain, which it
cannot read. That left a tenant-owned table open to the API's role with no scope at all: any
session of `ducha_app` could read every tenant's head and move it. Now:

- RLS is ENABLEd and FORCEd like on every other tenant table;
- a session sees the heads of its visible tenants, and any head while its scope may write
  (appending to a higher office's chain needs that, as `audit_log_insert` does);
- INSERT and UPDATE need a writable scope (no scope, or the read-only overseer: nothing);
- DELETE stays revoked from `ducha_app` (0003), and no policy allows it;
- a trigger lets an UPDATE only keep the head (the append's lock) or advance it by exactly one,
  never re-point it to another tenant or jump the sequence, whoever runs it.

And alembic_version, the one table without RLS, is no longer writable by the API's and the
workers' roles (the blanket GRANTs on ALL TABLES of earlier migrations included it).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from ducha.migrations import rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCRIPT = f"""
ALTER TABLE audit_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_head FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_head_select ON audit_head FOR SELECT USING ({rls.TENANT_VISIBLE} OR {rls.WRITABLE});
CREATE POLICY audit_head_insert ON audit_head FOR INSERT WITH CHECK ({rls.WRITABLE});
CREATE POLICY audit_head_update ON audit_head FOR UPDATE USING ({rls.WRITABLE}) WITH CHECK ({rls.WRITABLE});
CREATE FUNCTION ducha_audit_head_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.tenant_id <> OLD.tenant_id THEN
    RAISE EXCEPTION 'audit_head: a head never moves to another tenant' USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.seq = OLD.seq AND NEW.hash IS DISTINCT FROM OLD.hash THEN
    RAISE EXCEPTION 'audit_head: the hash of seq % cannot change', OLD.seq USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.seq <> OLD.seq AND NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'audit_head: seq moves from % to % (only by one)', OLD.seq, NEW.seq USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_head_step BEFORE UPDATE ON audit_head FOR EACH ROW EXECUTE FUNCTION ducha_audit_head_step();
DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ducha_app') THEN
  REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM ducha_app, ducha_system;
END IF; END $$;
"""


def upgrade() -> None:
    rls.run(SCRIPT)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_head_step ON audit_head")
    op.execute("DROP FUNCTION IF EXISTS ducha_audit_head_step()")
    for c in ("select", "insert", "update"):
        op.execute(f"DROP POLICY IF EXISTS audit_head_{c} ON audit_head")
    op.execute("ALTER TABLE audit_head NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_head DISABLE ROW LEVEL SECURITY")
