"""`ducha gen`: a province at load-test scale on the real 湖北 tree.

Adds synthetic towns (tenants.regions_data.synthetic_towns: every county without real towns
gets 13, about 1,300 in all) and units (a town government per town; departments for every
county, city and the province), then inspections with their targets, problems (instances
spread over years, stages, categories, kinds, sources and severities), feedback with
rectification plans and measures, clues with transfers and their deadlines, and escalation
rungs on overdue measures. Rows go in by PostgreSQL COPY (asyncpg's copy_records_to_table)
on the owner's connection with the roll-up triggers deferred for that session; the facts
and summary rows are then built once, set-based (`ducha_rollup_rebuild()`), which is the
same definition the triggers apply row by row - `ducha rollup check` proves they agree.

Everything is drawn from one seeded random generator: the same arguments give the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

CATEGORIES = [("enforcement", 24), ("three_enforcement_systems", 14), ("lawful_decision_making", 12),
              ("institution_building", 10), ("first_responsibility", 8), ("power_supervision", 7),
              ("dispute_resolution", 7), ("team_capacity", 6), ("business_environment", 6),
              ("heads_in_court", 3), ("yangtze_protection", 2), ("other", 1)]
KINDS = [("comprehensive", 30), ("special", 35), ("routine", 18), ("case", 6), ("joint", 5), ("mobile", 3),
         ("research", 3)]
SOURCES = [("inspection", 62), ("clue", 9), ("hotline_12345", 9), ("petition", 7), ("media", 4),
           ("judicial_suggestion", 3), ("procuratorial_suggestion", 3), ("reconsideration", 2), ("litigation", 1)]
SEVERITIES = [("general", 50), ("minor", 25), ("major", 20), ("serious", 5)]
CLUE_SOURCES = [("hotline_12345", 30), ("petition", 20), ("enforcement_supervision", 15), ("media", 10),
                ("reconsideration", 8), ("litigation", 6), ("judicial_suggestion", 4), ("procuratorial_suggestion", 4),
                ("inspection_tour", 3)]
COUNTY_UNITS = [("government", "人民政府"), ("party_committee", "委员会"), ("justice", "司法局"), ("court", "人民法院"),
                ("procuratorate", "人民检察院"), ("discipline", "纪委监委"), ("petition", "信访局"),
                ("enforcement", "公安局"), ("enforcement", "市场监督管理局"), ("enforcement", "自然资源和规划局"),
                ("enforcement", "生态环境分局"), ("enforcement", "交通运输局"), ("department", "教育局"),
                ("department", "人力资源和社会保障局"), ("department", "财政局")]
CITY_UNITS = COUNTY_UNITS + [("department", "发展和改革委员会"), ("department", "住房和城乡建设局"),
                             ("enforcement", "城市管理执法局"), ("enforcement", "应急管理局"),
                             ("department", "农业农村局")]
STARTED = ("in_progress", "reporting", "feedback", "rectification", "closed")


def _pick(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, what: str, total: int, quiet: bool = False) -> None:
        self.what, self.total, self.done, self.t0, self.quiet = what, max(total, 1), 0, time.perf_counter(), quiet
        self._last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if not self.quiet and (now - self._last > 0.3 or self.done >= self.total):
            self._last = now
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            sys.stderr.write(f"\r[gen] {self.what:<14} [{bar:<30}] {self.done:>9,}/{self.total:,} {now - self.t0:6.1f}s")
            sys.stderr.flush()

    def close(self) -> None:
        if not self.quiet:
            sys.stderr.write("\n")


class Ids:
    """Explicit ids per table (identity sequences are moved past them at the end)."""

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)

    def take(self, table: str) -> int:
        v = self.next[table]
        self.next[table] = v + 1
        return v


async def _copy(conn: Any, table: str, columns: Sequence[str], rows: Iterable[tuple], total: int,
                quiet: bool, chunk: int = 50_000) -> int:
    bar = Progress(table, total, quiet)
    buf: list[tuple] = []
    n = 0
    for r in rows:
        buf.append(r)
        if len(buf) >= chunk:
            await conn.copy_records_to_table(table, records=buf, columns=list(columns))
            n += len(buf)
            bar.add(len(buf))
            buf = []
    if buf:
        await conn.copy_records_to_table(table, records=buf, columns=list(columns))
        n += len(buf)
        bar.add(len(buf))
    bar.close()
    return n


def _ts(d: date, rng: random.Random) -> datetime:
    return datetime(d.year, d.month, d.day, rng.randrange(1, 10), rng.randrange(60), tzinfo=UTC)


async def generate(dsn: str, *, problems: int = 1_000_000, inspections: int = 20_000, clues: int = 100_000,
                   years: int = 5, seed: int = 2024, today: date | None = None, quiet: bool = False) -> dict[str, int]:
    """Generate into the (migrated, demo-seeded) database at `dsn`; returns the row counts."""
    import asyncpg

    from ducha.tenants.regions_data import load_hubei, synthetic_towns

    rng = random.Random(seed)
    today = today or (datetime.now(UTC) + timedelta(hours=8)).date()
    first_day = date(today.year - years + 1, 1, 1)
    span = (today - first_day).days
    conn = await asyncpg.connect(dsn)
    counts: dict[str, int] = {}
    try:
        await conn.execute("SET ducha.rollup_defer = 'on'")
        await conn.execute("SET synchronous_commit = off")
        # 1. Regions and units.
        towns = synthetic_towns(load_hubei())
        existing = {r["code"] for r in await conn.fetch("SELECT code FROM region")}
        regions = {r["code"]: r for r in await conn.fetch("SELECT code, path FROM region")}
        if not await conn.fetchval("SELECT count(*) FROM tenant"):
            raise SystemExit("ducha gen: this database has no tenants; run `ducha seed-demo` on it first")
        new_towns = [t for t in towns if t.code not in existing]
        await conn.copy_records_to_table(
            "region", columns=["code", "name", "level", "parent_code", "path", "synthetic"],
            records=[(t.code, t.name, "town", t.parent_code, regions[t.parent_code]["path"] + "/" + t.code, True)
                     for t in new_towns])
        counts["towns_added"] = len(new_towns)
        tenants = {r["region_code"]: r for r in await conn.fetch("SELECT id, region_code, region_path, kind FROM tenant")}
        region_rows = await conn.fetch("SELECT code, name, level, parent_code, path FROM region")
        by_code = {r["code"]: r for r in region_rows}

        def tenant_of(code: str) -> Any:
            c: str | None = code
            while c is not None:
                if c in tenants:
                    return tenants[c]
                c = by_code[c]["parent_code"]
            raise KeyError(code)

        async def maxid(table: str) -> int:
            return int(await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}"))

        tables = ["agency", "inspection", "inspection_target", "problem", "problem_instance", "feedback",
                  "rectification_plan", "measure", "clue", "clue_transfer", "deadline", "escalation"]
        ids = Ids({t: await maxid(t) + 1 for t in tables})
        have = {(r["region_code"], r["name"]) for r in await conn.fetch("SELECT region_code, name FROM agency")}
        agencies: list[tuple] = []
        units_by_tenant: dict[int, list[tuple[int, str, str]]] = {}  # tenant -> (agency id, kind, region code)
        for r in region_rows:
            t = tenant_of(r["code"])
            if r["level"] == "town":
                specs = [("town", f"{r['name']}人民政府")]
            elif r["level"] == "county":
                specs = [(k, f"{r['name']}{n}") for k, n in COUNTY_UNITS]
            elif r["level"] == "city":
                specs = [(k, f"{r['name']}{n}") for k, n in CITY_UNITS]
            else:
                specs = [(k, f"湖北省{n}") for k, n in CITY_UNITS]
            for kind, name in specs:
                if (r["code"], name) in have:
                    continue
                aid = ids.take("agency")
                agencies.append((aid, t["id"], r["code"], r["path"], kind, name))
        counts["agency"] = await _copy(conn, "agency", ["id", "tenant_id", "region_code", "region_path", "kind", "name"],
                                       agencies, len(agencies), quiet)
        for a in await conn.fetch("SELECT id, tenant_id, kind, region_code FROM agency WHERE kind NOT IN ('office', 'committee')"):
            units_by_tenant.setdefault(a["tenant_id"], []).append((a["id"], a["kind"], a["region_code"]))
        offices = {r["tenant_id"]: r["id"] for r in await conn.fetch(
            "SELECT DISTINCT ON (a.tenant_id) a.tenant_id, a.id FROM agency a JOIN tenant t ON t.id = a.tenant_id"
            " AND t.region_code = a.region_code WHERE a.kind = 'office' ORDER BY a.tenant_id, a.id")}
        tenant_list = list(tenants.values())
        children: dict[int, list[Any]] = {}
        for t in tenant_list:
            parent = by_code[t["region_code"]]["parent_code"]
            if parent:
                children.setdefault(tenant_of(parent)["id"], []).append(t)
        # the heads of lower tenants a higher office inspects (art. 6: party committee and government)
        heads = {t: [u for u in units if u[1] in ("party_committee", "government")]
                 for t, units in units_by_tenant.items()}

        # 2. Inspections and targets: counties run most, cities some, the province a few.
        weights = [(t, 70 if t["kind"] == "county" else 25 if t["kind"] == "city" else 5) for t in tenant_list]
        by_kind: dict[str, list[Any]] = {}
        for t, _ in weights:
            by_kind.setdefault(t["kind"], []).append(t)
        insp_rows, target_rows = [], []
        insp_targets: list[tuple[int, int, list[tuple[int, int]], date, str]] = []  # (tenant, insp, [(target id, agency)], day, kind)
        agency_tenant: dict[int, int] = {}
        for tid, units in units_by_tenant.items():
            for u in units:
                agency_tenant[u[0]] = tid
        kind_share = {"county": 0.70, "city": 0.25, "platform": 0.05}
        for _ in range(inspections):
            k = rng.random()
            tk = "county" if k < kind_share["county"] else "city" if k < 0.95 else "platform"
            t = rng.choice(by_kind[tk])
            own = units_by_tenant.get(t["id"], [])
            lower = [h for c in children.get(t["id"], []) for h in heads.get(c["id"], [])]
            pool = own + lower
            if not pool:
                continue
            day = first_day + timedelta(days=rng.randrange(span + 1))
            kind = _pick(rng, KINDS)
            iid = ids.take("inspection")
            status = "rectification" if (today - day).days < 200 else "closed"
            if (today - day).days < 20:
                status = "in_progress"
            insp_rows.append((t["id"], iid, day.year, f"{day.year}年{kind}督察{iid}", kind, "both", status, day,
                              "not_needed", _ts(day, rng)))
            chosen = rng.sample(pool, min(len(pool), rng.randint(3, 12)))
            pairs = []
            for a in chosen:
                xid = ids.take("inspection_target")
                target_rows.append((t["id"], xid, iid, a[0], agency_tenant[a[0]]))
                pairs.append((xid, a[0]))
            insp_targets.append((t["id"], iid, pairs, day, kind))
        counts["inspection"] = await _copy(
            conn, "inspection", ["tenant_id", "id", "year", "title", "kind", "form", "status", "starts_on",
                                 "off_plan_status", "created_at"], insp_rows, len(insp_rows), quiet)
        counts["inspection_target"] = await _copy(
            conn, "inspection_target", ["tenant_id", "id", "inspection_id", "agency_id", "target_tenant_id"],
            target_rows, len(target_rows), quiet)

        # 3. Problems, instances, feedback, plans, measures, deadlines and escalations.
        per_insp = max(1, problems // max(1, len(insp_targets)))
        problem_rows: list[tuple] = []
        instance_rows: list[tuple] = []
        feedback_rows: list[tuple] = []
        plan_rows: list[tuple] = []
        measure_rows: list[tuple] = []
        deadline_rows: list[tuple] = []
        escalation_rows: list[tuple] = []
        made = 0
        bar = Progress("problems", problems, quiet)
        for n_insp, (tid, iid, pairs, iday, ikind) in enumerate(insp_targets):
            remaining_insp = len(insp_targets) - n_insp
            want = (problems - made) // remaining_insp if remaining_insp else 0
            want = max(0, min(problems - made, want + rng.randint(-per_insp // 3, per_insp // 3)))
            if n_insp == len(insp_targets) - 1:
                want = problems - made
            fb_of: dict[int, tuple[int, int, date]] = {}
            made_here = 0
            while made_here < want:
                common = rng.random() < 0.08 and len(pairs) > 1
                units = rng.sample(pairs, min(len(pairs), rng.randint(2, 4))) if common else [rng.choice(pairs)]
                units = units[: want - made_here]
                common = len(units) > 1
                found = min(today, iday + timedelta(days=rng.randrange(0, 25)))
                pid = ids.take("problem")
                problem_rows.append((tid, pid, iid, f"问题{pid}", _pick(rng, CATEGORIES), _pick(rng, SOURCES),
                                     _pick(rng, SEVERITIES), common, found, _ts(found, rng)))
                for _, agency in units:
                    age = (today - found).days
                    iid2 = ids.take("problem_instance")
                    r = rng.random()
                    if age < 30 and r < 0.25:
                        status = "found"
                    else:
                        closed_share = 0.93 if age > 365 else 0.65 if age > 120 else 0.25
                        if r < closed_share:
                            status = "closed"
                        else:
                            status = rng.choice(("notified", "rectifying", "rectifying", "rectifying", "in_acceptance"))
                    due = found + timedelta(days=rng.randrange(30, 120)) if status != "found" else None
                    closed_at = None
                    rebound = False
                    if status == "closed":
                        assert due is not None
                        end = found + timedelta(days=rng.randrange(15, (due - found).days + 45))
                        closed_at = _ts(min(end, today), rng)
                    elif status == "rectifying" and rng.random() < 0.03:
                        status, rebound = "reopened", True
                    fb = None
                    if status != "found":
                        if agency not in fb_of:
                            fid, plid = ids.take("feedback"), ids.take("rectification_plan")
                            fb_of[agency] = (fid, plid, due or found)
                            feedback_rows.append((tid, fid, iid, agency, agency_tenant[agency], _ts(found, rng), True,
                                                  due))
                            plan_rows.append((tid, plid, fid, agency, agency_tenant[agency], "accepted"))
                        fb = fb_of[agency][0]
                    instance_rows.append((tid, iid2, pid, agency, agency_tenant[agency], status, fb, due, closed_at,
                                          rebound))
                    if fb is not None:
                        assert due is not None
                        for k in range(rng.choice((1, 1, 2))):
                            mid = ids.take("measure")
                            done = closed_at if status == "closed" else (
                                _ts(min(today, found + timedelta(days=20)), rng) if rng.random() < 0.35 else None)
                            mdue = due - timedelta(days=k * 7)
                            measure_rows.append((tid, mid, fb_of[agency][1], iid2, agency, agency_tenant[agency],
                                                 f"整改措施{mid}", "责任人", mdue, done))
                            overdue_days = (today - mdue).days
                            if done is None and overdue_days > 2 and k == 0:
                                did = ids.take("deadline")
                                rungs = 1 + min(4, overdue_days // 20) if overdue_days > 5 else 1
                                deadline_rows.append((tid, did, "measure", mid, f"整改措施{mid}", agency,
                                                      agency_tenant[agency], "fixed", mdue, mdue, rungs))
                                for rung in range(1, rungs + 1):
                                    eid = ids.take("escalation")
                                    issued = rung <= 2 or rng.random() < 0.6
                                    as_of = min(today, mdue + timedelta(days=7 * rung))
                                    escalation_rows.append((tid, eid, did, rung, agency, agency_tenant[agency],
                                                            "issued" if issued else "proposed", rung <= 2,
                                                            max(1, (as_of - mdue).days * 5 // 7), as_of))
                                    if not issued:
                                        break
                made_here += len(units)
            made += made_here
            bar.add(made_here)
        bar.close()
        counts["problem"] = await _copy(conn, "problem", ["tenant_id", "id", "inspection_id", "title", "category", "source",
                                                          "severity", "is_common", "found_on", "created_at"],
                                        problem_rows, len(problem_rows), quiet)
        problem_rows.clear()
        counts["feedback"] = await _copy(conn, "feedback", ["tenant_id", "id", "inspection_id", "agency_id",
                                                            "target_tenant_id", "issued_at", "notice_required",
                                                            "notice_due_on"], feedback_rows, len(feedback_rows), quiet)
        counts["rectification_plan"] = await _copy(conn, "rectification_plan", ["tenant_id", "id", "feedback_id",
                                                                                "agency_id", "target_tenant_id", "status"],
                                                   plan_rows, len(plan_rows), quiet)
        counts["problem_instance"] = await _copy(
            conn, "problem_instance", ["tenant_id", "id", "problem_id", "agency_id", "target_tenant_id", "status",
                                       "feedback_id", "due_on", "closed_at", "rebound"], instance_rows,
            len(instance_rows), quiet)
        instance_rows.clear()
        counts["measure"] = await _copy(conn, "measure", ["tenant_id", "id", "plan_id", "instance_id", "agency_id",
                                                          "target_tenant_id", "content", "responsible_person", "due_on",
                                                          "completed_at"], measure_rows, len(measure_rows), quiet)
        measure_rows.clear()

        # 4. Clues: registered by the units, transferred to their office, received, answered, closed.
        clue_units = [(aid, tid) for tid, units in units_by_tenant.items() for aid, _, _ in units if tid in offices]
        clue_rows, transfer_rows = [], []
        for _ in range(clues):
            aid, tid = rng.choice(clue_units)
            cid = ids.take("clue")
            disc = first_day + timedelta(days=rng.randrange(span + 1))
            age = (today - disc).days
            r = rng.random()
            state = ("closed" if r < (0.85 if age > 60 else 0.4) else
                     rng.choice(("registered", "transferred", "received", "answered")))
            office = offices[tid]
            due = disc + timedelta(days=rng.choice((7, 10, 14)))
            did = ids.take("deadline")
            closed_transfer = state != "registered"
            deadline_rows.append((tid, did, "clue.transfer", cid, f"线索移送{cid}", aid, tid, "fixed", disc, due,
                                  0 if closed_transfer else 0))
            hops = 0
            if closed_transfer:
                hops = 1
                tday = min(today, disc + timedelta(days=rng.choice((2, 4, 6, 9, 13, 20))))
                xid = ids.take("clue_transfer")
                received = _ts(min(today, tday + timedelta(days=rng.choice((0, 1, 2, 5)))), rng) \
                    if state != "transferred" else None
                fed = _ts(min(today, tday + timedelta(days=10)), rng) if state in ("answered", "closed") \
                    and rng.random() < 0.5 else None
                transfer_rows.append((tid, xid, cid, 1, "to_office", aid, "单位", office, "办公室", False, tday,
                                      _ts(tday, rng), received, fed, "已核查" if fed else None))
                rid = ids.take("deadline")
                deadline_rows.append((tid, rid, "clue.receipt", xid, f"线索签收{cid}", office, tid, "fixed", tday,
                                      tday + timedelta(days=3), 0))
            clue_rows.append((tid, cid, _pick(rng, CLUE_SOURCES), rng.choice(("important", "routine")), disc,
                              f"线索{cid}", "线索内容", aid, office if hops else aid, [aid, office] if hops else [aid],
                              state, hops, _ts(disc, rng)))
        counts["clue"] = await _copy(conn, "clue", ["tenant_id", "id", "source", "importance", "discovered_on", "title",
                                                    "content", "origin_agency_id", "holder_agency_id", "party_agency_ids",
                                                    "state", "hops", "created_at"], clue_rows, len(clue_rows), quiet)
        counts["clue_transfer"] = await _copy(
            conn, "clue_transfer", ["tenant_id", "id", "clue_id", "seq", "direction", "sender_agency_id", "sender_name",
                                    "receiver_agency_id", "receiver_name", "feedback_required", "transferred_on",
                                    "transferred_at", "received_at", "feedback_at", "feedback"], transfer_rows,
            len(transfer_rows), quiet)
        counts["deadline"] = await _copy(
            conn, "deadline", ["tenant_id", "id", "subject_type", "subject_id", "title", "agency_id", "agency_tenant_id",
                               "rule", "basis_on", "due_on", "rung"], deadline_rows, len(deadline_rows), quiet)
        counts["escalation"] = await _copy(
            conn, "escalation", ["tenant_id", "id", "deadline_id", "rung", "agency_id", "agency_tenant_id", "status",
                                 "automatic", "working_days_overdue", "as_of"], escalation_rows,
            len(escalation_rows), quiet)
        for t in tables:
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
        # 5. The roll-ups, set-based; then fresh statistics for the planner.
        t0 = time.perf_counter()
        if not quiet:
            sys.stderr.write("[gen] roll-ups: facts and summary rows ...")
            sys.stderr.flush()
        await conn.execute("UPDATE rollup_clock SET today = $1 WHERE id = 1", today)
        await conn.execute("SET work_mem = '512MB'")
        await conn.execute("SELECT ducha_rollup_rebuild()")
        await conn.execute("RESET ducha.rollup_defer")
        await conn.execute("ANALYZE")
        if not quiet:
            sys.stderr.write(f" {time.perf_counter() - t0:.1f}s\n")
        counts["rollup_fact"] = int(await conn.fetchval("SELECT count(*) FROM rollup_fact"))
        counts["rollup_summary"] = int(await conn.fetchval("SELECT count(*) FROM rollup_summary"))
    finally:
        await conn.close()
    return counts


def dsn_of(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha gen", description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=1_000_000)
    p.add_argument("--inspections", type=int, default=20_000)
    p.add_argument("--clues", type=int, default=100_000)
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(list(argv or []))
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL to a migrated, demo-seeded database (ducha migrate && ducha seed-demo)")
    t0 = time.perf_counter()
    counts = asyncio.run(generate(dsn_of(url), problems=a.problems, inspections=a.inspections, clues=a.clues,
                                  years=a.years, seed=a.seed, quiet=a.quiet))
    import json

    print(json.dumps({"gen": counts, "seconds": round(time.perf_counter() - t0, 1)}))
    return 0
