"""Isolation fuzzing at scale: generated queries as every kind of user, app filters on and off.

``ducha bench isolation [--operations N] [--logins-per-query K]``

On a scratch database (DATABASE_URL's server; REDIS_URL for the app), five tenants at three
levels run inspections down the tree and transfer clues with a canary in every text field
(ducha.bench._fuzz.seed). hypothesis-graphql then generates queries over the committed SDL;
each runs as K random demo logins, once with the application's filters and once with RLS
alone. Counted: leaks (a canary the rules keep from that login), server errors (5xx) and
resolver failures (an error with a path that is not bad user input). The last line printed
is one JSON object: {"bench":"isolation","operations":..,"leaks":0,...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from ducha.bench import _fuzz


async def run(operations: int, per_query: int) -> dict[str, Any]:
    from ducha.graphql import compiled
    from ducha.policies import filters

    runs0, fallbacks0 = compiled.STATS["runs"], compiled.STATS["fallbacks"]
    started = time.perf_counter()
    async with _fuzz.api("bench_isolation") as api:
        sc = await _fuzz.seed(api)
        seeded = time.perf_counter()
        count = {"operations": 0, "leaks": 0, "server_errors": 0, "resolver_errors": 0}
        reached: set[str] = set()
        examples: list[str] = []

        async def body(example: tuple[list[str], str]) -> None:
            logins, query = example
            for login in logins:
                for on in (True, False):
                    filters.set_enabled(on)
                    try:
                        r = await api.post(login, query)
                    finally:
                        filters.set_enabled(True)
                    count["operations"] += 1
                    leaks = sc.leaks(login, r.text)
                    reached.update(sc.seen(r.text))
                    if leaks:
                        count["leaks"] += len(leaks)
                        examples.append(f"{login} ({'app+rls' if on else 'rls-only'}) read "
                                        f"{[(c.token, c.where) for c in leaks]} with {query}")
                    if r.status >= 500:
                        count["server_errors"] += 1
                        examples.append(f"{login}: HTTP {r.status} for {query}")
                    elif _fuzz.unexpected_errors(r.body):
                        count["resolver_errors"] += 1
                        examples.append(f"{login}: {_fuzz.unexpected_errors(r.body)[:1]} for {query}")

        strategy = st.tuples(st.lists(st.sampled_from(sorted(_fuzz.LOGINS)), min_size=per_query, max_size=per_query,
                                      unique=True), _fuzz.queries(sc))
        n = math.ceil(operations / (2 * per_query))
        await asyncio.to_thread(_fuzz.drive, strategy, body, examples=n, loop=asyncio.get_running_loop(), shrink=False)
        for line in examples[:20]:
            print(line, file=sys.stderr)
        done = time.perf_counter()
        return {"bench": "isolation", **count, "queries": n, "logins_per_query": per_query,
                "canaries": len(sc.canaries), "canaries_reached": len(reached), "seed_s": round(seeded - started, 1),
                "fuzz_s": round(done - seeded, 1), "ops_per_s": round(count["operations"] / (done - seeded), 1),
                # operations a compiled plan answered (a query's repeats), and those that gave way to graphql-core
                "compiled": compiled.STATS["runs"] - runs0 - (compiled.STATS["fallbacks"] - fallbacks0),
                "compiled_fallbacks": compiled.STATS["fallbacks"] - fallbacks0}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ducha bench isolation", description=__doc__.splitlines()[0])
    p.add_argument("--operations", type=int, default=10_000)
    p.add_argument("--logins-per-query", type=int, default=4)
    args = p.parse_args(list(argv or []))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    result = asyncio.run(run(args.operations, min(args.logins_per_query, len(_fuzz.LOGINS))))
    print(json.dumps(result, ensure_ascii=False))
    return 1 if result["leaks"] or result["server_errors"] or result["resolver_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
