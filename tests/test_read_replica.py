"""READ_DATABASE_URL: roll-up reads go to the replica's read-only transaction under the same
row-level security; everything else stays on the primary. (Here the "replica" is a second
engine on the same database, which is what a streaming replica looks like to the API.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event

from ducha.db import app_url
from ducha.services.demo_scenario import seed_scenario
from tests.conftest import GQL
from tests.rollup_helpers import ITEMS, ROLLUP

YEAR = {"year": 2024}


@pytest.fixture
async def replica_app(settings: Any, demo: bool, db: Any):
    from ducha.graphql.app import create_app

    async with db.system_session() as s:
        await seed_scenario(s)
    url = app_url(settings).render_as_string(hide_password=False)
    app = create_app(settings.model_copy(update={"read_database_url": url}))
    seen: dict[str, list[str]] = {"read": [], "app": []}
    rt = app.state.runtime
    assert rt.db.read is not None
    for name, engine in (("read", rt.db.read), ("app", rt.db.app)):
        event.listen(engine.sync_engine, "before_cursor_execute",
                     lambda c, cur, stmt, *a, _n=name: seen[_n].append(stmt))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://replica") as client:
        yield GQL(client), seen


async def test_rollups_read_from_the_replica_and_agree_with_the_primary(replica_app, gql):
    rgql, seen = replica_app
    via_replica = await rgql.data("xianning.office", ROLLUP, {"r": "421200", "p": YEAR})
    assert any("rollup" in s for s in seen["read"]), seen["read"]
    assert any(s.startswith("SET TRANSACTION READ ONLY") for s in seen["read"])
    assert not any("rollup" in s for s in seen["app"])  # the primary only set the scope
    assert via_replica == await gql.data("xianning.office", ROLLUP, {"r": "421200", "p": YEAR})
    fig = {"fig": "PROBLEMS", "r": "421221", "p": YEAR, "f": None, "a": None, "after": None}
    assert await rgql.data("jiayu.office", ITEMS, fig) == await gql.data("jiayu.office", ITEMS, fig)


async def test_the_replica_keeps_tenants_apart(replica_app):
    rgql, seen = replica_app
    d = await rgql.data("jiayu.office", ROLLUP, {"r": "420300", "p": YEAR})  # 十堰市: not 嘉鱼县's
    assert d["rollup"]["__typename"] != "Rollup"
    d = await rgql.data("yunxi.office", ROLLUP, {"r": "421221", "p": YEAR})
    assert d["rollup"]["__typename"] != "Rollup"


async def test_mutations_and_other_reads_stay_on_the_primary(replica_app):
    rgql, seen = replica_app
    seen["read"].clear()
    await rgql.data("jiayu.office", "{ me { login } problems(first: 5) { edges { node { id } } } }")
    assert seen["read"] == []
