"""The acceptance chain a round started with, kept on the problem instance.

A tenant may change its chain of sign-offs at any time; a round already under way keeps the
steps it started with (services/acceptance.py), so a signer's (round, step) always means the
same step. NULL (rounds started before this revision): the tenant's current chain.

The chain itself was visible to the owning office only, so a unit asking for acceptance (or
signing its own step) read the default chain instead of the office's: it is now also visible
to the units a problem of that office is addressed to (as the instance itself is).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from ducha.migrations import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


CHAIN_VISIBLE = (
    f"{rls.TENANT_VISIBLE} OR EXISTS (SELECT 1 FROM problem_instance i WHERE i.tenant_id = acceptance_chain.tenant_id"
    " AND i.status <> 'found' AND (i.target_tenant_id = ANY ((SELECT ducha_tenant_ids())::bigint[])"
    " OR i.agency_id = ANY ((SELECT ducha_agency_ids())::bigint[])))"
)


def upgrade() -> None:
    op.execute("DROP POLICY acceptance_chain_select ON acceptance_chain")
    op.execute(f"CREATE POLICY acceptance_chain_select ON acceptance_chain FOR SELECT USING ({CHAIN_VISIBLE})")
    op.execute(
        "ALTER TABLE problem_instance ADD COLUMN acceptance_steps jsonb"
        " CHECK (acceptance_steps IS NULL OR (jsonb_typeof(acceptance_steps) = 'array'"
        " AND jsonb_array_length(acceptance_steps) BETWEEN 1 AND 8))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE problem_instance DROP COLUMN acceptance_steps")
    op.execute("DROP POLICY acceptance_chain_select ON acceptance_chain")
    op.execute(f"CREATE POLICY acceptance_chain_select ON acceptance_chain FOR SELECT USING ({rls.TENANT_VISIBLE})")
