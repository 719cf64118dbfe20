"""Problem-list benchmark: a 100-row page of problems with target unit, category, deadline,
status and latest measure (the ProblemList operation the front end uses), over `ducha gen`
data (1,000,000 problems by default), as jiayu.office (a county) and hubei.justice (the
province's read-only overseer).

``ducha bench list [--problems N] [--requests N]``: a scratch database is generated, the ASGI
app runs in this process (so that every SQL statement of a request is counted by a
`before_cursor_execute` listener on the app engine; the transaction's BEGIN/COMMIT are not
statements), and each page is timed end to end through the GraphQL endpoint.

The last line is one JSON object: ``{"bench":"list","rows":100,"p50_ms":..,"sql_statements":..}``
where p50_ms and sql_statements are the worse of the two logins (details beside them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from ducha.bench._gen import generated, percentile

LOGINS = ("jiayu.office", "hubei.justice")


def operation() -> str:
    from importlib.resources import files

    try:
        return (files("ducha.graphql") / "operations" / "ProblemList.graphql").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):  # an editable checkout without package data
        return (Path(__file__).resolve().parents[2] / "graphql" / "operations" / "ProblemList.graphql").read_text()


async def run(problems: int, requests: int) -> dict[str, Any]:
    import httpx
    from sqlalchemy import event

    from ducha.graphql.app import create_app
    from ducha.settings import get_settings
    from ducha.tenants.auth import issue_dev_token

    async with generated("ducha_bench_list", problems) as (url, counts, gen_s):
        get_settings.cache_clear()
        app = create_app(get_settings())
        statements: list[str] = []
        engine = app.state.runtime.db.app.sync_engine

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        per_login: dict[str, Any] = {}
        query = operation()
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            for login in LOGINS:
                headers = {"Authorization": f"Bearer {issue_dev_token(login)}"}
                body = {"query": query, "variables": {"first": 100}}
                times, per_request = [], []
                for i in range(requests + 10):
                    statements.clear()
                    t0 = time.perf_counter()
                    r = await c.post("/graphql", json=body, headers=headers)
                    dt = (time.perf_counter() - t0) * 1000
                    data = r.json()
                    assert r.status_code == 200 and not data.get("errors"), r.text[:2000]
                    if i >= 10:
                        times.append(dt)
                        per_request.append(len(statements))
                rows = len(data["data"]["problems"]["edges"])
                per_login[login] = {"rows": rows, "p50_ms": round(statistics.median(times), 2),
                                    "p95_ms": round(percentile(times, 0.95), 2), "sql_statements": max(per_request)}
    worst = max(per_login.values(), key=lambda v: v["p50_ms"])
    return {
        "bench": "list", "rows": min(v["rows"] for v in per_login.values()), "p50_ms": worst["p50_ms"],
        "sql_statements": max(v["sql_statements"] for v in per_login.values()), "logins": per_login,
        "problems": counts["problem_instance"], "gen_s": round(gen_s, 1), "requests": requests,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench list")
    p.add_argument("--problems", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=100)
    a = p.parse_args(argv or [])
    out = asyncio.run(run(a.problems, a.requests))
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
