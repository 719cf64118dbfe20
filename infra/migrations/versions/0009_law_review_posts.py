"""述法评议 per head: a town has two heads who report (党委书记 and 镇长, 党政主要负责人), a county
department one (主要负责人). A review names the post; a post is reviewed at most once a year.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE law_review ADD COLUMN post text NOT NULL DEFAULT 'principal'"
        " CHECK (post IN ('party_secretary', 'government_head', 'principal'))"
    )
    op.execute("ALTER TABLE law_review DROP CONSTRAINT law_review_tenant_id_agency_id_year_key")
    op.execute("ALTER TABLE law_review ADD CONSTRAINT law_review_post_year UNIQUE (tenant_id, agency_id, post, year)")


def downgrade() -> None:
    op.execute("ALTER TABLE law_review DROP CONSTRAINT law_review_post_year")
    op.execute("DELETE FROM law_review WHERE post <> 'principal' AND EXISTS (SELECT 1 FROM law_review o"
               " WHERE o.tenant_id = law_review.tenant_id AND o.agency_id = law_review.agency_id"
               " AND o.year = law_review.year AND o.id < law_review.id)")
    op.execute("ALTER TABLE law_review ADD CONSTRAINT law_review_tenant_id_agency_id_year_key"
               " UNIQUE (tenant_id, agency_id, year)")
    op.execute("ALTER TABLE law_review DROP COLUMN post")
