"""Granting and revoking roles: admins only, inside their own subtree; the user is told."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

GRANT = """mutation($l: String!, $r: RoleName!, $c: String!) {
  grantRole(input: {login: $l, role: $r, regionCode: $c}) {
    __typename
    ... on RoleGrantChanged { login grant { role regionCode label } }
    ... on UserError { code message }
  }
}"""
REVOKE = GRANT.replace("grantRole", "revokeRole")


async def _grants(db, login):
    async with db.system_session() as s:
        return sorted(
            tuple(r) for r in await s.execute(
                text("SELECT ra.role, ra.region_code FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
                     " WHERE u.login = :l"), {"l": login})
        )


async def test_office_admin_grants_and_revokes_inside_its_county(gql, db):
    before = await _grants(db, "jiayu.court")
    d = await gql.data("jiayu.office", GRANT, {"l": "jiayu.court", "r": "AGENCY_LIAISON", "c": "421221"})
    assert d["grantRole"] == {"__typename": "RoleGrantChanged", "login": "jiayu.court",
                              "grant": {"role": "AGENCY_LIAISON", "regionCode": "421221", "label": "单位联络员"}}
    assert await _grants(db, "jiayu.court") == sorted([*before, ("agency_liaison", "421221")])
    me = await gql.data("jiayu.court", "{ me { roles { role } } }")
    assert {"role": "AGENCY_LIAISON"} in me["me"]["roles"]  # seen at once by the same process
    d = await gql.data("jiayu.office", REVOKE, {"l": "jiayu.court", "r": "AGENCY_LIAISON", "c": "421221"})
    assert d["revokeRole"]["__typename"] == "RoleGrantChanged"
    assert await _grants(db, "jiayu.court") == before
    me = await gql.data("jiayu.court", "{ me { roles { role } } }")
    assert {"role": "AGENCY_LIAISON"} not in me["me"]["roles"]


async def test_city_admin_reaches_its_counties(gql, db):
    d = await gql.data("xianning.office", GRANT, {"l": "jiayu.inspector", "r": "COMMITTEE_MEMBER", "c": "421221"})
    assert d["grantRole"]["__typename"] == "RoleGrantChanged"
    d = await gql.data("xianning.office", REVOKE, {"l": "jiayu.inspector", "r": "COMMITTEE_MEMBER", "c": "421221"})
    assert d["revokeRole"]["__typename"] == "RoleGrantChanged"


@pytest.mark.parametrize(
    ("login", "target", "role", "region", "expected"),
    [
        ("jiayu.office", "yunxi.justice", "INSPECTOR", "420322", "NotFound"),  # peer's user is invisible
        ("jiayu.office", "jiayu.court", "INSPECTOR", "420322", "NotFound"),  # peer's region is invisible
        ("jiayu.office", "jiayu.court", "INSPECTOR", "421200", "NotFound"),  # up the tree is invisible
        ("jiayu.office", "jiayu.court", "PLATFORM_ADMIN", "421221", "NotAllowed"),  # no escalation
        ("jiayu.leader", "jiayu.court", "INSPECTOR", "421221", "NotAllowed"),  # leaders do not grant
        ("jiayu.inspector", "jiayu.court", "INSPECTOR", "421221", "NotAllowed"),
        ("jiayu.court", "jiayu.court", "OFFICE_ADMIN", "421221", "NotAllowed"),  # no self-promotion
        ("hubei.justice", "jiayu.court", "INSPECTOR", "421221", "NotAllowed"),  # read-only overseer
        ("shiyan.office", "jiayu.court", "INSPECTOR", "421221", "NotFound"),  # other city
        ("jiayu.office", "nobody", "INSPECTOR", "421221", "NotFound"),
        ("jiayu.office", "jiayu.court", "INSPECTOR", "999999", "NotFound"),
        ("jiayu.office", "jiayu.office", "OFFICE_ADMIN", "421221", "Conflict"),  # held already
        ("jiayu.office", "jiayu.xinjie", "AGENCY_LIAISON", "421221100", "ValidationError"),  # not its agency's town
    ],
)
async def test_grant_refusals_are_typed_and_change_nothing(gql, db, login, target, role, region, expected):
    before = await _grants(db, target)
    async with db.system_session() as s:
        outbox_before = (await s.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    d = await gql.data(login, GRANT, {"l": target, "r": role, "c": region})
    assert d["grantRole"]["__typename"] == expected, d
    assert await _grants(db, target) == before
    async with db.system_session() as s:
        assert (await s.execute(text("SELECT count(*) FROM outbox"))).scalar_one() == outbox_before


async def test_platform_admin_may_grant_platform_admin(gql):
    d = await gql.data("hubei.office", GRANT, {"l": "hubei.justice", "r": "PLATFORM_ADMIN", "c": "420000"})
    assert d["grantRole"]["__typename"] == "RoleGrantChanged"
    d = await gql.data("hubei.office", REVOKE, {"l": "hubei.justice", "r": "PLATFORM_ADMIN", "c": "420000"})
    assert d["revokeRole"]["__typename"] == "RoleGrantChanged"


async def test_a_grant_reaches_another_process_within_two_seconds(gql, app, settings):
    """A second API process (its own authorizer, identity cache and watcher) sees the grant fast."""
    import subprocess
    import sys
    import time

    code = f"""
import asyncio, os, time, json
os.environ['DATABASE_URL'] = {settings.database_url!r}
os.environ['REDIS_URL'] = {settings.redis_url!r}
import httpx
from ducha.graphql.app import create_app
from ducha.tenants.auth import issue_dev_token
async def main():
    app = create_app()
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://t') as c:
            h = {{'Authorization': 'Bearer ' + issue_dev_token('jiayu.discipline')}}
            q = {{'query': '{{ me {{ roles {{ role }} }} }}'}}
            r = (await c.post('/graphql', json=q, headers=h)).json()
            print('READY', json.dumps(r), flush=True)
            deadline = time.time() + 20
            while time.time() < deadline:
                r = (await c.post('/graphql', json=q, headers=h)).json()
                if {{'role': 'INSPECTOR'}} in r['data']['me']['roles']:
                    print('SEEN', time.time(), flush=True)
                    return
                await asyncio.sleep(0.05)
            print('TIMEOUT', flush=True)
asyncio.run(main())
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.startswith("READY"), line
        t0 = time.time()
        d = await gql.data("jiayu.office", GRANT, {"l": "jiayu.discipline", "r": "INSPECTOR", "c": "421221"})
        assert d["grantRole"]["__typename"] == "RoleGrantChanged"
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.startswith("SEEN"), line
        assert float(line.split()[1]) - t0 < 2.0
    finally:
        proc.kill()
        await gql.data("jiayu.office", REVOKE, {"l": "jiayu.discipline", "r": "INSPECTOR", "c": "421221"})
