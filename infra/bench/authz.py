"""Authorization benchmark: the compiled fast path against pycasbin.

``python -m ducha.bench.authz [--users N] [--decisions N] [--sample N] [--naive N]``

Builds the Hubei region tree (>= 1,500 regions: the real rows plus synthetic towns), 20,000
users with 1-3 random role grants each, and times ``Authorizer.allowed`` (the production
path, decision cache included) on random (user, domain, obj, act) checks, one
``perf_counter_ns`` pair per decision. Then:

- *reference*: Casbin's own ``enforce`` over model.conf + rules.csv with the hierarchical
  domain matching function, on a sample of requests: ``mismatches`` counts disagreements.
- *naive*: pycasbin with one copy of every rule per region (``p, role, domain, obj, act``,
  ~65,000 rules) — the design the DESIGN note measured at 127 ms per ``enforce`` — timed on
  a few decisions (also checked for agreement).

The last line printed is one JSON object (see ``main``).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ducha.policies.authz import (
    Authorizer,
    any_of,
    assignments_for,
    casbin_enforcer,
    domain_matches,
    subject,
)
from ducha.policies.roles import ACTIONS, RESOURCES, Role
from ducha.tenants.principal import Principal, RoleGrant

MIN_REGIONS = 1_500

NAIVE_MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && anyOf(r.obj, p.obj) && anyOf(r.act, p.act)
"""


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    level: str  # province, city, county, town
    path: str


# --- the region tree -------------------------------------------------------------------------


def hubei_regions(min_regions: int = MIN_REGIONS) -> tuple[list[Region], str]:
    """The real tree + synthetic towns if ducha.tenants.regions_data is there, else synthetic."""
    try:
        from ducha.tenants.regions_data import load_hubei, region_path, synthetic_towns
    except ImportError:
        return synthetic_regions(), "synthetic"
    rows = load_hubei()
    per_county = 13
    while True:
        all_rows = rows + synthetic_towns(rows, per_county=per_county)
        if len(all_rows) >= min_regions:
            break
        per_county += 1
    by_code = {r.code: r for r in all_rows}
    regions = [Region(r.code, r.level, region_path(r, by_code)) for r in all_rows]
    return regions, f"regions_data (synthetic towns: {per_county}/county)"


def synthetic_regions(
    cities: int = 17, counties: int = 103, towns: int = 1_400, seed: int = 7
) -> list[Region]:
    """1 province / 17 cities / 103 counties / 1,400 towns, 6- and 9-digit codes."""
    rng = random.Random(seed)
    province = Region("420000", "province", "420000")
    out = [province]
    city_list = []
    for i in range(cities):
        code = f"42{i + 1:02d}00"
        c = Region(code, "city", f"{province.path}/{code}")
        city_list.append(c)
        out.append(c)
    county_list = []
    for j in range(counties):
        city = city_list[j % cities]
        code = f"{city.code[:4]}{j // cities + 1:02d}"
        c = Region(code, "county", f"{city.path}/{code}")
        county_list.append(c)
        out.append(c)
    per = [0] * counties
    for _ in range(towns):
        k = rng.randrange(counties)
        per[k] += 1
        county = county_list[k]
        code = f"{county.code}{99 + per[k]:03d}"
        out.append(Region(code, "town", f"{county.path}/{code}"))
    return out


# --- users and requests --------------------------------------------------------------------------

OFFICE_ROLES = (Role.OFFICE_ADMIN, Role.OFFICE_LEADER, Role.INSPECTOR, Role.TEAM_LEADER)
AGENCY_ROLES = (
    Role.AGENCY_LIAISON,
    Role.AGENCY_LEADER,
    Role.DISCIPLINE_LIAISON,
    Role.JUDICIAL_LIAISON,
)
ALL_ROLES = tuple(Role)


def grant_levels(role: Role) -> tuple[str, ...]:
    if role in OFFICE_ROLES:
        return ("city", "county")
    if role in AGENCY_ROLES:
        return ("county", "town")
    if role in (Role.PLATFORM_ADMIN, Role.OVERSEER):
        return ("province",)
    return ("province", "city", "county")  # committee_member


def make_principals(n_users: int, regions: list[Region], rng: random.Random) -> list[Principal]:
    by_level: dict[str, list[Region]] = {}
    for r in regions:
        by_level.setdefault(r.level, []).append(r)
    principals = []
    for uid in range(1, n_users + 1):
        grants = []
        for _ in range(rng.randint(1, 3)):
            role = rng.choice(ALL_ROLES)
            level = rng.choice(grant_levels(role))
            region = rng.choice(by_level[level])
            grants.append(
                RoleGrant(
                    role=role.value,
                    region_code=region.code,
                    region_path=region.path,
                    tenant_id=1,
                    agency_id=uid if role in AGENCY_ROLES else None,
                )
            )
        principals.append(
            Principal(
                user_id=uid,
                login=f"u{uid}",
                name=f"用户{uid}",
                tenant_id=1,
                agency_id=uid,
                region_path=grants[0].region_path,
                grants=tuple(grants),
                grants_version=1,
            )
        )
    return principals


def make_requests(
    n: int, principals: list[Principal], regions: list[Region], rng: random.Random
) -> list[tuple[Principal, str, str, str]]:
    """(principal, act, obj, domain): half inside one of the user's subtrees, half anywhere."""
    paths = sorted(r.path for r in regions)
    subtree: dict[str, list[str]] = {}

    def below(path: str) -> list[str]:
        hit = subtree.get(path)
        if hit is None:
            hit = [p for p in paths if domain_matches(p, path)]
            subtree[path] = hit
        return hit

    out = []
    for _ in range(n):
        p = rng.choice(principals)
        if rng.random() < 0.5:
            domain = rng.choice(below(rng.choice(p.grants).region_path))
        else:
            domain = rng.choice(paths)
        act = "read" if rng.random() < 0.4 else rng.choice(ACTIONS)
        out.append((p, act, rng.choice(RESOURCES), domain))
    return out


# --- timing ----------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def time_fast_path(
    authorizer: Authorizer, requests: list[tuple[Principal, str, str, str]], batch: int = 10_000
) -> tuple[list[int], list[bool]]:
    """Per-decision ns timings of ``Authorizer.allowed``, run in batches."""
    clock = time.perf_counter_ns
    allowed = authorizer.allowed
    timings: list[int] = []
    results: list[bool] = []
    for start in range(0, len(requests), batch):
        chunk = requests[start : start + batch]
        for p, act, obj, domain in chunk:
            t0 = clock()
            ok = allowed(p, act, obj, domain)
            t1 = clock()
            timings.append(t1 - t0)
            results.append(ok)
    return timings, results


def naive_enforcer(rule_lines, paths: list[str], assignments):
    """pycasbin with one copy of every rule per region: p, role, domain, obj, act.

    Loaded through a policy file: ``Enforcer.add_policies`` checks each new rule against a
    list (quadratic: minutes for 65,000 rules).
    """
    import casbin

    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "naive.conf"
        model_path.write_text(NAIVE_MODEL, encoding="utf-8")
        policy_path = Path(tmp) / "naive.csv"
        with policy_path.open("w", encoding="utf-8") as f:
            for path in paths:
                for role, obj, act in rule_lines:
                    f.write(f"p, {role}, {path}, {obj}, {act}\n")
        e = casbin.Enforcer(str(model_path), str(policy_path))
    e.add_function("anyOf", any_of)
    e.add_named_domain_matching_func("g", domain_matches)
    if assignments:
        e.add_grouping_policies([list(a) for a in dict.fromkeys(assignments)])
    return e


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--decisions", type=int, default=200_000)
    ap.add_argument("--sample", type=int, default=3_000, help="requests checked against Casbin")
    ap.add_argument("--naive", type=int, default=20, help="decisions timed on the naive enforcer")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    say = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    t = time.perf_counter()
    regions, source = hubei_regions()
    paths = [r.path for r in regions]
    principals = make_principals(args.users, regions, rng)
    requests = make_requests(args.decisions, principals, regions, rng)
    authorizer = Authorizer()
    say(
        f"setup: {len(regions)} regions ({source}), {len(principals)} users, "
        f"{sum(len(p.grants) for p in principals)} grants, {len(authorizer.rules)} rules, "
        f"{len(requests)} requests in {time.perf_counter() - t:.1f}s"
    )

    # Fast path: the production entry point, cold caches, then one warm pass.
    gc.collect()
    gc.freeze()
    timings, results = time_fast_path(authorizer, requests)
    ts = sorted(timings)
    p50_us = percentile(ts, 0.50) / 1000
    p99_us = percentile(ts, 0.99) / 1000
    granted = sum(results)
    say(
        f"fast path (cold cache): p50 {p50_us:.2f} µs, p99 {p99_us:.2f} µs, "
        f"mean {statistics.fmean(ts) / 1000:.2f} µs, {granted}/{len(results)} allowed; "
        f"cache {authorizer.cache.stats()}"
    )
    # The LRU holds the most recent 100,000 decisions: replay those.
    hot = requests[-min(len(requests), authorizer.cache.maxsize) :]
    warm, _ = time_fast_path(authorizer, hot)
    ws = sorted(warm)
    say(f"fast path (decision cache hit): p50 {percentile(ws, .5) / 1000:.2f} µs, "
        f"p99 {percentile(ws, .99) / 1000:.2f} µs")
    unc = []
    clock = time.perf_counter_ns
    for p, act, obj, domain in requests[:50_000]:
        t0 = clock()
        authorizer.check(authorizer.compile(p.grants), domain, obj, act)
        unc.append(clock() - t0)
    unc.sort()
    say(f"fast path (no cache, compile + check): p50 {percentile(unc, .5) / 1000:.2f} µs, "
        f"p99 {percentile(unc, .99) / 1000:.2f} µs")
    dec = []
    decide = authorizer.decide
    for p, act, obj, domain in requests[:50_000]:
        t0 = clock()
        decide(p.grants, domain, obj, act)
        dec.append(clock() - t0)
    dec.sort()
    say(f"Authorizer.decide(grants, ...) (index cached by grant tuple): p50 "
        f"{percentile(dec, .5) / 1000:.2f} µs, p99 {percentile(dec, .99) / 1000:.2f} µs")
    gc.unfreeze()

    # Reference: Casbin's enforce with the hierarchical-domain model, on a sample.
    t = time.perf_counter()
    sample = rng.sample(range(len(requests)), min(args.sample, len(requests)))
    # Casbin's role manager rebuilds a per-domain role graph with a quadratic add_link, so
    # one enforcer holding every sampled user's links takes minutes; check the sample in
    # groups of users, one enforcer per group (other users' links still present).
    by_user: dict[int, list[int]] = {}
    for i in sample:
        by_user.setdefault(requests[i][0].user_id, []).append(i)
    users = list(by_user)
    mismatches = 0
    ref_times = []
    group = 25
    for g0 in range(0, len(users), group):
        members = users[g0 : g0 + group]
        links = []
        for uid in members:
            p = requests[by_user[uid][0]][0]
            links.extend(assignments_for(p.user_id, p.grants))
        reference = casbin_enforcer(assignments=links)
        for uid in members:
            for i in by_user[uid]:
                p, act, obj, domain = requests[i]
                t0 = clock()
                expected = reference.enforce(subject(p.user_id), domain, obj, act)
                ref_times.append(clock() - t0)
                fast = results[i]
                if expected != fast or expected != authorizer.decide(p.grants, domain, obj, act):
                    mismatches += 1
                    if mismatches <= 5:
                        say(f"MISMATCH {p.user_id} {p.grants} {domain} {obj} {act}: "
                            f"casbin {expected}, fast {fast}")
    ref_times.sort()
    say(
        f"casbin reference ({len(authorizer.rules)} rules, hierarchical domains): "
        f"{len(sample)} requests, p50 {percentile(ref_times, .5) / 1000:.1f} µs, "
        f"{mismatches} mismatches, {time.perf_counter() - t:.1f}s"
    )

    # Naive: a copy of every rule per region, timed on a few decisions.
    t = time.perf_counter()
    naive_idx = rng.sample(range(len(requests)), min(args.naive, len(requests)))
    naive_links = []
    for i in naive_idx:
        p = requests[i][0]
        naive_links.extend(assignments_for(p.user_id, p.grants))
    naive = naive_enforcer(authorizer.rules, paths, naive_links)
    n_rules = len(naive.get_policy())
    say(f"naive enforcer: {n_rules} rules loaded in {time.perf_counter() - t:.1f}s")
    naive_times = []
    for i in naive_idx:
        p, act, obj, domain = requests[i]
        t0 = clock()
        expected = naive.enforce(subject(p.user_id), domain, obj, act)
        naive_times.append(clock() - t0)
        if expected != results[i]:
            mismatches += 1
            say(f"NAIVE MISMATCH {p.user_id} {domain} {obj} {act}: naive {expected}, fast {results[i]}")
    naive_times.sort()
    naive_p50_us = percentile(naive_times, 0.5) / 1000
    say(f"naive: p50 {naive_p50_us / 1000:.1f} ms over {len(naive_times)} decisions "
        f"({n_rules} rules)")

    out = {
        "bench": "authz",
        "decisions": len(timings),
        "p50_us": round(p50_us, 3),
        "p99_us": round(p99_us, 3),
        "naive_p50_us": round(naive_p50_us, 1),
        "ratio": round(naive_p50_us / p50_us, 1),
        "mismatches": mismatches,
    }
    print(json.dumps(out), flush=True)
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    main()
