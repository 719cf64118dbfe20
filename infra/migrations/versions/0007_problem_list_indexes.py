"""Indexes for the problem list's visibility branches.

The problem list is ordered by id and cut at a page; visibility is three ways (the owning
office's chain, the target tenant's office, the unit itself). Each way is queried as its own
id-ordered branch (graphql/inspection/queries.py), so each needs an index that yields ids in
order: (tenant_id, id) is the primary key; these add (target_tenant_id, id) and (agency_id, id).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX problem_instance_target_tenant_id ON problem_instance (target_tenant_id, id)")
    op.execute("CREATE INDEX problem_instance_agency_id ON problem_instance (agency_id, id)")


def downgrade() -> None:
    op.execute("DROP INDEX problem_instance_agency_id")
    op.execute("DROP INDEX problem_instance_target_tenant_id")
