"""Roll-up helpers for tests: fetch a region's roll-up through GraphQL, and check that every
figure drills down to exactly that many items."""

from __future__ import annotations

from typing import Any

from strawberry.utils.str_converters import to_camel_case

from ducha.services.rollups import FIGURES

ALL = [to_camel_case(n) for n in FIGURES]
FIGS = [to_camel_case(n) for n, f in FIGURES.items() if not f.is_rate]
ENUM = {to_camel_case(n): n.upper() for n in FIGURES}

ROLLUP = ("query($r: String!, $p: RollupPeriodInput!, $f: RollupFilterInput) { rollup(region: $r, period: $p, "
          "filters: $f) { __typename ... on UserError { code message } ... on Rollup { regionCode name asOf "
          "figures { " + " ".join(ALL) + " } children { regionCode agencyId name level figures { " + " ".join(ALL)
          + " } } } } }")
ITEMS = ("query($fig: RollupFigure!, $r: String!, $p: RollupPeriodInput!, $f: RollupFilterInput, $a: ID, $after: String) {"
         " rollupItems(figure: $fig, region: $r, period: $p, filters: $f, agencyId: $a, first: 100, after: $after) {"
         " __typename ... on UserError { code message } ... on RollupItemConnection { totalCount kind"
         " edges { cursor node { kind id } } pageInfo { hasNextPage endCursor } } } }")


async def rollup(gql: Any, login: str, region: str, period: dict[str, Any],
                 filters: dict[str, Any] | None = None) -> dict[str, Any]:
    d = await gql.data(login, ROLLUP, {"r": region, "p": period, "f": filters})
    r = d["rollup"]
    assert r["__typename"] == "Rollup", r
    return r


async def items(gql: Any, login: str, figure: str, region: str, period: dict[str, Any],
                filters: dict[str, Any] | None = None, agency: str | None = None) -> tuple[int, list[str]]:
    """(totalCount, every item id over all pages)."""
    ids: list[str] = []
    after = None
    total = -1
    while True:
        d = await gql.data(login, ITEMS, {"fig": ENUM[figure], "r": region, "p": period, "f": filters, "a": agency,
                                          "after": after})
        c = d["rollupItems"]
        assert c["__typename"] == "RollupItemConnection", c
        total = c["totalCount"]
        ids += [e["node"]["id"] for e in c["edges"]]
        if not c["pageInfo"]["hasNextPage"]:
            return total, ids
        after = c["pageInfo"]["endCursor"]


async def assert_drilldowns(gql: Any, login: str, region: str, period: dict[str, Any],
                            filters: dict[str, Any] | None = None, *, figures: list[str] | None = None,
                            children: int = 3, max_items: int = 400) -> None:
    """Every figure of the node (and of its first non-empty children) lists exactly that many items."""
    r = await rollup(gql, login, region, period, filters)
    nodes: list[tuple[str, str | None, dict[str, Any]]] = [(region, None, r["figures"])]
    busy = [c for c in r["children"] if c["figures"]["problems"] or c["figures"]["targets"] or c["figures"]["clues"]]
    for c in busy[:children]:
        nodes.append((c["regionCode"], c["agencyId"], c["figures"]))
    for code, agency, figs in nodes:
        for name in figures or FIGS:
            want = figs[name]
            if agency is not None and want == 0:
                continue
            if want > max_items:
                d = await gql.data(login, ITEMS, {"fig": ENUM[name], "r": code, "p": period, "f": filters,
                                                  "a": agency, "after": None})
                assert d["rollupItems"]["totalCount"] == want, (code, agency, name)
                continue
            total, ids = await items(gql, login, name, code, period, filters, agency)
            assert total == want, f"{login} {code}/{agency} {name}: figure {want}, drill-down totalCount {total}"
            assert len(ids) == want == len(set(ids)), f"{code}/{agency} {name}: {len(ids)} items listed, figure {want}"
