"""The scope-to-SQL compiler: list queries filter by a predicate, never by per-row enforce.

Row-level security applies the same scope inside PostgreSQL as the second wall; tests switch
these application filters off (`set_enabled(False)`) to prove RLS alone keeps tenants apart.
"""

from __future__ import annotations

import functools

from sqlalchemy import BigInteger, ColumnElement, Text, any_, false, literal, or_, true
from sqlalchemy.dialects.postgresql import ARRAY

from ducha.tenants.scope import Scope

_enabled = True


def set_enabled(on: bool) -> None:
    """Switch the application's own filters (tests of RLS alone); never off in production."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


# One type object each: a fresh ARRAY(...) per call makes SQLAlchemy rebuild its cache key.
_BIGINT_ARRAY = ARRAY(BigInteger)
_TEXT_ARRAY = ARRAY(Text)


@functools.lru_cache(maxsize=4096)
def _ids(values: frozenset[int]) -> ColumnElement[object]:
    """`= ANY($1::bigint[])`: one statement text whatever the count (SQL elements are immutable,
    so a scope's array is built once and shared)."""
    return any_(literal(sorted(values), _BIGINT_ARRAY))


def ids_array(values: frozenset[int]) -> ColumnElement[object]:
    """`ANY(array)` of the ids, for `col == ids_array(...)`."""
    return _ids(values)


def among(col: ColumnElement[int], values: frozenset[int]) -> ColumnElement[bool]:
    """`col = v` for one value (an index on (col, id) then yields rows in id order, which an
    id-ordered page needs), `col = ANY(array)` for several."""
    if len(values) == 1:
        return col == next(iter(values))
    return col == _ids(values)


def region_patterns(prefixes: frozenset[str]) -> list[str]:
    """LIKE patterns of the subtrees under region path prefixes ('/'-bounded)."""
    return sorted(p + "/%" for p in prefixes)


@functools.lru_cache(maxsize=4096)
def _likes(prefixes: frozenset[str]) -> ColumnElement[object]:
    return any_(literal(region_patterns(prefixes), _TEXT_ARRAY))


def tenant_visible(scope: Scope, tenant_col: ColumnElement[int], *, agency_col: ColumnElement[int] | None = None,
                   ) -> ColumnElement[bool]:
    """Rows of a visible tenant, or addressed to one of the scope's agencies."""
    if not _enabled:
        return true()
    conds: list[ColumnElement[bool]] = []
    if scope.tenant_ids:
        conds.append(among(tenant_col, scope.tenant_ids))
    if agency_col is not None and scope.agency_ids:
        conds.append(among(agency_col, scope.agency_ids))
    return or_(*conds) if conds else false()


def ids_visible(scope: Scope, id_col: ColumnElement[int], *, home: bool = False) -> ColumnElement[bool]:
    """Tenant rows themselves: the visible tenants (and the caller's own with home=True)."""
    if not _enabled:
        return true()
    ids = scope.tenant_ids | ({scope.home_tenant_id} if home else frozenset())
    return id_col == _ids(frozenset(ids)) if ids else false()


def region_visible(scope: Scope, path_col: ColumnElement[str]) -> ColumnElement[bool]:
    """Regions inside one of the scope's subtrees ('/'-bounded prefix match, index-friendly)."""
    if not _enabled:
        return true()
    if not scope.region_prefixes:
        return false()
    return (path_col + "/").like(_likes(scope.region_prefixes))


def addressed_visible(scope: Scope, tenant_col: ColumnElement[int], target_tenant_col: ColumnElement[int],
                      agency_col: ColumnElement[int]) -> ColumnElement[bool]:
    """Rows addressed to a unit: the owner's chain, the target's own office chain, the unit itself."""
    if not _enabled:
        return true()
    conds: list[ColumnElement[bool]] = []
    if scope.tenant_ids:
        conds += [among(tenant_col, scope.tenant_ids), among(target_tenant_col, scope.tenant_ids)]
    if scope.agency_ids:
        conds.append(among(agency_col, scope.agency_ids))
    return or_(*conds) if conds else false()
