"""The real region tree of 湖北省 (from ``data/regions_hubei.csv``) and synthetic towns.

``load_hubei()`` returns the shipped rows, parents before children (breadth-first from the
province). ``synthetic_towns()`` fills every county-level unit that has no real towns in
the file with deterministic, generated towns, so that the tree reaches load-test scale
without pretending the generated names are real. See ``data/README.md`` for the sources.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files

LEVELS = ("province", "city", "county", "town")

# Longest first: "土家族自治县" must win over "县".
_COUNTY_SUFFIXES = ("土家族自治县", "自治县", "林区", "区", "县", "市")


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    level: str
    parent_code: str | None


def _read_csv_text() -> str:
    return (files("ducha.tenants") / "data" / "regions_hubei.csv").read_text(encoding="utf-8")


def _parse(text: str) -> list[RegionRow]:
    reader = csv.DictReader(io.StringIO(text))
    expected = ["code", "name", "level", "parent_code"]
    if reader.fieldnames != expected:
        raise ValueError(f"regions_hubei.csv: header {reader.fieldnames!r}, expected {expected!r}")
    rows: list[RegionRow] = []
    for lineno, rec in enumerate(reader, start=2):
        code = (rec["code"] or "").strip()
        name = (rec["name"] or "").strip()
        level = (rec["level"] or "").strip()
        parent = (rec["parent_code"] or "").strip() or None
        if not code.isdigit() or not name or level not in LEVELS:
            raise ValueError(f"regions_hubei.csv line {lineno}: bad row {rec!r}")
        rows.append(RegionRow(code=code, name=name, level=level, parent_code=parent))
    return rows


def _breadth_first(rows: Iterable[RegionRow]) -> list[RegionRow]:
    """Order rows parents-before-children; siblings keep their file order."""
    rows = list(rows)
    by_code: dict[str, RegionRow] = {}
    for row in rows:
        if row.code in by_code:
            raise ValueError(f"duplicate region code {row.code}")
        by_code[row.code] = row
    roots = [r for r in rows if r.parent_code is None]
    if len(roots) != 1:
        raise ValueError(f"expected exactly one root region, found {len(roots)}")
    children: dict[str, list[RegionRow]] = defaultdict(list)
    for row in rows:
        if row.parent_code is not None:
            if row.parent_code not in by_code:
                raise ValueError(f"region {row.code} has unknown parent {row.parent_code}")
            children[row.parent_code].append(row)
    ordered: list[RegionRow] = []
    queue = deque(roots)
    while queue:
        row = queue.popleft()
        ordered.append(row)
        queue.extend(children.get(row.code, ()))
    if len(ordered) != len(rows):  # only possible with a parent cycle
        raise ValueError("region rows contain a cycle not reachable from the root")
    return ordered


def load_hubei() -> list[RegionRow]:
    """The shipped Hubei rows (province, cities, counties, real towns), breadth-first."""
    return _breadth_first(_parse(_read_csv_text()))


def region_path(row: RegionRow, by_code: Mapping[str, RegionRow]) -> str:
    """Materialized path: the codes from the root down to ``row``, joined by '/'.

    e.g. ``420000/421200/421221/421221101``; a province-administered unit: ``420000/429004``.
    """
    codes = [row.code]
    seen = {row.code}
    current = row
    while current.parent_code is not None:
        parent = by_code.get(current.parent_code)
        if parent is None:
            raise KeyError(f"region {current.code}: parent {current.parent_code} not in by_code")
        if parent.code in seen:
            raise ValueError(f"cycle in region parents at {parent.code}")
        seen.add(parent.code)
        codes.append(parent.code)
        current = parent
    return "/".join(reversed(codes))


def _short_name(county_name: str) -> str:
    for suffix in _COUNTY_SUFFIXES:
        if county_name.endswith(suffix) and len(county_name) > len(suffix):
            return county_name[: -len(suffix)]
    return county_name


def synthetic_towns(
    rows: list[RegionRow], *, per_county: int = 13, seed: int = 2024
) -> list[RegionRow]:
    """Generated towns for every county-level row that has no real town under it.

    ``per_county`` towns each, level ``town``, named ``<county short name>第N镇``
    (e.g. ``通城第3镇``), 9-digit codes ``<county code><3 digits>`` from 100 upward.
    The seed only decides where small gaps fall in the code sequence (real code tables
    have gaps too); the output is identical for identical ``rows``/``per_county``/``seed``.
    Codes never collide with any code in ``rows``.
    """
    if per_county < 0:
        raise ValueError("per_county must be >= 0")
    existing = {r.code for r in rows}
    has_towns = {r.parent_code for r in rows if r.level == "town"}
    out: list[RegionRow] = []
    for county in rows:
        if county.level != "county" or county.code in has_towns:
            continue
        if len(county.code) != 6:
            raise ValueError(f"county {county.code} does not have a 6-digit code")
        rng = random.Random(f"{seed}:{county.code}")
        short = _short_name(county.name)
        suffix = 100
        for n in range(1, per_county + 1):
            # Leave an occasional gap, but only while the 3-digit space allows it.
            spare = 999 - suffix - (per_county - n)
            if n > 1 and spare > 0 and rng.random() < 0.2:
                suffix += 1
            while f"{county.code}{suffix:03d}" in existing:
                suffix += 1
            if suffix > 999:
                raise ValueError(f"county {county.code}: no room for {per_county} towns")
            code = f"{county.code}{suffix:03d}"
            existing.add(code)
            out.append(RegionRow(code=code, name=f"{short}第{n}镇", level="town",
                                 parent_code=county.code))
            suffix += 1
    return out
