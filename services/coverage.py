"""Coverage: what a reader must see to be handed a file that holds many rows.

Every row of a document or an export is visible to a scope by the rules of row-level
security, which all have one shape here: the row's owning or target tenant is among the
scope's tenants, or the unit it is addressed to is among the scope's agencies. A row is
therefore summed up by a *key*: the tenants any of which, or the agencies any of which,
make it visible. A file's coverage is the set of its rows' keys (deduplicated: a ledger of
a million problems has as many keys as units, not rows). A scope covers a file when it
sees every key; a fingerprint of the scope lets a download skip the check when the
downloader's scope is the one the file was computed for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ducha.tenants.scope import Scope


@dataclass(frozen=True, slots=True)
class Key:
    tenants: tuple[int, ...] = ()
    agencies: tuple[int, ...] = ()

    @classmethod
    def of(cls, tenants: Iterable[int | None] = (), agencies: Iterable[int | None] = ()) -> Key:
        return cls(tuple(sorted({int(t) for t in tenants if t is not None})),
                   tuple(sorted({int(a) for a in agencies if a is not None})))

    def seen_by(self, tenant_ids: frozenset[int], agency_ids: frozenset[int]) -> bool:
        return any(t in tenant_ids for t in self.tenants) or any(a in agency_ids for a in self.agencies)


def pack(keys: Iterable[Key]) -> list[dict[str, list[int]]]:
    """Keys as stored (jsonb), deduplicated and sorted so equal sets store equal."""
    return [{"t": list(k.tenants), "a": list(k.agencies)} for k in sorted(set(keys), key=lambda k: (k.tenants, k.agencies))]


def unpack(stored: Iterable[dict[str, Any] | Key] | None) -> list[Key]:
    return [k if isinstance(k, Key) else Key(tuple(int(t) for t in k.get("t", ())), tuple(int(a) for a in k.get("a", ())))
            for k in stored or ()]


def uncovered(scope: Scope, coverage: Iterable[dict[str, Any] | Key] | None) -> list[Key]:
    """The keys of `coverage` the scope does not see."""
    return [k for k in unpack(coverage) if not k.seen_by(scope.tenant_ids, scope.agency_ids)]


def covers(scope: Scope, coverage: Iterable[dict[str, Any] | Key] | None) -> bool:
    """Does the scope see every row summed up by `coverage`? (Nothing to see: yes.)"""
    return not uncovered(scope, coverage)


def snapshot(scope: Scope) -> dict[str, Any]:
    """What the worker needs of the requester's scope, as stored with an export job."""
    return {"user_id": scope.user_id, "home_tenant_id": scope.home_tenant_id, "tenant_ids": sorted(scope.tenant_ids),
            "agency_ids": sorted(scope.agency_ids), "read_only": scope.read_only}


def scope_of(snap: dict[str, Any]) -> Scope:
    return Scope(user_id=int(snap["user_id"]), home_tenant_id=int(snap["home_tenant_id"]),
                 tenant_ids=frozenset(int(t) for t in snap["tenant_ids"]),
                 agency_ids=frozenset(int(a) for a in snap["agency_ids"]), read_only=bool(snap.get("read_only")))


def fingerprint(scope: Scope) -> str:
    """SHA-256 of what decides visibility: the scope's tenants and agencies."""
    canon = json.dumps({"a": sorted(scope.agency_ids), "t": sorted(scope.tenant_ids)}, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()
