"""Generated queries over the whole schema, as every demo login, with the application's filters
on and then off (RLS alone): nobody ever reads a canary the rules keep from it, and no query
is answered with a server error.

Five tenants at three levels (湖北省; 咸宁市, 十堰市; 嘉鱼县, 郧西县) run inspections down the
tree and their units transfer clues, every text field carrying its own canary
(ducha.bench._fuzz.seed). A login may read a canary of its own tenant or one below it, and
one addressed to its unit or to a tenant it sees; agency-bound users only their agency's.
The data lives in a scratch database of its own, so nothing here changes what later tests see.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from hypothesis import strategies as st

from ducha.bench import _fuzz
from ducha.policies import filters

EXAMPLES = 260  # each query runs as two logins, in both modes: 1,040 operations


@pytest.fixture(scope="module")
async def world(database_url):
    """A scratch database beside the session's (database_url: the server is up and named)."""
    async with _fuzz.api("fuzz_isolation") as api:
        yield api, await _fuzz.seed(api)


def test_the_canary_rules_follow_the_region_tree():
    c = _fuzz.Canary("KNRY0000Q", "test", frozenset({_fuzz.JIAYU}), frozenset())
    assert [login for login in _fuzz.LOGINS if _fuzz.may_see(login, c)] == [
        "hubei.office", "hubei.justice", "xianning.office", "xianning.inspector", "jiayu.office", "jiayu.leader",
        "jiayu.inspector", "jiayu.committee"]
    addressed = _fuzz.Canary("KNRY0000Q", "test", frozenset({_fuzz.XIANNING, _fuzz.JIAYU}), frozenset({"新街镇人民政府"}))
    assert _fuzz.may_see("jiayu.xinjie", addressed) and _fuzz.may_see("jiayu.office", addressed)
    assert not _fuzz.may_see("jiayu.court", addressed) and not _fuzz.may_see("shiyan.office", addressed)


async def test_the_scenario_puts_canaries_where_each_user_should_see_them(world):
    """The oracle itself: a hand-written walk finds each login's own canaries, and no other."""
    api, sc = world
    walk = ("{ inspections(first: 100) { edges { node { title focusArea workPlan { reason } notes { body } "
            "feedback { summary problems { problem { title description } } } } } } "
            "clues(first: 100) { edges { node { title content transfers { note feedback } } } } "
            "problems(first: 100) { edges { node { problem { title } measures { content } } } } }")
    for login in _fuzz.LOGINS:
        for on in (True, False):
            filters.set_enabled(on)
            try:
                r = await api.post(login, walk)
            finally:
                filters.set_enabled(True)
            assert r.status == 200 and not r.body.get("errors"), r.text[:500]
            assert not sc.leaks(login, r.text), (login, on, sc.leaks(login, r.text))
            assert sc.seen(r.text), f"{login} sees none of its canaries"


async def test_generated_queries_never_leak_nor_fail(world):
    api, sc = world
    loop = asyncio.get_running_loop()
    operations = 0
    seen: dict[str, set[str]] = defaultdict(set)

    async def run(example: tuple[list[str], str]) -> None:
        nonlocal operations
        logins, query = example
        for login, on in ((login, on) for login in logins for on in (True, False)):
            filters.set_enabled(on)
            try:
                r = await api.post(login, query)
            finally:
                filters.set_enabled(True)
            operations += 1
            mode = "app+rls" if on else "rls-only"
            assert r.status < 500, (login, mode, r.status, r.text[:500], query)
            assert not _fuzz.unexpected_errors(r.body), (login, mode, _fuzz.unexpected_errors(r.body), query)
            leaks = sc.leaks(login, r.text)
            assert not leaks, (login, mode, [(c.token, c.where) for c in leaks], query)
            seen[login] |= sc.seen(r.text)

    strategy = st.tuples(st.lists(st.sampled_from(sorted(_fuzz.LOGINS)), min_size=2, max_size=2, unique=True),
                         _fuzz.queries(sc))
    await asyncio.to_thread(_fuzz.drive, strategy, run, examples=EXAMPLES, loop=loop)
    assert operations >= 1000
    # not vacuous: the generated operations did reach canaries, through many kinds of users
    reached = set().union(*seen.values())
    print(f"isolation fuzz: {operations} operations, {len(reached)} of {len(sc.canaries)} canaries reached, "
          f"{sum(1 for v in seen.values() if v)} logins saw some")
    assert len(reached) >= 20
    assert len([login for login in _fuzz.LOGINS if seen[login]]) >= 8
