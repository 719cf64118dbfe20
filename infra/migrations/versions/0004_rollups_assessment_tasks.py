"""Roll-ups (facts and summary rows kept in step by triggers), assessment, key-task lists.

Revision ID: 0004
Revises: 0003

Roll-ups. Every countable item (an inspection, an inspection target, a problem instance, a
clue, an escalation rung) has one row in `rollup_fact`: where it is (its unit's region path),
its day, its dimensions and a vector of 0/1 counters (problems, closed, overdue, ...). Each
fact is added into `rollup_summary` at every node above it (province, city, county, town,
and the unit itself as a leaf) for its month, once per grouping set of the dimensions. The
`rollup_src_*` views define a fact from the base tables; they are the one definition of
every figure, used by the triggers, by `ducha_rollup_rebuild()` and by `ducha rollup check`.

Why triggers (statement-level, with transition tables) rather than calls from the services:
every writer of these tables - the services, the escalation sweep's single big statement,
a cascade delete, a console fix - keeps the summary in step in its own transaction, and no
service has to know the roll-up exists. A trigger recomputes the whole fact of each touched
item (old fact out, new fact in), so the counters never drift on an edge case of a delta.
Bulk loads (`ducha gen`) set `ducha.rollup_defer` on their connection and call
`ducha_rollup_rebuild()` once at the end, which builds the same rows set-based.

Visibility: a summary row belongs to its node's tenant (tenant_id) and remembers the owner
of its items, normalised: an owner at or above the node's tenant is kept (a province office
inspecting a county's unit), an owner inside the node's subtree becomes the node's tenant
(anyone who sees the node sees it). A row is visible when its node's tenant is in scope and
either its items are released to their targets (a problem fed back) or their owner is in
scope - exactly the rule of the base rows' RLS, so drill-down lists count what the figure says.
"""

from alembic import op

from ducha.migrations import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The counters of a fact, in order; the summary has the same columns (summed).
COUNTERS = [
    "inspections", "insp_comprehensive", "insp_special", "insp_case", "insp_routine", "insp_joint", "insp_mobile",
    "insp_research", "insp_lookback",
    "targets", "targets_lower",
    "problems", "problems_common", "problems_rectifying", "problems_overdue", "problems_closed",
    "problems_closed_on_time", "measures", "measures_completed", "lookback", "lookback_rebound",
    "clues", "clues_transferred", "clues_transferred_on_time", "clues_received_late", "clues_fed_back", "clues_closed",
    "esc_reminder", "esc_supervision_letter", "esc_interview", "esc_public_criticism", "esc_referral", "esc_proposed",
]
KEY = ["tenant_id", "kind", "item_id", "agency_id", "agency_tenant_id", "region_code", "region_path", "owner_depth",
       "released", "day", "category", "ikind", "source", "severity"]
SUMMARY_KEY = ["tenant_id", "region_code", "agency_id", "month", "gset", "category", "ikind", "source", "severity",
               "owner_tenant_id", "released"]
STARTED = "('in_progress', 'reporting', 'feedback', 'rectification', 'closed')"
OPEN = "('notified', 'rectifying', 'in_acceptance', 'reopened')"
RUNGS = ["reminder", "supervision_letter", "interview", "public_criticism", "referral"]
KINDS = ["comprehensive", "special", "case", "routine", "joint", "mobile", "research", "lookback"]

# Secondary indexes, dropped and made anew around a set-based rebuild (cheaper than maintaining them).
FACT_INDEXES = {
    "rollup_fact_item": "CREATE INDEX rollup_fact_item ON rollup_fact (kind, item_id)",
    "rollup_fact_path": "CREATE INDEX rollup_fact_path ON rollup_fact (kind, region_path text_pattern_ops, day)",
}
SUMMARY_INDEXES = {
    "rollup_summary_children": "CREATE INDEX rollup_summary_children ON rollup_summary (parent_code, gset, month)",
    "rollup_summary_self": "CREATE INDEX rollup_summary_self ON rollup_summary (region_code, gset, month) WHERE agency_id = 0",
}

FUNCTIONS = r"""
CREATE FUNCTION ducha_path_depth(p text) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
  $$ SELECT (array_length(string_to_array(p, '/'), 1) - 1)::smallint $$;
-- The day in China of an instant (UTC+8, no daylight saving).
CREATE FUNCTION ducha_china_date(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
  $$ SELECT ((t AT TIME ZONE 'UTC') + interval '8 hours')::date $$;
-- Bulk loaders switch the triggers off for their own transaction and rebuild at the end.
CREATE FUNCTION ducha_rollup_deferred() RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('ducha.rollup_defer', true), '') = 'on' $$;
"""

TABLES = r"""
-- Platform reference data: each region, its depth and the deepest tenant that holds it.
CREATE TABLE rollup_region (
  code text PRIMARY KEY,
  parent_code text,
  path text NOT NULL,
  depth smallint NOT NULL,
  tenant_id bigint NOT NULL,
  tenant_depth smallint NOT NULL
);

-- "Today" for the time-dependent figure (overdue): moved by the daily sweep, which refreshes
-- the problems that crossed their due date, so that figures and drill-downs agree.
CREATE TABLE rollup_clock (
  id smallint PRIMARY KEY CHECK (id = 1),
  today date NOT NULL
);

CREATE TABLE rollup_fact (
  tenant_id bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('inspection', 'target', 'problem', 'clue', 'escalation')),
  item_id bigint NOT NULL,
  agency_id bigint NOT NULL,
  agency_tenant_id bigint NOT NULL,
  region_code text NOT NULL,
  region_path text NOT NULL,
  owner_depth smallint NOT NULL,
  released boolean NOT NULL,
  day date NOT NULL,
  category text,
  ikind text,
  source text,
  severity text,
  {fact_counters},
  PRIMARY KEY (tenant_id, kind, item_id)
);
-- ids are unique across tenants (identity columns); a plain index serves the per-item lookups
{fact_indexes};

-- gset: 0 all four dimensions, 1 none, 2 category, 3 inspection kind, 4 source, 5 severity.
-- Region nodes keep 0 and 1; the province, cities and counties all six; unit leaves only 1.
-- A dimension not in the set is ''; an item lacking it is '-' in set 0 and absent from its own set.
CREATE TABLE rollup_summary (
  tenant_id bigint NOT NULL,
  region_code text NOT NULL,
  agency_id bigint NOT NULL,
  parent_code text,
  month date NOT NULL,
  gset smallint NOT NULL,
  category text NOT NULL,
  ikind text NOT NULL,
  source text NOT NULL,
  severity text NOT NULL,
  owner_tenant_id bigint NOT NULL,
  released boolean NOT NULL,
  {summary_counters},
  PRIMARY KEY (tenant_id, region_code, agency_id, month, gset, category, ikind, source, severity, owner_tenant_id, released)
);
{summary_indexes};

-- The drill-down and the figures read these often; the cycle's tables lacked them.
CREATE INDEX lookback_item_instance ON lookback_item (tenant_id, instance_id);
CREATE INDEX inspection_target_inspection ON inspection_target (tenant_id, inspection_id);
CREATE INDEX problem_instance_id ON problem_instance (id);
CREATE INDEX problem_instance_problem ON problem_instance (tenant_id, problem_id);
CREATE INDEX clue_transfer_clue ON clue_transfer (tenant_id, clue_id);
""".format(
    fact_counters=",\n  ".join(f"{c} smallint NOT NULL DEFAULT 0" for c in COUNTERS),
    summary_counters=",\n  ".join(f"{c} integer NOT NULL DEFAULT 0" for c in COUNTERS),
    fact_indexes=";\n".join(FACT_INDEXES.values()), summary_indexes=";\n".join(SUMMARY_INDEXES.values()),
)


def _view(name: str, head: dict[str, str], counters: dict[str, str], body: str) -> str:
    cols = [f"{head[k]} AS {k}" for k in KEY] + [f"coalesce(({counters.get(c, '0')})::int, 0)::smallint AS {c}" for c in COUNTERS]
    return f"CREATE VIEW {name} WITH (security_invoker = true) AS SELECT\n  " + ",\n  ".join(cols) + "\n" + body + ";\n"


OWNER_DEPTH = "ducha_path_depth(ot.region_path)"

SRC_PROBLEM = _view(
    "rollup_src_problem",
    {"tenant_id": "i.tenant_id", "kind": "'problem'::text", "item_id": "i.id", "agency_id": "i.agency_id",
     "agency_tenant_id": "a.tenant_id", "region_code": "a.region_code", "region_path": "a.region_path",
     "owner_depth": OWNER_DEPTH, "released": "(i.status <> 'found')", "day": "p.found_on",
     "category": "p.category", "ikind": "ins.kind", "source": "p.source", "severity": "p.severity"},
    {"problems": "1", "problems_common": "p.is_common::int",
     "problems_rectifying": f"(i.status IN {OPEN})::int",
     "problems_overdue": f"coalesce(i.status IN {OPEN} AND i.due_on < (SELECT today FROM rollup_clock WHERE id = 1), false)::int",
     "problems_closed": "(i.status = 'closed')::int",
     "problems_closed_on_time": "(i.status = 'closed' AND (i.due_on IS NULL OR ducha_china_date(i.closed_at) <= i.due_on))::int",
     "measures": "ms.n", "measures_completed": "ms.done", "lookback": "(lb.n > 0)::int",
     "lookback_rebound": "i.rebound::int"},
    """FROM problem_instance i
JOIN problem p ON p.tenant_id = i.tenant_id AND p.id = i.problem_id
JOIN agency a ON a.id = i.agency_id
JOIN tenant ot ON ot.id = i.tenant_id
LEFT JOIN inspection ins ON ins.tenant_id = p.tenant_id AND ins.id = p.inspection_id
CROSS JOIN LATERAL (SELECT count(*) AS n, count(m.completed_at) AS done FROM measure m
                    WHERE m.tenant_id = i.tenant_id AND m.instance_id = i.id) ms
CROSS JOIN LATERAL (SELECT count(*) AS n FROM lookback_item l WHERE l.tenant_id = i.tenant_id AND l.instance_id = i.id) lb""",
)

INSPECTION_DAY = "coalesce(ins.starts_on, ducha_china_date(ins.created_at))"

SRC_INSPECTION = _view(
    "rollup_src_inspection",
    {"tenant_id": "ins.tenant_id", "kind": "'inspection'::text", "item_id": "ins.id",
     "agency_id": "coalesce(office.id, 0)", "agency_tenant_id": "ins.tenant_id", "region_code": "ot.region_code",
     "region_path": "ot.region_path", "owner_depth": OWNER_DEPTH, "released": "true", "day": INSPECTION_DAY,
     "category": "NULL::text", "ikind": "ins.kind", "source": "NULL::text", "severity": "NULL::text"},
    {"inspections": "1", **{f"insp_{k}": f"(ins.kind = '{k}')::int" for k in KINDS}},
    f"""FROM inspection ins
JOIN tenant ot ON ot.id = ins.tenant_id
LEFT JOIN LATERAL (SELECT a.id FROM agency a WHERE a.tenant_id = ins.tenant_id AND a.kind = 'office'
                   AND a.region_code = ot.region_code ORDER BY a.id LIMIT 1) office ON true
WHERE ins.status IN {STARTED}""",
)

SRC_TARGET = _view(
    "rollup_src_target",
    {"tenant_id": "t.tenant_id", "kind": "'target'::text", "item_id": "t.id", "agency_id": "t.agency_id",
     "agency_tenant_id": "a.tenant_id", "region_code": "a.region_code", "region_path": "a.region_path",
     "owner_depth": OWNER_DEPTH, "released": "true", "day": INSPECTION_DAY,
     "category": "NULL::text", "ikind": "ins.kind", "source": "NULL::text", "severity": "NULL::text"},
    {"targets": "1", "targets_lower": "(a.tenant_id <> t.tenant_id)::int"},
    f"""FROM inspection_target t
JOIN inspection ins ON ins.tenant_id = t.tenant_id AND ins.id = t.inspection_id
JOIN agency a ON a.id = t.agency_id
JOIN tenant ot ON ot.id = t.tenant_id
WHERE ins.status IN {STARTED}""",
)

SRC_CLUE = _view(
    "rollup_src_clue",
    {"tenant_id": "c.tenant_id", "kind": "'clue'::text", "item_id": "c.id", "agency_id": "c.origin_agency_id",
     "agency_tenant_id": "a.tenant_id", "region_code": "a.region_code", "region_path": "a.region_path",
     "owner_depth": OWNER_DEPTH, "released": "true", "day": "c.discovered_on",
     "category": "NULL::text", "ikind": "NULL::text", "source": "c.source", "severity": "NULL::text"},
    {"clues": "1", "clues_transferred": "(tr.first_on IS NOT NULL)::int",
     "clues_transferred_on_time": "(tr.first_on IS NOT NULL AND (dt.due_on IS NULL OR tr.first_on <= dt.due_on))::int",
     "clues_received_late": "tr.late::int", "clues_fed_back": "tr.fed_back::int",
     "clues_closed": "(c.state = 'closed')::int"},
    """FROM clue c
JOIN agency a ON a.id = c.origin_agency_id
JOIN tenant ot ON ot.id = c.tenant_id
LEFT JOIN deadline dt ON dt.tenant_id = c.tenant_id AND dt.subject_type = 'clue.transfer' AND dt.subject_id = c.id
CROSS JOIN LATERAL (
  SELECT min(t.transferred_on) AS first_on, coalesce(bool_or(t.feedback_at IS NOT NULL), false) AS fed_back,
         coalesce(bool_or(t.received_at IS NOT NULL AND ducha_china_date(t.received_at) > dr.due_on), false) AS late
  FROM clue_transfer t
  LEFT JOIN deadline dr ON dr.tenant_id = t.tenant_id AND dr.subject_type = 'clue.receipt' AND dr.subject_id = t.id
  WHERE t.tenant_id = c.tenant_id AND t.clue_id = c.id) tr""",
)

SRC_ESCALATION = _view(
    "rollup_src_escalation",
    {"tenant_id": "e.tenant_id", "kind": "'escalation'::text", "item_id": "e.id", "agency_id": "e.agency_id",
     "agency_tenant_id": "a.tenant_id", "region_code": "a.region_code", "region_path": "a.region_path",
     "owner_depth": OWNER_DEPTH, "released": "true", "day": "e.as_of",
     "category": "mp.category", "ikind": "ei.kind", "source": "coalesce(mp.source, c.source)",
     "severity": "mp.severity"},
    {**{f"esc_{r}": f"(e.status = 'issued' AND e.rung = {n})::int" for n, r in enumerate(RUNGS, 1)},
     "esc_proposed": "(e.status = 'proposed')::int"},
    """FROM escalation e
JOIN deadline d ON d.tenant_id = e.tenant_id AND d.id = e.deadline_id
JOIN agency a ON a.id = e.agency_id
JOIN tenant ot ON ot.id = e.tenant_id
LEFT JOIN measure m ON d.subject_type = 'measure' AND m.tenant_id = d.tenant_id AND m.id = d.subject_id
LEFT JOIN problem_instance mi ON mi.tenant_id = m.tenant_id AND mi.id = m.instance_id
LEFT JOIN problem mp ON mp.tenant_id = mi.tenant_id AND mp.id = mi.problem_id
LEFT JOIN feedback fb ON d.subject_type = 'rectification_notice' AND fb.tenant_id = d.tenant_id AND fb.id = d.subject_id
LEFT JOIN self_inspection si ON d.subject_type = 'self_inspection' AND si.tenant_id = d.tenant_id AND si.id = d.subject_id
LEFT JOIN inspection ei ON ei.tenant_id = d.tenant_id AND ei.id = coalesce(mp.inspection_id, fb.inspection_id, si.inspection_id)
LEFT JOIN clue_transfer ct ON d.subject_type IN ('clue.receipt', 'clue.feedback') AND ct.tenant_id = d.tenant_id
  AND ct.id = d.subject_id
LEFT JOIN clue c ON c.tenant_id = d.tenant_id
  AND c.id = CASE WHEN d.subject_type = 'clue.transfer' THEN d.subject_id ELSE ct.clue_id END
WHERE e.status IN ('issued', 'proposed')""",
)

SOURCES = {"problem": "rollup_src_problem", "inspection": "rollup_src_inspection", "target": "rollup_src_target",
           "clue": "rollup_src_clue", "escalation": "rollup_src_escalation"}
ALL_SOURCES = "(" + " UNION ALL ".join(f"SELECT * FROM {v}" for v in SOURCES.values()) + ")"


# Which dimension sets a node keeps: the province all six, cities and counties the five without
# the full cross (set 0), towns and units only the totals (set 1). Anything else is summed from
# the facts below the node (see services/rollups.summary_gset).
GSETS_AT = ("CASE WHEN {unit} THEN g.gset = 1 WHEN {depth} >= 3 THEN g.gset = 1 WHEN {depth} >= 1 THEN g.gset >= 1"
            " ELSE true END")
GSET_VALUES = "(VALUES (0::smallint), (1::smallint), (2::smallint), (3::smallint), (4::smallint), (5::smallint)) g(gset)"
DIMS = {2: "category", 3: "ikind", 4: "source", 5: "severity"}


def _gset_cols(a: str) -> tuple[str, str]:
    cols = ", ".join(
        f"CASE WHEN g.gset = 0 THEN coalesce({a}.{d}, '-') WHEN g.gset = {k} THEN {a}.{d} ELSE '' END AS {d}"
        for k, d in DIMS.items())
    has = " AND ".join(f"(g.gset <> {k} OR {a}.{d} IS NOT NULL)" for k, d in DIMS.items())
    return cols, has


def _rebuild_sql() -> str:
    """Set-based rebuild, level by level: facts summed per leaf, then per node of each level with
    the owner already normalised (so a level holds few rows), then the node's dimension sets.
    Secondary indexes are dropped first and built at the end; rows go in in key order."""
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTERS)
    cols, has = _gset_cols("l")
    out_cols = ", ".join(["tenant_id", "region_code", "agency_id", "parent_code", "month", "gset", "category", "ikind",
                          "source", "severity", "owner_tenant_id", "released", *COUNTERS])
    final_sums = ", ".join(f"sum(l.{c})::integer" for c in COUNTERS)
    plain = ", ".join(f"l.{c}::integer" for c in COUNTERS)
    owner = "CASE WHEN l.owner_depth <= rr.tenant_depth THEN l.owner ELSE {t} END"
    released = "(l.released OR l.owner_depth > rr.tenant_depth OR l.owner = {t})"
    key_order = "ORDER BY 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12"
    full = ", ".join(f"coalesce(l.{d}, '-')" for d in DIMS.values())
    drops = ", ".join([*FACT_INDEXES, *SUMMARY_INDEXES])
    creates = "\n  ".join(f"{v};" for v in [*FACT_INDEXES.values(), *SUMMARY_INDEXES.values()])
    return f"""
  TRUNCATE rollup_summary, rollup_fact;
  DROP INDEX IF EXISTS {drops};
  INSERT INTO rollup_fact SELECT * FROM {ALL_SOURCES} src ORDER BY tenant_id, kind, item_id;
  CREATE TEMP TABLE rb_leaf ON COMMIT DROP AS
    SELECT region_path, region_code, agency_id, agency_tenant_id, date_trunc('month', day)::date AS month,
           category, ikind, source, severity, tenant_id AS owner, owner_depth, released,
           ducha_path_depth(region_path) AS depth, {sums}
    FROM rollup_fact GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
  FOR k IN 0..3 LOOP
    CREATE TEMP TABLE rb_level ON COMMIT DROP AS
      SELECT rr.tenant_id, rr.code, rr.parent_code, l.month, l.category, l.ikind, l.source, l.severity,
             {owner.format(t="rr.tenant_id")} AS owner_n, {released.format(t="rr.tenant_id")} AS released_n, {sums}
      FROM rb_leaf l JOIN rollup_region rr ON rr.code = split_part(l.region_path, '/', k + 1)
      WHERE l.depth >= k GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
    IF k = 0 THEN
      -- the full cross is the level's rows themselves
      INSERT INTO rollup_summary ({out_cols})
      SELECT l.tenant_id, l.code, 0, l.parent_code, l.month, 0, {full}, l.owner_n, l.released_n, {plain}
      FROM rb_level l {key_order};
    END IF;
    INSERT INTO rollup_summary ({out_cols})
    SELECT l.tenant_id, l.code, 0, l.parent_code, l.month, g.gset, {cols}, l.owner_n, l.released_n, {final_sums}
    FROM rb_level l JOIN {GSET_VALUES} ON g.gset >= 1 AND {GSETS_AT.format(depth="k", unit="false")} AND {has}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 {key_order};
    DROP TABLE rb_level;
  END LOOP;
  INSERT INTO rollup_summary ({out_cols})
  SELECT l.agency_tenant_id, l.region_code, l.agency_id, l.region_code, l.month, 1, '', '', '', '',
         {owner.format(t="l.agency_tenant_id")}, {released.format(t="l.agency_tenant_id")}, {final_sums}
  FROM rb_leaf l JOIN rollup_region rr ON rr.code = l.region_code WHERE l.agency_id <> 0
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 {key_order};
  DROP TABLE rb_leaf;
  {creates}
  ANALYZE rollup_fact;
  ANALYZE rollup_summary;"""


def expand(src: str, sign: str = "1") -> str:
    """SELECT the summary rows (summed) of the facts in `src`, each counter times `sign`."""
    head = ("f.category, f.ikind, f.source, f.severity, " + ", ".join(f"f.{c} * {sign} AS {c}" for c in COUNTERS))
    regions = f"""
    SELECT rr.tenant_id, rr.code AS region_code, 0::bigint AS agency_id, rr.parent_code, rr.depth,
           date_trunc('month', f.day)::date AS month,
           CASE WHEN f.owner_depth <= rr.tenant_depth THEN f.tenant_id ELSE rr.tenant_id END AS owner_tenant_id,
           (f.released OR f.owner_depth > rr.tenant_depth OR f.tenant_id = rr.tenant_id) AS released, {head}
    FROM {src} f CROSS JOIN LATERAL unnest(string_to_array(f.region_path, '/')) pc(code)
    JOIN rollup_region rr ON rr.code = pc.code"""
    units = f"""
    SELECT f.agency_tenant_id, f.region_code, f.agency_id, f.region_code, 9::smallint,
           date_trunc('month', f.day)::date,
           CASE WHEN f.owner_depth <= rr.tenant_depth THEN f.tenant_id ELSE f.agency_tenant_id END,
           (f.released OR f.owner_depth > rr.tenant_depth OR f.tenant_id = f.agency_tenant_id), {head}
    FROM {src} f JOIN rollup_region rr ON rr.code = f.region_code WHERE f.agency_id <> 0"""
    cols, has = _gset_cols("n")
    sums = ", ".join(f"sum(n.{c})::integer AS {c}" for c in COUNTERS)
    return f"""SELECT n.tenant_id, n.region_code, n.agency_id, n.parent_code, n.month, g.gset, {cols},
       n.owner_tenant_id, n.released, {sums}
FROM ({regions}
  UNION ALL {units}) n
JOIN {GSET_VALUES}
  ON {GSETS_AT.format(depth='n.depth', unit='n.agency_id <> 0')} AND {has}
GROUP BY n.tenant_id, n.region_code, n.agency_id, n.parent_code, n.month, g.gset, 7, 8, 9, 10, n.owner_tenant_id,
         n.released"""


def _upsert(select: str) -> str:
    cols = ", ".join(["tenant_id", "region_code", "agency_id", "parent_code", "month", "gset", "category", "ikind",
                      "source", "severity", "owner_tenant_id", "released", *COUNTERS])
    sets = ", ".join(f"{c} = s.{c} + excluded.{c}" for c in COUNTERS)
    order = ", ".join(str(i) for i in range(1, 13))
    # rows in key order: concurrent writers lock the shared rows (the province's) in one order
    return (f"INSERT INTO rollup_summary AS s ({cols}) SELECT * FROM ({select}) x ORDER BY {order}"
            f" ON CONFLICT ({', '.join(SUMMARY_KEY)}) DO UPDATE SET {sets}")


ROLLUP_FUNCTIONS = f"""
CREATE FUNCTION ducha_rollup_regions_refresh() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
  DELETE FROM rollup_region;
  INSERT INTO rollup_region (code, parent_code, path, depth, tenant_id, tenant_depth)
  SELECT r.code, r.parent_code, r.path, ducha_path_depth(r.path), t.id, ducha_path_depth(t.region_path)
  FROM region r JOIN LATERAL (SELECT t.id, t.region_path FROM tenant t WHERE (r.path || '/') LIKE (t.region_path || '/%')
                              ORDER BY length(t.region_path) DESC LIMIT 1) t ON true;
END $$;

CREATE FUNCTION ducha_rollup_regions_trigger() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
  IF NOT ducha_rollup_deferred() THEN
    PERFORM ducha_rollup_regions_refresh();
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION ducha_rollup_apply(k_sign integer, facts rollup_fact[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
  IF facts IS NULL OR cardinality(facts) = 0 THEN RETURN; END IF;
  {_upsert(expand("unnest(facts)", "k_sign"))};
END $$;

-- Recompute the facts of some items of one kind and move the summary by the difference.
CREATE FUNCTION ducha_rollup_refresh(k text, ids bigint[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  old_facts rollup_fact[];
  new_facts rollup_fact[];
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 OR ducha_rollup_deferred() THEN RETURN; END IF;
  WITH d AS (DELETE FROM rollup_fact WHERE kind = k AND item_id = ANY(ids) RETURNING *)
  SELECT array_agg(d::rollup_fact) INTO old_facts FROM d;
  PERFORM ducha_rollup_apply(-1, old_facts);
  IF k = 'problem' THEN
    WITH n AS (INSERT INTO rollup_fact SELECT * FROM rollup_src_problem WHERE item_id = ANY(ids) RETURNING *)
    SELECT array_agg(n::rollup_fact) INTO new_facts FROM n;
  ELSIF k = 'inspection' THEN
    WITH n AS (INSERT INTO rollup_fact SELECT * FROM rollup_src_inspection WHERE item_id = ANY(ids) RETURNING *)
    SELECT array_agg(n::rollup_fact) INTO new_facts FROM n;
  ELSIF k = 'target' THEN
    WITH n AS (INSERT INTO rollup_fact SELECT * FROM rollup_src_target WHERE item_id = ANY(ids) RETURNING *)
    SELECT array_agg(n::rollup_fact) INTO new_facts FROM n;
  ELSIF k = 'clue' THEN
    WITH n AS (INSERT INTO rollup_fact SELECT * FROM rollup_src_clue WHERE item_id = ANY(ids) RETURNING *)
    SELECT array_agg(n::rollup_fact) INTO new_facts FROM n;
  ELSIF k = 'escalation' THEN
    WITH n AS (INSERT INTO rollup_fact SELECT * FROM rollup_src_escalation WHERE item_id = ANY(ids) RETURNING *)
    SELECT array_agg(n::rollup_fact) INTO new_facts FROM n;
  ELSE
    RAISE EXCEPTION 'unknown roll-up kind %', k;
  END IF;
  PERFORM ducha_rollup_apply(1, new_facts);
END $$;

-- Everything from the base tables, set-based (after a bulk load, or to repair).
CREATE FUNCTION ducha_rollup_rebuild() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET jit = off SET work_mem = '1GB' AS $$
BEGIN
  PERFORM ducha_rollup_regions_refresh();{_rebuild_sql()}
END $$;

-- The truth for `ducha rollup check`: the summary rows recomputed from the base tables now.
CREATE VIEW rollup_truth_summary WITH (security_invoker = true) AS {expand(ALL_SOURCES)};

-- Move "today" (the daily sweep); problems whose due date the move crossed are refreshed.
CREATE FUNCTION ducha_rollup_set_today(d date) RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  was date;
  ids bigint[];
BEGIN
  SELECT today INTO was FROM rollup_clock WHERE id = 1 FOR UPDATE;
  IF was = d THEN RETURN 0; END IF;
  UPDATE rollup_clock SET today = d WHERE id = 1;
  SELECT array_agg(i.id) INTO ids FROM problem_instance i
  WHERE i.status IN {OPEN} AND i.due_on >= least(was, d) AND i.due_on < greatest(was, d);
  PERFORM ducha_rollup_refresh('problem', ids);
  RETURN coalesce(cardinality(ids), 0);
END $$;
"""

# (table, kind refreshed, SQL giving the item ids from a transition table named {t})
WATCHES = [
    ("problem_instance", "problem", "SELECT id FROM {t}"),
    ("problem", "problem", "SELECT i.id FROM problem_instance i JOIN {t} x ON i.tenant_id = x.tenant_id AND i.problem_id = x.id"),
    ("measure", "problem", "SELECT instance_id FROM {t}"),
    ("lookback_item", "problem", "SELECT instance_id FROM {t}"),
    ("inspection", "inspection", "SELECT id FROM {t}"),
    ("inspection", "target", "SELECT it.id FROM inspection_target it JOIN {t} x ON it.tenant_id = x.tenant_id AND it.inspection_id = x.id"),
    ("inspection", "problem", "SELECT i.id FROM problem_instance i JOIN problem p ON p.tenant_id = i.tenant_id"
     " AND p.id = i.problem_id JOIN {t} x ON p.tenant_id = x.tenant_id AND p.inspection_id = x.id"
     " WHERE {changed_kind}"),
    ("inspection_target", "target", "SELECT id FROM {t}"),
    ("clue", "clue", "SELECT id FROM {t}"),
    ("clue_transfer", "clue", "SELECT clue_id FROM {t}"),
    ("deadline", "clue", "SELECT CASE WHEN x.subject_type = 'clue.transfer' THEN x.subject_id ELSE ct.clue_id END"
     " FROM {t} x LEFT JOIN clue_transfer ct ON ct.tenant_id = x.tenant_id AND ct.id = x.subject_id"
     " AND x.subject_type = 'clue.receipt' WHERE x.subject_type IN ('clue.transfer', 'clue.receipt')"),
    ("escalation", "escalation", "SELECT id FROM {t}"),
]


def _trigger_function(table: str) -> str:
    """One statement-level trigger function per table: gather touched items, refresh each kind."""
    parts = {"INSERT": [], "UPDATE": [], "DELETE": []}
    for tbl, kind, sql in WATCHES:
        if tbl != table:
            continue
        for op_ in parts:
            if "{changed_kind}" in sql:
                if op_ != "UPDATE":
                    continue
                q = sql.format(t="new_rows", changed_kind="x.kind IS DISTINCT FROM"
                               " (SELECT o.kind FROM old_rows o WHERE o.tenant_id = x.tenant_id AND o.id = x.id)")
            else:
                tabs = {"INSERT": ["new_rows"], "UPDATE": ["old_rows", "new_rows"], "DELETE": ["old_rows"]}[op_]
                q = " UNION ".join(sql.format(t=t) for t in tabs)
            parts[op_].append(f"PERFORM ducha_rollup_refresh('{kind}', ARRAY(SELECT DISTINCT x FROM ({q}) s(x)"
                              " WHERE x IS NOT NULL ORDER BY 1));")
    body = "\n  ".join(
        f"{'IF' if n == 0 else 'ELSIF'} TG_OP = '{op_}' THEN\n    " + "\n    ".join(stmts)
        for n, (op_, stmts) in enumerate(parts.items()))
    return f"""CREATE FUNCTION ducha_rollup_on_{table}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
  IF ducha_rollup_deferred() THEN RETURN NULL; END IF;
  {body}
  END IF;
  RETURN NULL;
END $$"""


def _triggers() -> list[str]:
    out = []
    for table in dict.fromkeys(t for t, _, _ in WATCHES):
        out.append(_trigger_function(table))
        out += [
            f"CREATE TRIGGER rollup_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION ducha_rollup_on_{table}()",
            f"CREATE TRIGGER rollup_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION ducha_rollup_on_{table}()",
            f"CREATE TRIGGER rollup_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION ducha_rollup_on_{table}()",
        ]
    for table in ("region", "tenant"):
        out.append(f"CREATE TRIGGER rollup_regions AFTER INSERT OR UPDATE OR DELETE ON {table}"
                   f" FOR EACH STATEMENT EXECUTE FUNCTION ducha_rollup_regions_trigger()")
    return out


TENANTS = "ANY ((SELECT ducha_tenant_ids())::bigint[])"
AGENCIES = "ANY ((SELECT ducha_agency_ids())::bigint[])"
SUMMARY_VISIBLE = f"tenant_id = {TENANTS} AND (released OR owner_tenant_id = {TENANTS})"
FACT_VISIBLE = f"tenant_id = {TENANTS} OR (released AND agency_tenant_id = {TENANTS})"

DEFINERS = ["ducha_rollup_regions_refresh()", "ducha_rollup_regions_trigger()",
            "ducha_rollup_apply(integer, rollup_fact[])", "ducha_rollup_refresh(text, bigint[])",
            "ducha_rollup_rebuild()", "ducha_rollup_set_today(date)"]


def _rollup_upgrade() -> None:
    rls.run(FUNCTIONS)
    rls.run(TABLES)
    for v in (SRC_PROBLEM, SRC_INSPECTION, SRC_TARGET, SRC_CLUE, SRC_ESCALATION):
        op.execute(v.strip().rstrip(";"))
    for stmt in rls.statements(ROLLUP_FUNCTIONS):
        op.execute(stmt)
    for stmt in _triggers():
        op.execute(stmt)
    op.execute("INSERT INTO rollup_clock (id, today) VALUES (1, (now() AT TIME ZONE 'UTC' + interval '8 hours')::date)")
    op.execute("SELECT ducha_rollup_rebuild()")
    # Platform tables everyone signed in may read; only the definer functions write.
    for t in ("rollup_region", "rollup_clock"):
        op.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {t}_select ON {t} FOR SELECT USING (true)")
    for t, visible in (("rollup_summary", SUMMARY_VISIBLE), ("rollup_fact", FACT_VISIBLE)):
        op.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {t}_select ON {t} FOR SELECT USING ({visible})")
    owned = DEFINERS + [f"ducha_rollup_on_{t}()" for t in dict.fromkeys(t for t, _, _ in WATCHES)]
    alter = " ".join(f"ALTER FUNCTION {f} OWNER TO ducha_system;" for f in owned)
    views = ", ".join([*SOURCES.values(), "rollup_truth_summary"])
    # The definer functions run as ducha_system (BYPASSRLS): a target unit completing a measure
    # moves the inspecting office's summary rows, which it may neither read nor write itself.
    # It owns the fact and summary tables too: the rebuild truncates them and remakes their indexes.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ducha_system') THEN "
        "GRANT SELECT ON rollup_region, rollup_clock, rollup_summary, rollup_fact TO ducha_app; "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON rollup_region, rollup_clock, rollup_summary, rollup_fact TO ducha_system; "
        "REVOKE INSERT, UPDATE, DELETE ON rollup_region, rollup_clock, rollup_summary, rollup_fact FROM ducha_app; "
        f"REVOKE ALL ON {views} FROM ducha_app; GRANT SELECT ON {views} TO ducha_system; "
        f"{alter} "
        "ALTER TABLE rollup_fact OWNER TO ducha_system; ALTER TABLE rollup_summary OWNER TO ducha_system; "
        "GRANT CREATE ON SCHEMA public TO ducha_system; "
        "END IF; EXCEPTION WHEN insufficient_privilege THEN "
        "RAISE NOTICE 'roll-up functions stay with the migrating owner: make ducha_system their owner as a superuser'; "
        "END $$"
    )


def _rollup_downgrade() -> None:
    op.execute("DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ducha_system') THEN "
               "REVOKE CREATE ON SCHEMA public FROM ducha_system; END IF; END $$")
    for t in dict.fromkeys(t for t, _, _ in WATCHES):
        for trg in ("rollup_ins", "rollup_upd", "rollup_del"):
            op.execute(f"DROP TRIGGER IF EXISTS {trg} ON {t}")
        op.execute(f"DROP FUNCTION IF EXISTS ducha_rollup_on_{t}()")
    for t in ("region", "tenant"):
        op.execute(f"DROP TRIGGER IF EXISTS rollup_regions ON {t}")
    op.execute("DROP VIEW IF EXISTS rollup_truth_summary")
    for f in DEFINERS:
        op.execute(f"DROP FUNCTION IF EXISTS {f}")
    for v in SOURCES.values():
        op.execute(f"DROP VIEW IF EXISTS {v}")
    for t in ("rollup_summary", "rollup_fact", "rollup_clock", "rollup_region"):
        op.execute(f"DROP TABLE IF EXISTS {t}")
    for ix in ("lookback_item_instance", "inspection_target_inspection", "problem_instance_id",
               "problem_instance_problem", "clue_transfer_clue"):
        op.execute(f"DROP INDEX IF EXISTS {ix}")
    for f in ("ducha_path_depth(text)", "ducha_china_date(timestamptz)", "ducha_rollup_deferred()"):
        op.execute(f"DROP FUNCTION IF EXISTS {f}")


# --- assessment (考核, 002 (十二), 000) -------------------------------------------------------

ASSESSMENT = r"""
-- A yearly indicator set per tenant; a change makes a new version, the old one is superseded
-- and the runs scored on it keep pointing at it.
CREATE TABLE assessment_set (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  year integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
  version integer NOT NULL CHECK (version >= 1),
  status text NOT NULL CHECK (status IN ('active', 'superseded')),
  note text NOT NULL DEFAULT '',
  created_by bigint REFERENCES app_user (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, year, version)
);
CREATE UNIQUE INDEX assessment_set_active ON assessment_set (tenant_id, year) WHERE status = 'active';

CREATE TABLE assessment_indicator (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  set_id bigint NOT NULL,
  position integer NOT NULL,
  code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('computed', 'manual')),
  metric text CHECK (metric IN ('on_time_rectification_rate', 'overdue_problems', 'escalation_rungs',
                                'clue_timeliness', 'self_inspection_punctuality')),
  weight numeric(6, 2) NOT NULL CHECK (weight > 0 AND weight <= 100),
  cap integer CHECK (cap IS NULL OR cap >= 1),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, set_id, code),
  FOREIGN KEY (tenant_id, set_id) REFERENCES assessment_set (tenant_id, id) ON DELETE CASCADE,
  CHECK ((kind = 'computed') = (metric IS NOT NULL))
);

-- Hand scores (0-100) by indicator code, so that a new version of the set keeps them.
CREATE TABLE assessment_manual_score (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  year integer NOT NULL,
  code text NOT NULL,
  subject_type text NOT NULL CHECK (subject_type IN ('agency', 'tenant')),
  subject_id bigint NOT NULL,
  score numeric(5, 2) NOT NULL CHECK (score BETWEEN 0 AND 100),
  note text NOT NULL DEFAULT '',
  scored_by bigint REFERENCES app_user (id),
  scored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, year, code, subject_type, subject_id)
);

CREATE TABLE assessment_run (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  set_id bigint NOT NULL,
  year integer NOT NULL,
  level text NOT NULL CHECK (level IN ('unit', 'tenant')),
  as_of date NOT NULL,
  bottom_n integer NOT NULL DEFAULT 0 CHECK (bottom_n >= 0),
  computed_by bigint REFERENCES app_user (id),
  computed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, set_id) REFERENCES assessment_set (tenant_id, id)
);

-- One subject's score in a run, with its explanation (every indicator: value, inputs, score,
-- points lost and the items that moved it). A lower tenant sees its own; a unit its own.
CREATE TABLE assessment_score (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  run_id bigint NOT NULL,
  subject_type text NOT NULL CHECK (subject_type IN ('agency', 'tenant')),
  subject_id bigint NOT NULL,
  subject_name text NOT NULL,
  subject_tenant_id bigint NOT NULL REFERENCES tenant (id),
  subject_agency_id bigint REFERENCES agency (id),
  group_label text NOT NULL,
  total numeric(7, 2) NOT NULL,
  rank integer NOT NULL,
  group_size integer NOT NULL,
  explanation jsonb NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, run_id, subject_type, subject_id),
  FOREIGN KEY (tenant_id, run_id) REFERENCES assessment_run (tenant_id, id) ON DELETE CASCADE
);

-- The bottom N of a run proposed for an interview (约谈) of their heads; the office leader decides.
CREATE TABLE assessment_interview (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  run_id bigint NOT NULL,
  score_id bigint NOT NULL,
  subject_type text NOT NULL,
  subject_id bigint NOT NULL,
  subject_tenant_id bigint NOT NULL REFERENCES tenant (id),
  subject_agency_id bigint REFERENCES agency (id),
  status text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'declined')),
  reason text NOT NULL,
  proposed_at timestamptz NOT NULL DEFAULT now(),
  decided_by bigint REFERENCES app_user (id),
  decided_at timestamptz,
  decision_reason text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, run_id, subject_type, subject_id),
  FOREIGN KEY (tenant_id, score_id) REFERENCES assessment_score (tenant_id, id) ON DELETE CASCADE
);
"""

# --- key-task lists, responsibility letters, law-reporting reviews, observation points (002) ---

TASKS = r"""
CREATE TABLE task_list (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  year integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  source_name text,
  created_by bigint REFERENCES app_user (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, year, title)
);

CREATE TABLE task (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  list_id bigint NOT NULL,
  number integer NOT NULL CHECK (number >= 1),
  section text NOT NULL DEFAULT '',
  content text NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
  lead_units text NOT NULL,
  participating_units text NOT NULL DEFAULT '',
  responsible_person text NOT NULL DEFAULT '',
  due_on date,
  acceptance_standard text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
  completed_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, list_id, number),
  FOREIGN KEY (tenant_id, list_id) REFERENCES task_list (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE task_unit (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  task_id bigint NOT NULL,
  agency_id bigint NOT NULL REFERENCES agency (id),
  agency_tenant_id bigint NOT NULL REFERENCES tenant (id),
  role text NOT NULL CHECK (role IN ('lead', 'participant')),
  done_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, task_id, agency_id, role),
  FOREIGN KEY (tenant_id, task_id) REFERENCES task (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX task_unit_agency ON task_unit (agency_id);

CREATE TABLE task_progress (
  tenant_id bigint NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  task_id bigint NOT NULL,
  agency_id bigint NOT NULL REFERENCES agency (id),
  agency_tenant_id bigint NOT NULL REFERENCES tenant (id),
  body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  percent integer NOT NULL CHECK (percent BETWEEN 0 AND 100),
  completes boolean NOT NULL DEFAULT false,
  author_id bigint REFERENCES app_user (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, task_id) REFERENCES task (tenant_id, id) ON DELETE CASCADE
);

-- 法治建设责任书: issued by the office to a unit's head for a year, signed by the head.
CREATE TABLE responsibility_letter (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  year integer NOT NULL,
  agency_id bigint NOT NULL REFERENCES agency (id),
  agency_tenant_id bigint NOT NULL REFERENCES tenant (id),
  head_name text NOT NULL CHECK (length(head_name) BETWEEN 1 AND 100),
  content text NOT NULL,
  issued_by bigint REFERENCES app_user (id),
  issued_at timestamptz NOT NULL DEFAULT now(),
  signed_at timestamptz,
  signed_by bigint REFERENCES app_user (id),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, year, agency_id)
);

-- 述法评议: a head reviewed in a year; every head once in five years.
CREATE TABLE law_review (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  agency_id bigint NOT NULL REFERENCES agency (id),
  agency_tenant_id bigint NOT NULL REFERENCES tenant (id),
  head_name text NOT NULL CHECK (length(head_name) BETWEEN 1 AND 100),
  year integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
  reviewed_on date NOT NULL,
  rating text NOT NULL CHECK (rating IN ('excellent', 'good', 'fair', 'poor')),
  comments text NOT NULL DEFAULT '',
  created_by bigint REFERENCES app_user (id),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, agency_id, year)
);

-- 法治观察点: at least one per town (002 (十五)).
CREATE TABLE observation_point (
  tenant_id bigint NOT NULL REFERENCES tenant (id),
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  region_code text NOT NULL REFERENCES region (code),
  agency_id bigint REFERENCES agency (id),
  established_on date NOT NULL,
  observers text[] NOT NULL DEFAULT '{}',
  created_by bigint REFERENCES app_user (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
"""

ADDRESSED = (f"tenant_id = {TENANTS} OR agency_tenant_id = {TENANTS} OR agency_id = {AGENCIES}")
SCORE_VISIBLE = (f"tenant_id = {TENANTS} OR (subject_type = 'tenant' AND subject_tenant_id = {TENANTS})"
                 f" OR subject_agency_id = {AGENCIES}")
TASK_VISIBLE = (f"tenant_id = {TENANTS} OR EXISTS (SELECT 1 FROM task_unit u WHERE u.tenant_id = task.tenant_id"
                f" AND u.task_id = task.id AND (u.agency_tenant_id = {TENANTS} OR u.agency_id = {AGENCIES}))")
OWNER = rls.TENANT_VISIBLE
NEW_POLICIES = {
    "assessment_set": (OWNER, None),
    "assessment_indicator": (OWNER, None),
    "assessment_manual_score": (OWNER, None),
    "assessment_run": (OWNER, None),
    "assessment_score": (SCORE_VISIBLE, OWNER),
    "assessment_interview": (SCORE_VISIBLE, OWNER),
    "task_list": (OWNER, None),
    "task": (TASK_VISIBLE, OWNER),
    "task_unit": (ADDRESSED, ADDRESSED),
    "task_progress": (ADDRESSED, ADDRESSED),
    "responsibility_letter": (ADDRESSED, ADDRESSED),
    "law_review": (ADDRESSED, OWNER),
    "observation_point": (OWNER, None),
}


def upgrade() -> None:
    _rollup_upgrade()
    rls.run(ASSESSMENT)
    rls.run(TASKS)
    for table, (visible, writable) in NEW_POLICIES.items():
        for stmt in rls.enable(table, visible, writable=writable):
            op.execute(stmt)
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ducha_app') THEN "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(NEW_POLICIES)} TO ducha_app, ducha_system; "
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ducha_app, ducha_system; "
        "END IF; END $$"
    )


def downgrade() -> None:
    for t in reversed(list(NEW_POLICIES)):
        op.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
    _rollup_downgrade()
