"""`ducha gen` on a scratch database of its own: the real 湖北 tree with at least 1,300 towns,
units, and the asked-for numbers of inspections, problems and clues spread over years, stages
and overdue states, with measures and escalation rungs; the roll-ups built at the end agree
with the GROUP BY truth (`ducha rollup check`), and keep agreeing when a real write follows
(the triggers are deferred for the generator's connection only)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.slow

PROBLEMS, INSPECTIONS, CLUES = 2000, 80, 300


def _ducha(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "ducha.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def scratch(database_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    """A database of this test's own, migrated, demo-seeded and generated into; dropped after."""
    name = f"ducha_audit5_gen_{uuid.uuid4().hex[:8]}"
    base = make_url(database_url)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    url = base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    _exec(admin, f'CREATE DATABASE "{name}"')
    try:
        for step in (("migrate",), ("seed-demo",)):
            r = _ducha(url, *step)
            assert r.returncode == 0, r.stdout + r.stderr
        r = _ducha(url, "gen", f"--problems={PROBLEMS}", f"--inspections={INSPECTIONS}", f"--clues={CLUES}", "--quiet")
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        yield url, out["gen"]
    finally:
        _exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _exec(url: str, *statements: str) -> list[list[tuple]]:
    """Run statements on their own connection (autocommit each), the rows of each."""

    async def go() -> list[list[tuple]]:
        c = await asyncpg.connect(url)
        try:
            return [[tuple(r) for r in await c.fetch(s)] for s in statements]
        finally:
            await c.close()

    return asyncio.run(go())


def _rows(url: str, sql: str) -> list[tuple]:
    return _exec(url, sql)[0]


def test_gen_builds_the_hubei_tree_with_its_towns_and_units(scratch):
    url, counts = scratch
    levels = dict(_rows(url, "SELECT level, count(*) FROM region GROUP BY 1"))
    assert levels["province"] == 1 and levels["city"] >= 13 and levels["county"] >= 100
    assert levels["town"] >= 1300 and counts["towns_added"] >= 1200
    # every town has its government, every county its departments
    bare = _rows(url, "SELECT count(*) FROM region r WHERE r.level = 'town' AND NOT EXISTS"
                      " (SELECT 1 FROM agency a WHERE a.region_code = r.code)")[0][0]
    assert bare == 0
    assert _rows(url, "SELECT min(n) FROM (SELECT count(*) AS n FROM agency a JOIN region r ON r.code = a.region_code"
                      " WHERE r.level = 'county' GROUP BY r.code) x")[0][0] >= 10


def test_gen_makes_the_numbers_asked_for_with_realistic_spreads(scratch):
    url, counts = scratch
    assert counts["problem_instance"] == PROBLEMS
    assert _rows(url, "SELECT count(*) FROM problem_instance")[0][0] >= PROBLEMS
    assert counts["clue"] == CLUES and 0 < counts["inspection"] <= INSPECTIONS
    assert counts["measure"] > 0 and counts["escalation"] > 0 and counts["clue_transfer"] > 0
    years = _rows(url, "SELECT count(DISTINCT extract(year FROM found_on)) FROM problem")[0][0]
    assert years >= 4  # five years by default
    stages = dict(_rows(url, "SELECT status, count(*) FROM problem_instance GROUP BY 1"))
    assert {"closed", "rectifying", "notified", "in_acceptance"} <= set(stages)
    assert stages["closed"] > PROBLEMS // 3 and stages["closed"] < PROBLEMS
    kinds = {k for (k,) in _rows(url, "SELECT DISTINCT kind FROM inspection")}
    assert {"comprehensive", "special", "routine"} <= kinds
    f = _rows(url, "SELECT sum(problems_overdue), sum(problems_common), sum(esc_reminder), sum(esc_referral),"
                   " sum(esc_proposed), sum(clues_received_late), sum(clues_fed_back), sum(clues_transferred_on_time),"
                   " sum(clues_transferred) FROM rollup_fact")[0]
    overdue, common, reminders, referrals, proposed, late, fed, on_time, transferred = f
    assert overdue > 0 and common > 0 and reminders > 0 and referrals > 0 and proposed > 0
    assert late > 0 and fed > 0 and 0 < on_time < transferred
    # the counts come out the same for the same seed: the tree, the units and the spreads are drawn reproducibly
    assert counts["rollup_fact"] == _rows(url, "SELECT count(*) FROM rollup_fact")[0][0]


def test_gen_leaves_rollups_equal_to_the_truth_and_the_triggers_on(scratch):
    url, _ = scratch
    r = _ducha(url, "rollup", "check")
    assert r.returncode == 0 and "equal the GROUP BY truth" in r.stdout, r.stdout + r.stderr
    # a write after the load goes through the triggers (the deferral was the generator's connection only)
    iid = _rows(url, "SELECT id FROM problem_instance WHERE status = 'rectifying' ORDER BY id LIMIT 1")[0][0]
    fact = f"SELECT problems_closed FROM rollup_fact WHERE kind = 'problem' AND item_id = {int(iid)}"
    (before,), _, (after,) = _exec(
        url, fact, f"UPDATE problem_instance SET status = 'closed', closed_at = now() WHERE id = {int(iid)}", fact)
    before, after = before[0], after[0]
    assert (before, after) == (0, 1)
    r = _ducha(url, "rollup", "check")
    assert r.returncode == 0, r.stdout + r.stderr
