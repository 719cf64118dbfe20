"""The role catalogue, the rules, and the fast authorizer measured against Casbin."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ducha.policies import authz
from ducha.policies.authz import (
    RULES_PATH,
    Authorizer,
    DecisionCache,
    NotAllowed,
    UnknownPermission,
    assignments_for,
    casbin_enforcer,
    domain_matches,
    subject,
)
from ducha.policies.roles import ACTIONS, AGENCY_BOUND_ROLES, RESOURCES, ROLES, Role
from ducha.tenants.principal import Principal, RoleGrant

PROVINCE = "420000"
XIANNING = "420000/421200"  # 咸宁市
JIAYU = "420000/421200/421221"  # 嘉鱼县
JIAYU_TOWN = "420000/421200/421221/421221101"  # 嘉鱼县 鱼岳镇
SHIYAN = "420000/420300"  # 十堰市
YUNXI = "420000/420300/420322"  # 郧西县 (under 十堰市)


def grant(role: str, path: str, agency_id: int | None = None) -> RoleGrant:
    return RoleGrant(
        role=role,
        region_code=path.rsplit("/", 1)[-1],
        region_path=path,
        tenant_id=1,
        agency_id=agency_id,
    )


def principal(*grants: RoleGrant, user_id: int = 1, version: int = 1, region: str | None = None):
    return Principal(
        user_id=user_id,
        login=f"u{user_id}",
        name="张三",
        tenant_id=1,
        agency_id=10,
        region_path=region or (grants[0].region_path if grants else PROVINCE),
        grants=tuple(grants),
        grants_version=version,
    )


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    return Authorizer()


# --- the catalogue ----------------------------------------------------------------------------


def test_role_catalogue_is_complete():
    assert [r.value for r in Role] == [
        "platform_admin",
        "office_admin",
        "office_leader",
        "inspector",
        "team_leader",
        "agency_liaison",
        "agency_leader",
        "discipline_liaison",
        "judicial_liaison",
        "committee_member",
        "overseer",
    ]
    assert set(ROLES) == set(Role)
    assert {r.value: i.label for r, i in ROLES.items()} == {
        "platform_admin": "平台管理员",
        "office_admin": "办公室管理员",
        "office_leader": "办公室负责人",
        "inspector": "督察员",
        "team_leader": "督察组组长",
        "agency_liaison": "单位联络员",
        "agency_leader": "单位负责人",
        "discipline_liaison": "纪委监委联络员",
        "judicial_liaison": "政法联络员（法院/检察院/司法局）",
        "committee_member": "委员会成员",
        "overseer": "只读监督（省司法厅）",
    }
    assert all(i.description for i in ROLES.values())
    assert "inspector" in ROLES  # plain strings from the database look roles up directly


def test_agency_bound_roles_are_flagged():
    assert AGENCY_BOUND_ROLES == {
        Role.AGENCY_LIAISON,
        Role.AGENCY_LEADER,
        Role.DISCIPLINE_LIAISON,
        Role.JUDICIAL_LIAISON,
    }
    assert {r for r, i in ROLES.items() if i.agency_bound} == AGENCY_BOUND_ROLES


def test_resource_and_action_vocabulary():
    assert len(RESOURCES) == len(set(RESOURCES)) == 24
    assert {"region", "plan", "problem", "rectification", "clue", "escalation", "audit"} <= set(
        RESOURCES
    )
    assert ACTIONS == (
        "read", "create", "update", "submit", "approve", "decide",
        "sign", "grant", "transfer", "receive", "feedback", "export",
    )


def test_rules_stay_few_and_generic_with_every_role_documented():
    lines = Path(RULES_PATH).read_text(encoding="utf-8").splitlines()
    assert len(lines) < 100
    rules = authz.load_rules()
    assert 10 <= len(rules) <= 70
    assert {role for role, _, _ in rules} == {r.value for r in Role}
    comments = "\n".join(line for line in lines if line.startswith("#"))
    for role in Role:
        assert f"# {role.value} " in comments, f"{role} has no comment line in rules.csv"


def test_rules_with_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown resource"):
        Authorizer([("inspector", "plans", "read")])
    with pytest.raises(ValueError, match="unknown action"):
        Authorizer([("inspector", "plan", "view")])
    with pytest.raises(ValueError, match="unknown role"):
        Authorizer([("auditor", "plan", "read")])


# --- reach: down the region tree, never up, never sideways -------------------------------------


@pytest.mark.parametrize(
    ("domain", "reached"),
    [
        (XIANNING, True),
        (JIAYU, True),
        (JIAYU_TOWN, True),
        (SHIYAN, False),  # sideways
        (YUNXI, False),  # sideways, below a sibling
        (PROVINCE, False),  # up
    ],
)
def test_role_granted_at_xianning_reaches_its_subtree_only(authorizer, domain, reached):
    grants = [grant("inspector", XIANNING)]
    assert authorizer.decide(grants, domain, "problem", "create") is reached
    assert authorizer.allowed(principal(*grants, user_id=101), "create", "problem", domain) is reached
    casbin = casbin_enforcer(assignments=assignments_for(101, grants))
    assert casbin.enforce(subject(101), domain, "problem", "create") is reached


def test_path_prefix_is_not_an_ancestor(authorizer):
    trap = [grant("office_admin", "420000/42120")]
    assert not domain_matches("420000/421200", "420000/42120")
    assert not authorizer.decide(trap, "420000/421200", "plan", "read")
    assert not authorizer.decide(trap, "420000/421200/421221", "plan", "read")
    assert authorizer.decide(trap, "420000/42120/1", "plan", "read")
    casbin = casbin_enforcer(assignments=assignments_for(7, trap))
    assert not casbin.enforce(subject(7), "420000/421200", "plan", "read")


def test_province_grant_reaches_every_city(authorizer):
    admin = principal(grant("platform_admin", PROVINCE), user_id=102)
    for domain in (PROVINCE, XIANNING, SHIYAN, JIAYU_TOWN):
        authorizer.authorize(admin, "update", "calendar", domain)


# --- what roles may do ------------------------------------------------------------------------


def test_overseer_reads_and_exports_but_changes_nothing(authorizer):
    overseer = [grant("overseer", PROVINCE)]
    for obj in RESOURCES:
        assert authorizer.decide(overseer, JIAYU, obj, "read")
        assert authorizer.decide(overseer, JIAYU, obj, "export")
        for act in set(ACTIONS) - {"read", "export"}:
            assert not authorizer.decide(overseer, JIAYU, obj, act), (obj, act)


def test_only_platform_and_office_admins_grant_roles(authorizer):
    assert authorizer.roles_with("role", "grant") == {"platform_admin", "office_admin"}
    for obj in RESOURCES:
        assert authorizer.roles_with(obj, "grant") <= {"platform_admin", "office_admin"}
    liaison = principal(grant("agency_liaison", JIAYU, agency_id=5), user_id=103)
    with pytest.raises(NotAllowed):
        authorizer.authorize(liaison, "grant", "role")


def test_office_admin_prepares_and_office_leader_approves(authorizer):
    admin = [grant("office_admin", XIANNING)]
    leader = [grant("office_leader", XIANNING)]
    assert authorizer.decide(admin, JIAYU, "plan", "create")
    assert not authorizer.decide(admin, JIAYU, "plan", "approve")
    assert authorizer.decide(leader, JIAYU, "plan", "approve")
    assert not authorizer.decide(leader, JIAYU, "plan", "create")
    assert authorizer.decide(leader, JIAYU, "escalation", "decide")
    assert authorizer.decide(leader, JIAYU, "acceptance", "sign")


def test_team_leader_is_an_inspector_who_also_approves_and_signs(authorizer):
    inspector = authorizer.permissions("inspector")
    team_leader = authorizer.permissions("team_leader")
    assert inspector < team_leader
    assert {("team", "approve"), ("acceptance", "sign"), ("report", "submit")} <= team_leader
    assert ("acceptance", "sign") not in inspector


def test_agency_leader_is_a_liaison_who_also_approves_rectification(authorizer):
    liaison = authorizer.permissions("agency_liaison")
    leader = authorizer.permissions("agency_leader")
    assert liaison < leader
    assert {("inspection", "submit"), ("rectification", "submit"), ("clue", "feedback")} <= liaison
    assert ("rectification", "approve") in leader - liaison
    assert ("acceptance", "sign") in leader - liaison


def test_clue_liaisons(authorizer):
    discipline = authorizer.permissions("discipline_liaison")
    judicial = authorizer.permissions("judicial_liaison")
    assert {("clue", a) for a in ("read", "create", "transfer", "receive", "feedback")} <= discipline
    assert {("clue", a) for a in ("read", "create", "transfer", "feedback")} <= judicial
    for perms in (discipline, judicial):
        assert not {act for obj, act in perms} & {"approve", "decide", "sign", "grant"}


def test_not_allowed_says_what_where_and_defaults_to_the_principals_region(authorizer):
    inspector = principal(grant("inspector", JIAYU), user_id=104, region=JIAYU)
    authorizer.authorize(inspector, "create", "problem")  # in its own region: fine
    with pytest.raises(NotAllowed) as info:
        authorizer.authorize(inspector, "approve", "report")
    err = info.value
    assert (err.action, err.resource, err.domain) == ("approve", "report", JIAYU)
    assert "approve report" in str(err) and JIAYU in str(err) and "inspector" in str(err)
    with pytest.raises(NotAllowed) as info:
        authorizer.authorize(inspector, "create", "problem", XIANNING)  # up: no
    assert info.value.domain == XIANNING


def test_unknown_resource_or_action_is_a_bug_not_a_no(authorizer):
    with pytest.raises(UnknownPermission):
        authorizer.decide([grant("platform_admin", PROVINCE)], PROVINCE, "plans", "read")
    with pytest.raises(UnknownPermission):
        authorizer.allowed(principal(grant("overseer", PROVINCE)), "view", "plan")


def test_module_entry_points_use_one_default_authorizer():
    assert authz.get_authorizer() is authz.get_authorizer()
    admin = principal(grant("office_admin", XIANNING), user_id=105)
    authz.authorize(admin, "grant", "role", JIAYU)
    assert not authz.allowed(admin, "grant", "role", PROVINCE)


# --- the fast path agrees with Casbin ---------------------------------------------------------

# Small code alphabets make ancestors, siblings and prefix traps ("4212" vs "421200") common.
SEGMENTS = st.sampled_from(["420000", "42", "421200", "4212", "421221", "420300", "1"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join)
GRANTS = st.lists(
    st.builds(grant, st.sampled_from([r.value for r in Role]), PATHS), min_size=0, max_size=4
)
REQUESTS = st.lists(
    st.tuples(PATHS, st.sampled_from(RESOURCES), st.sampled_from(ACTIONS)), min_size=1, max_size=15
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=st.lists(GRANTS, min_size=1, max_size=3), requests=REQUESTS)
def test_fast_path_agrees_with_casbin(users, requests):
    fast = Authorizer()
    links = [link for uid, grants in enumerate(users) for link in assignments_for(uid, grants)]
    casbin = casbin_enforcer(assignments=links)
    for uid, grants in enumerate(users):
        p = principal(*grants, user_id=uid)
        for domain, obj, act in requests:
            expected = casbin.enforce(subject(uid), domain, obj, act)
            assert fast.decide(grants, domain, obj, act) is expected, (grants, domain, obj, act)
            assert fast.allowed(p, act, obj, domain) is expected
            assert fast.allowed(p, act, obj, domain) is expected  # from the cache


def test_fast_path_agrees_with_casbin_on_every_role_and_permission(authorizer):
    grants = [grant(r.value, XIANNING) for r in Role]
    for i, g in enumerate(grants):
        casbin = casbin_enforcer(assignments=assignments_for(i, [g]))
        for obj in RESOURCES:
            for act in ACTIONS:
                for domain in (JIAYU, SHIYAN):
                    assert authorizer.decide([g], domain, obj, act) is casbin.enforce(
                        subject(i), domain, obj, act
                    ), (g.role, domain, obj, act)


# --- caching and invalidation -------------------------------------------------------------------


def test_invalidate_user_makes_a_changed_grant_set_visible():
    a = Authorizer()
    before = principal(grant("inspector", XIANNING), user_id=7, version=3)
    assert a.allowed(before, "create", "problem", JIAYU)
    # The grant is revoked, but this caller still presents the old grants_version (e.g. a
    # principal cached elsewhere): the cache answers until told otherwise...
    revoked = principal(user_id=7, version=3, region=XIANNING)
    assert a.allowed(revoked, "create", "problem", JIAYU)
    # ...and never after.
    a.invalidate_user(7)
    assert not a.allowed(revoked, "create", "problem", JIAYU)
    assert not a.allowed(revoked, "create", "problem", XIANNING)  # index recompiled too


def test_invalidate_user_leaves_other_users_cached_and_invalidate_all_drops_everything():
    a = Authorizer()
    one = principal(grant("inspector", XIANNING), user_id=1)
    two = principal(grant("inspector", XIANNING), user_id=2)
    a.allowed(one, "read", "plan", JIAYU)
    a.allowed(two, "read", "plan", JIAYU)
    a.invalidate_user(1)
    assert a.cache.get_decision((2, 1, JIAYU, "plan", "read")) is True
    assert a.cache.get_decision((1, 1, JIAYU, "plan", "read")) is None
    a.invalidate_all()
    assert a.cache.get_decision((2, 1, JIAYU, "plan", "read")) is None
    assert len(a.cache) == 0


def test_a_new_grants_version_needs_no_invalidation():
    a = Authorizer()
    assert not a.allowed(principal(grant("inspector", JIAYU), user_id=8, version=1), "read", "plan", SHIYAN)
    assert a.allowed(principal(grant("inspector", SHIYAN), user_id=8, version=2), "read", "plan", SHIYAN)


def test_a_decision_computed_across_an_invalidation_is_never_served():
    """Generation check: the invalidation lands while the decision is being computed."""
    compiled = []

    class Racing(Authorizer):
        def compile(self, grants):
            compiled.append(grants)
            if len(compiled) == 1:
                self.invalidate_user(9)  # e.g. the watcher, on another thread
            return super().compile(grants)

    a = Racing()
    p = principal(grant("inspector", XIANNING), user_id=9)
    assert a.allowed(p, "create", "problem", JIAYU)
    assert a.cache.get_decision((9, 1, JIAYU, "problem", "create")) is None  # not cached
    assert a.allowed(p, "create", "problem", JIAYU)
    assert len(compiled) == 2  # recomputed, then cached
    assert a.allowed(p, "create", "problem", JIAYU)
    assert len(compiled) == 2


def test_a_stale_entry_is_never_served_after_invalidation():
    cache = DecisionCache(maxsize=10)
    key = (5, 1, JIAYU, "plan", "read")
    gen = cache.generation  # a computation starts
    cache.invalidate_user(5)  # the invalidation arrives before it stores its answer
    cache.put_decision(key, True, gen)
    assert cache.get_decision(key) is None
    cache.put_decision(key, True, cache.generation)
    assert cache.get_decision(key) is True
    cache.invalidate_user(5)
    assert cache.get_decision(key) is None
    cache.put_decision(key, True, cache.generation)
    gen_before_all = cache.generation
    cache.invalidate_all()
    assert cache.get_decision(key) is None
    cache.put_decision(key, False, gen_before_all)
    assert cache.get_decision(key) is None


def test_cache_is_bounded():
    a = Authorizer(cache=DecisionCache(maxsize=50, index_maxsize=5))
    for uid in range(20):
        p = principal(grant("inspector", XIANNING), user_id=uid)
        for obj in RESOURCES:
            a.allowed(p, "read", obj, JIAYU)
    stats = a.cache.stats()
    assert stats["decisions"] == 50 and stats["indexes"] == 5


def test_an_untrusted_cache_caches_nothing_and_listeners_hear_invalidations():
    a = Authorizer()
    heard = []
    a.cache.add_listener(heard.append)
    p = principal(grant("inspector", XIANNING), user_id=11)
    a.cache.mark_untrusted()
    assert not a.cache.trusted
    assert a.allowed(p, "create", "problem", JIAYU)
    assert len(a.cache) == 0
    a.cache.mark_trusted()
    assert a.allowed(p, "create", "problem", JIAYU)
    assert len(a.cache) == 1
    a.invalidate_user(11)
    assert heard == [None, None, 11]
