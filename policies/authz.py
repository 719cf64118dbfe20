"""The one authorization entry point: ``authorize(principal, act, obj, domain)``.

Semantics (Casbin is the reference, see ``model.conf`` and :func:`casbin_enforcer`): a user
may do ``act`` on ``obj`` in region ``domain`` iff one of their role grants was made at
``domain`` or at a '/'-boundary ancestor of it (down the tree only: never up, never
sideways; a grant at ``420000/42120`` does not reach ``420000/421200``) and ``rules.csv``
gives that role ``(obj, act)``.

Why not just call ``casbin.Enforcer.enforce``: it evaluates its matcher against every rule
(tens of µs even with 42 rules, 127 ms with 63,000 per-domain rules, measured). The
:class:`Authorizer` compiles the same rules once into ``(obj, act) -> roles`` and each grant
set into ``role -> region prefixes`` and answers with a dict lookup, a loop over the user's
few roles and one ``str.startswith(tuple)``; ``tests/test_policies.py`` checks that it agrees
with Casbin on generated grants and requests, and ``python -m ducha.bench.authz`` measures
both.

Caching: a per-process :class:`DecisionCache` (bounded LRU) keyed by
``(user_id, grants_version, domain, obj, act)``, plus the compiled grant index per
``(user_id, grants_version)``. Every entry remembers the cache generation at which its
computation *started*; ``invalidate_user`` / ``invalidate_all`` raise a floor above it, so an
entry can never be served after an invalidation, even one that raced with its computation.
While the cache is *untrusted* (the policy watcher lost Redis and may miss invalidations),
nothing is cached or served from cache and :attr:`DecisionCache.trusted` tells principal
loaders to reload grants from the database.

Row-level narrowing (what an agency-bound role sees, which rows of a list) is not decided
here but by the scope-to-SQL compiler; never call this per row.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducha.policies.roles import ACTIONS, RESOURCES, Role
from ducha.tenants.principal import Principal, RoleGrant

if TYPE_CHECKING:  # pragma: no cover
    import casbin

__all__ = [
    "MODEL_PATH",
    "RULES_PATH",
    "Authorizer",
    "DecisionCache",
    "GrantIndex",
    "NotAllowed",
    "Rule",
    "UnknownPermission",
    "allowed",
    "any_of",
    "assignments_for",
    "authorize",
    "casbin_enforcer",
    "domain_matches",
    "get_authorizer",
    "invalidate_all",
    "invalidate_user",
    "load_rules",
    "parse_rules",
    "set_authorizer",
    "subject",
]

log = logging.getLogger(__name__)

RULES_PATH = Path(__file__).with_name("rules.csv")
MODEL_PATH = Path(__file__).with_name("model.conf")

Rule = tuple[str, str, str]  # (role, obj pattern, act pattern) as written in rules.csv
# A compiled grant set: for each role held, the region prefixes (path + '/') it is held at.
GrantIndex = tuple[tuple[str, tuple[str, ...]], ...]
DecisionKey = tuple[int, int, str, str, str]  # (user_id, grants_version, domain, obj, act)
Listener = Callable[[int | None], Any]


class NotAllowed(Exception):
    """The principal may not do ``action`` on ``resource`` in region ``domain``."""

    def __init__(
        self,
        action: str,
        resource: str,
        domain: str,
        *,
        user_id: int | None = None,
        roles: Iterable[str] = (),
    ) -> None:
        self.action = action
        self.resource = resource
        self.domain = domain
        self.user_id = user_id
        self.roles = tuple(sorted(roles))
        who = "anonymous" if user_id is None else f"user {user_id}"
        held = ", ".join(self.roles) or "no role"
        super().__init__(
            f"not allowed: {who} (holding {held}) may not {action} {resource} in region {domain}"
        )


class UnknownPermission(ValueError):
    """``obj`` or ``act`` is not in the catalogue (roles.RESOURCES / roles.ACTIONS): a bug."""


# --- rules ---------------------------------------------------------------------------------


def _split(pattern: str) -> list[str]:
    return [p.strip() for p in pattern.split("|")]


def any_of(value: str, pattern: str) -> bool:
    """Casbin matcher function: ``pattern`` is ``*`` or names joined by ``|``."""
    return pattern == "*" or value in _split(pattern)


def domain_matches(request_domain: str, grant_domain: str) -> bool:
    """Casbin domain matching function: does a grant at ``grant_domain`` reach ``request_domain``?

    Down the region tree only, at '/' boundaries: ``420000/421200`` reaches itself and
    ``420000/421200/421221``, not ``420000`` nor ``420000/420300`` nor ``420000/4212001``.
    """
    return request_domain == grant_domain or request_domain.startswith(grant_domain + "/")


def _parse_line(line: str) -> Rule | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    tokens = [t.strip() for t in line.split(",")]
    if len(tokens) != 4 or tokens[0] != "p":
        raise ValueError(f"bad rule line (want 'p, role, obj, act'): {line!r}")
    return tokens[1], tokens[2], tokens[3]


def parse_rules(lines: Iterable[str]) -> list[Rule]:
    """Rules from ``p, role, obj, act`` lines (blank lines and ``#`` comments skipped)."""
    return [r for r in map(_parse_line, lines) if r is not None]


def load_rules(path: Path | str = RULES_PATH) -> list[Rule]:
    return parse_rules(Path(path).read_text(encoding="utf-8").splitlines())


def _normalize_rules(rules: Iterable[Rule | str | Sequence[str]]) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for r in rules:
        if isinstance(r, str):
            parsed = _parse_line(r)
            if parsed is not None:
                out.append(parsed)
            continue
        items = [str(x).strip() for x in r]
        if len(items) == 4 and items[0] == "p":
            items = items[1:]
        if len(items) != 3:
            raise ValueError(f"bad rule (want (role, obj, act)): {r!r}")
        out.append((items[0], items[1], items[2]))
    return tuple(dict.fromkeys(out))  # drop duplicates, keep order


def _expand(pattern: str, universe: tuple[str, ...], what: str, rule: Rule) -> tuple[str, ...]:
    if pattern == "*":
        return universe
    names = _split(pattern)
    unknown = [n for n in names if n not in universe]
    if unknown:
        raise ValueError(f"rule {rule!r}: unknown {what} {unknown} (see ducha.policies.roles)")
    return tuple(names)


# --- the decision cache ----------------------------------------------------------------------


class DecisionCache:
    """Per-process decision and grant-index cache with generation-checked invalidation.

    Entries are ``value, generation`` where generation is :attr:`generation` read *before*
    the value was computed. ``invalidate_user(u)`` bumps the generation and sets u's floor to
    it; ``invalidate_all()`` does the same for everyone. An entry is served only if its
    generation is at or above both floors, so nothing computed before an invalidation (or
    while one was happening) is ever served after it.
    """

    def __init__(self, maxsize: int = 100_000, index_maxsize: int = 20_000) -> None:
        self.maxsize = maxsize
        self.index_maxsize = index_maxsize
        self._lock = threading.Lock()
        self._decisions: OrderedDict[DecisionKey, tuple[bool, int]] = OrderedDict()
        self._indexes: OrderedDict[tuple[int, int], tuple[GrantIndex, int]] = OrderedDict()
        self._generation = 0
        self._all_floor = 0
        self._user_floor: dict[int, int] = {}
        self._trusted = True
        self._listeners: list[Listener] = []

    # generation and trust ------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def trusted(self) -> bool:
        """False while invalidations may be missed (policy watcher disconnected): nothing is
        cached then, and callers that cache principals should reload grants."""
        return self._trusted

    def is_current(self, user_id: int, generation: int) -> bool:
        return generation >= self._all_floor and generation >= self._user_floor.get(user_id, 0)

    def mark_untrusted(self) -> None:
        with self._lock:
            self._trusted = False
        self.invalidate_all()

    def mark_trusted(self) -> None:
        """Trust again, after dropping everything (invalidations may have been missed)."""
        self.invalidate_all()
        with self._lock:
            self._trusted = True

    # listeners -------------------------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        """``fn(user_id)`` (``None`` = everyone) after every invalidation, e.g. to drop a
        principal cache. Exceptions are logged and swallowed."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def _notify(self, user_id: int | None) -> None:
        for fn in list(self._listeners):
            try:
                fn(user_id)
            except Exception:  # noqa: BLE001 - a listener must not break invalidation
                log.exception("policy cache listener failed")

    # invalidation ----------------------------------------------------------------------------

    def invalidate_user(self, user_id: int) -> None:
        with self._lock:
            self._generation += 1
            self._user_floor[user_id] = self._generation
            # The user's decision and index entries are now below the floor: never served
            # again, dropped lazily when looked up or evicted (O(1) here, not a 100k scan).
        self._notify(user_id)

    def invalidate_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._all_floor = self._generation
            self._user_floor.clear()
            self._decisions.clear()
            self._indexes.clear()
        self._notify(None)

    # entries ---------------------------------------------------------------------------------

    def get_decision(self, key: DecisionKey) -> bool | None:
        entry = self._decisions.get(key)
        if entry is None:
            return None
        if not self._trusted or not self.is_current(key[0], entry[1]):
            with self._lock:
                self._decisions.pop(key, None)
            return None
        with self._lock:
            if key in self._decisions:
                self._decisions.move_to_end(key)
        return entry[0]

    def put_decision(self, key: DecisionKey, value: bool, generation: int) -> None:
        with self._lock:
            if not self._trusted or not self.is_current(key[0], generation):
                return
            d = self._decisions
            d[key] = (value, generation)
            if len(d) > self.maxsize:
                d.popitem(last=False)

    def get_index(self, user_id: int, grants_version: int) -> GrantIndex | None:
        key = (user_id, grants_version)
        entry = self._indexes.get(key)
        if entry is None:
            return None
        if not self._trusted or not self.is_current(user_id, entry[1]):
            with self._lock:
                self._indexes.pop(key, None)
            return None
        with self._lock:
            if key in self._indexes:
                self._indexes.move_to_end(key)
        return entry[0]

    def put_index(
        self, user_id: int, grants_version: int, index: GrantIndex, generation: int
    ) -> None:
        with self._lock:
            if not self._trusted or not self.is_current(user_id, generation):
                return
            d = self._indexes
            d[(user_id, grants_version)] = (index, generation)
            if len(d) > self.index_maxsize:
                d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._decisions)

    def stats(self) -> dict[str, int | bool]:
        return {
            "decisions": len(self._decisions),
            "indexes": len(self._indexes),
            "generation": self._generation,
            "trusted": self._trusted,
        }


# --- the authorizer --------------------------------------------------------------------------


class Authorizer:
    """Rules compiled for fast decisions, with a per-process :class:`DecisionCache`."""

    def __init__(
        self,
        rules: Iterable[Rule | str | Sequence[str]] | None = None,
        *,
        cache: DecisionCache | None = None,
        adhoc_maxsize: int = 4096,
    ) -> None:
        self.rules: tuple[Rule, ...] = _normalize_rules(load_rules() if rules is None else rules)
        known_roles = {r.value for r in Role}
        perms: dict[str, set[tuple[str, str]]] = {}
        for rule in self.rules:
            role, obj, act = rule
            if role not in known_roles:
                raise ValueError(f"rule {rule!r}: unknown role {role!r}")
            bucket = perms.setdefault(role, set())
            for o in _expand(obj, RESOURCES, "resource", rule):
                for a in _expand(act, ACTIONS, "action", rule):
                    bucket.add((o, a))
        self._perms: dict[str, frozenset[tuple[str, str]]] = {
            role: frozenset(s) for role, s in perms.items()
        }
        # Every catalogue (obj, act) is a key (possibly with no role): a missing key means
        # an unknown resource or action, which is a programming error, not a "no".
        self._roles_by_perm: dict[tuple[str, str], frozenset[str]] = {
            (o, a): frozenset(r for r, s in self._perms.items() if (o, a) in s)
            for o in RESOURCES
            for a in ACTIONS
        }
        self.cache = cache if cache is not None else DecisionCache()
        self._adhoc: OrderedDict[tuple[RoleGrant, ...], GrantIndex] = OrderedDict()
        self._adhoc_maxsize = adhoc_maxsize
        self._adhoc_lock = threading.Lock()

    # catalogue questions -----------------------------------------------------------------------

    def permissions(self, role: str) -> frozenset[tuple[str, str]]:
        """Every (obj, act) the role has, wildcards expanded."""
        return self._perms.get(role, frozenset())

    def roles_with(self, obj: str, act: str) -> frozenset[str]:
        """The roles that have (obj, act)."""
        try:
            return self._roles_by_perm[(obj, act)]
        except KeyError:
            raise UnknownPermission(f"unknown resource/action: {obj!r}/{act!r}") from None

    # compile and check ---------------------------------------------------------------------------

    def compile(self, grants: Iterable[RoleGrant]) -> GrantIndex:
        """``role -> region prefixes`` for a grant set; roles without rules are dropped, and a
        prefix below another prefix of the same role is redundant and dropped too."""
        by_role: dict[str, set[str]] = {}
        for g in grants:
            if g.role in self._perms:
                by_role.setdefault(g.role, set()).add(g.region_path + "/")
        out = []
        for role, prefixes in by_role.items():
            kept = tuple(
                sorted(p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes))
            )
            out.append((role, kept))
        return tuple(out)

    def check(self, index: GrantIndex, domain: str, obj: str, act: str) -> bool:
        """The decision for a compiled grant set (no caching)."""
        roles = self._roles_by_perm.get((obj, act))
        if roles is None:
            raise UnknownPermission(f"unknown resource/action: {obj!r}/{act!r}")
        d = domain + "/"  # R+'/' starts with D+'/'  <=>  R == D or R starts with D+'/'
        for role, prefixes in index:
            if role in roles and d.startswith(prefixes):
                return True
        return False

    def decide(self, grants: Sequence[RoleGrant], domain: str, obj: str, act: str) -> bool:
        """True iff some grant reaches ``domain`` and its role has ``(obj, act)``.

        Not tied to a user: the compiled index is cached by the grant tuple itself.
        """
        key = tuple(grants)
        index = self._adhoc.get(key)
        if index is None:
            index = self.compile(key)
            with self._adhoc_lock:
                self._adhoc[key] = index
                if len(self._adhoc) > self._adhoc_maxsize:
                    self._adhoc.popitem(last=False)
        return self.check(index, domain, obj, act)

    # principal-level entry points ------------------------------------------------------------------

    def allowed(self, principal: Principal, act: str, obj: str, domain: str | None = None) -> bool:
        if domain is None:
            domain = principal.region_path
        cache = self.cache
        if not cache._trusted:
            # Invalidations may be missed: compute from the principal's grants every time.
            return self.check(self.compile(principal.grants), domain, obj, act)
        uid = principal.user_id
        version = principal.grants_version
        key = (uid, version, domain, obj, act)
        entry = cache._decisions.get(key)
        if entry is not None:
            # Inlined DecisionCache.get_decision (this is the hot path).
            gen = entry[1]
            if gen >= cache._all_floor and gen >= cache._user_floor.get(uid, 0):
                with cache._lock:
                    if key in cache._decisions:
                        cache._decisions.move_to_end(key)
                return entry[0]
        generation = cache._generation  # read BEFORE computing (see DecisionCache)
        index = cache.get_index(uid, version)
        if index is None:
            index = self.compile(principal.grants)
            cache.put_index(uid, version, index, generation)
        decision = self.check(index, domain, obj, act)
        cache.put_decision(key, decision, generation)
        return decision

    def authorize(
        self, principal: Principal, act: str, obj: str, domain: str | None = None
    ) -> None:
        """Return if allowed, else raise :class:`NotAllowed`."""
        if domain is None:
            domain = principal.region_path
        if not self.allowed(principal, act, obj, domain):
            raise NotAllowed(act, obj, domain, user_id=principal.user_id, roles=principal.roles)

    # invalidation --------------------------------------------------------------------------------

    def invalidate_user(self, user_id: int) -> None:
        self.cache.invalidate_user(user_id)

    def invalidate_all(self) -> None:
        with self._adhoc_lock:
            self._adhoc.clear()
        self.cache.invalidate_all()


# --- the default authorizer and module-level entry points --------------------------------------

_default: Authorizer | None = None
_default_lock = threading.Lock()


def get_authorizer() -> Authorizer:
    """The process-wide authorizer, built from rules.csv on first use."""
    global _default
    a = _default
    if a is None:
        with _default_lock:
            if _default is None:
                _default = Authorizer()
            a = _default
    return a


def set_authorizer(authorizer: Authorizer | None) -> None:
    """Replace the process-wide authorizer (tests; ``None`` rebuilds from rules.csv lazily)."""
    global _default
    with _default_lock:
        _default = authorizer


def authorize(principal: Principal, act: str, obj: str, domain: str | None = None) -> None:
    """Raise :class:`NotAllowed` unless ``principal`` may ``act`` on ``obj`` in ``domain``
    (default: the principal's own region)."""
    (_default or get_authorizer()).authorize(principal, act, obj, domain)


def allowed(principal: Principal, act: str, obj: str, domain: str | None = None) -> bool:
    return (_default or get_authorizer()).allowed(principal, act, obj, domain)


def invalidate_user(user_id: int) -> None:
    get_authorizer().invalidate_user(user_id)


def invalidate_all() -> None:
    get_authorizer().invalidate_all()


# --- Casbin, the reference semantics ----------------------------------------------------------------


def subject(user_id: int | str) -> str:
    """The Casbin subject for a user (prefixed, so it can never collide with a role name)."""
    return f"u:{user_id}"


def assignments_for(user_id: int | str, grants: Iterable[RoleGrant]) -> list[tuple[str, str, str]]:
    """Casbin ``g`` lines (user, role, domain) for a user's grants."""
    return [(subject(user_id), g.role, g.region_path) for g in grants]


def casbin_enforcer(
    rules: Iterable[Rule | str | Sequence[str]] | None = None,
    assignments: Iterable[Sequence[str]] = (),
    *,
    model_path: Path | str = MODEL_PATH,
) -> casbin.Enforcer:
    """A real ``casbin.Enforcer`` over model.conf, the rules (default rules.csv) and the given
    ``(subject, role, domain)`` assignments, with the region-hierarchy domain matching
    function registered. The reference the fast path is tested against; not for requests."""
    import casbin  # the only place that needs it; keeps the request path's imports light

    e = casbin.Enforcer(str(model_path))
    e.add_function("anyOf", any_of)
    e.add_named_domain_matching_func("g", domain_matches)
    normalized = _normalize_rules(load_rules() if rules is None else rules)
    if normalized:
        e.add_policies([list(r) for r in normalized])
    links = list(dict.fromkeys(tuple(str(x) for x in a) for a in assignments))
    if links:
        e.add_grouping_policies([list(a) for a in links])
    return e
