"""Roll-up refresh moves only the items whose facts changed.

Every write to a watched table refreshes its items' facts (migration 0004). Most writes do not
change a fact at all (a rung delivered, a measure's text edited, a clue's notes): before, such
an item's facts were still deleted and re-inserted and every summary row above it moved by -1
and +1, which locked those rows until commit. Deliveries of one region's rungs then queued up
behind each other on the same summary rows. Now the new facts are computed first, compared
with the stored ones, and only the items that differ are rewritten and moved.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KINDS = ("problem", "inspection", "target", "clue", "escalation")


def _function(changed_only: bool) -> str:
    branches = "\n  ".join(
        f"{'IF' if n == 0 else 'ELSIF'} k = '{k}' THEN\n"
        f"    SELECT array_agg(ROW(s.*)::rollup_fact) INTO new_facts FROM rollup_src_{k} s WHERE s.item_id = ANY(ids);"
        for n, k in enumerate(KINDS))
    if changed_only:
        apply = """
  -- the items with a fact the other side lacks (identical facts: nothing to move)
  SELECT array_agg(DISTINCT d.item_id) INTO changed FROM (
    (SELECT * FROM unnest(old_facts) EXCEPT SELECT * FROM unnest(new_facts))
    UNION ALL
    (SELECT * FROM unnest(new_facts) EXCEPT SELECT * FROM unnest(old_facts))) d;
  IF changed IS NULL THEN RETURN; END IF;"""
    else:
        apply = "\n  changed := ids;"
    return f"""
CREATE OR REPLACE FUNCTION ducha_rollup_refresh(k text, ids bigint[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  old_facts rollup_fact[];
  new_facts rollup_fact[];
  changed bigint[];
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 OR ducha_rollup_deferred() THEN RETURN; END IF;
  SELECT array_agg(f) INTO old_facts FROM rollup_fact f WHERE f.kind = k AND f.item_id = ANY(ids);
  {branches}
  ELSE
    RAISE EXCEPTION 'unknown roll-up kind %', k;
  END IF;{apply}
  DELETE FROM rollup_fact WHERE kind = k AND item_id = ANY(changed);
  PERFORM ducha_rollup_apply(-1, ARRAY(SELECT f FROM unnest(old_facts) f WHERE f.item_id = ANY(changed)));
  INSERT INTO rollup_fact SELECT * FROM unnest(new_facts) f WHERE f.item_id = ANY(changed);
  PERFORM ducha_rollup_apply(1, ARRAY(SELECT f FROM unnest(new_facts) f WHERE f.item_id = ANY(changed)));
END $$;
"""


def upgrade() -> None:
    op.execute(_function(changed_only=True))


def downgrade() -> None:
    op.execute(_function(changed_only=False))
