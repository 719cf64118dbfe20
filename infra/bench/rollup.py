"""Roll-up benchmark: the province dashboard over `ducha gen` data (1,000,000 problems by default).

``ducha bench rollup [--problems N] [--requests N]`` against DATABASE_URL's server: a scratch
database is created, migrated, seeded, filled by `ducha gen` (COPY, roll-ups rebuilt), served
by uvicorn in a subprocess on a free port, and dropped at the end. Timed:

* graphql: `rollup(region: "420000", period: {year: <this year>})` with every figure of the
  province and of each child (cities, province-level units), POSTed over HTTP as hubei.office;
* groupby: the same numbers by one on-the-fly GROUP BY over the base tables (the roll-up's
  source views, which read problem_instance, problem, measure, inspection, clue, ... directly).

`exact` says the two agree on every figure of every node. The last line is one JSON object:
``{"bench":"rollup","problems":..,"graphql_p50_ms":..,"graphql_p95_ms":..,"groupby_p50_ms":..,"speedup":..,"exact":true}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import date
from typing import Any

from sqlalchemy import text

from ducha.bench._gen import generated, percentile, served

KINDS = ("problem", "inspection", "target", "clue", "escalation")


def dashboard_query() -> str:
    """The province dashboard: every figure of the province and of each child, as the table form."""
    return ("query Dashboard($r: String!, $y: Int!) { rollup(region: $r, period: {year: $y}) { __typename"
            " ... on Rollup { regionCode asOf table { figures rows { regionCode agencyId name level values } } } } }")


async def groupby(url: str, year: int) -> tuple[dict[str, dict[str, int]], list[float]]:
    """The dashboard's counters per node computed from the base tables, and the timings."""
    from ducha.db import Database
    from ducha.services.rollups import COUNTERS

    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTERS)
    src = " UNION ALL ".join(f"SELECT * FROM rollup_src_{k}" for k in KINDS)
    sql = (f"SELECT CASE WHEN f.region_path = '420000' THEN 'unit:' || f.agency_id"
           f" ELSE split_part(f.region_path, '/', 2) END AS node, {sums}"
           f" FROM ({src}) f WHERE f.day BETWEEN :d0 AND :d1 GROUP BY 1")
    db = Database.from_settings()
    times: list[float] = []
    out: dict[str, dict[str, int]] = {}
    try:
        for _ in range(3):
            async with db.system_session() as s:
                t0 = time.perf_counter()
                rows = (await s.execute(text(sql), {"d0": date(year, 1, 1), "d1": date(year, 12, 31)})).mappings().all()
                times.append((time.perf_counter() - t0) * 1000)
        for r in rows:
            out[r["node"]] = {c: int(r[c]) for c in COUNTERS}
    finally:
        await db.dispose()
    return out, times


def compare(answer: dict[str, Any], truth: dict[str, dict[str, int]]) -> list[str]:
    """Differences between the GraphQL table and the GROUP BY's figures, node by node."""
    from ducha.services.rollups import COUNTERS, FIGURES

    table = answer["table"]
    names = [f.lower() for f in table["figures"]]
    total = {c: sum(v[c] for v in truth.values()) for c in COUNTERS}
    rows = table["rows"]
    nodes = {"self": (rows[0]["values"], total)}
    for row in rows[1:]:
        key = f"unit:{row['agencyId']}" if row["agencyId"] else row["regionCode"]
        nodes[key] = (row["values"], truth.get(key, dict.fromkeys(COUNTERS, 0)))
    diffs = [f"{k}: not in the dashboard" for k in sorted(set(truth) - set(nodes)) if any(truth[k].values())]
    for key, (values, counters) in nodes.items():
        for name, got in zip(names, values, strict=True):
            want = FIGURES[name].value(counters)
            if abs(got - want) > 1e-9:
                diffs.append(f"{key} {name}: graphql {got} != groupby {want}")
    return diffs


async def run(problems: int, requests: int) -> dict[str, Any]:
    import httpx

    from ducha.services.calendar_store import today
    from ducha.tenants.auth import issue_dev_token

    year = today().year
    async with generated("ducha_bench_rollup", problems) as (url, counts, gen_s):
        truth, gb_times = await groupby(url, year)
        with served(url) as base:
            token = issue_dev_token("hubei.office")
            body = {"query": dashboard_query(), "variables": {"r": "420000", "y": year}}
            headers = {"Authorization": f"Bearer {token}"}
            times: list[float] = []
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                for i in range(requests + 20):
                    t0 = time.perf_counter()
                    r = c.post("/graphql", json=body)
                    dt = (time.perf_counter() - t0) * 1000
                    assert r.status_code == 200, r.text
                    if i >= 20:  # warm-up: connections, caches, plans
                        times.append(dt)
                answer = r.json()["data"]["rollup"]
        diffs = compare(answer, truth)
    p50 = statistics.median(times)
    gb = statistics.median(gb_times)
    return {
        "bench": "rollup", "problems": counts["problem_instance"], "graphql_p50_ms": round(p50, 2),
        "graphql_p95_ms": round(percentile(times, 0.95), 2), "groupby_p50_ms": round(gb, 1),
        "speedup": round(gb / p50, 1), "exact": not diffs, "children": len(answer["table"]["rows"]) - 1,
        "differences": diffs[:10], "summary_rows": counts["rollup_summary"], "facts": counts["rollup_fact"],
        "gen_s": round(gen_s, 1), "requests": requests,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench rollup")
    p.add_argument("--problems", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=300)
    a = p.parse_args(argv or [])
    out = asyncio.run(run(a.problems, a.requests))
    print(json.dumps(out, ensure_ascii=False))
    return 0 if out["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
