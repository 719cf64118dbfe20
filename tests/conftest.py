"""Test fixtures: a fresh database made by the migrations on a real PostgreSQL, a real Redis,
the demo province, and the ASGI app driven in-process over HTTP semantics."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

os.environ.setdefault("ENV", "test")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

_EMBEDDED: list[Any] = []


def _base_urls() -> tuple[str, str]:
    """The servers under test: DATABASE_URL/REDIS_URL, or the embedded ones when unset."""
    db = os.environ.get("DATABASE_URL")
    rd = os.environ.get("REDIS_URL")
    if db and rd:
        return db, rd
    from pathlib import Path

    from ducha import embedded

    data = Path(os.environ.get("DUCHA_TEST_DATA", "var/test"))
    if not db:
        db, pg = embedded.start_postgres(data, database="postgres")
        _EMBEDDED.append(pg)
    if not rd:
        rd, r = embedded.start_redis(data)
        _EMBEDDED.append(r)
    return db, rd


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this run on the configured server; dropped at the end."""
    base, redis_url = _base_urls()
    os.environ["REDIS_URL"] = redis_url
    name = f"ducha_test_{uuid.uuid4().hex[:8]}"
    admin = make_url(base).set(drivername="postgresql+asyncpg")

    async def create() -> None:
        eng = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with eng.connect() as c:
            await c.execute(text(f'CREATE DATABASE "{name}"'))
        await eng.dispose()

    async def drop() -> None:
        eng = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with eng.connect() as c:
            await c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await eng.dispose()

    asyncio.run(create())
    url = admin.set(database=name).render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url
    from ducha.settings import get_settings

    get_settings.cache_clear()
    from ducha.migrate import upgrade

    upgrade(make_url(url))
    yield url
    get_settings.cache_clear()
    asyncio.run(drop())


@pytest.fixture(scope="session")
def settings(database_url: str) -> Any:
    from ducha.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
async def db(settings: Any) -> AsyncIterator[Any]:
    from ducha.db import Database

    d = Database.from_settings(settings)
    yield d
    await d.dispose()


@pytest.fixture(scope="session")
async def demo(db: Any) -> bool:
    from ducha.tenants.demo import seed_demo

    async with db.system_session() as s:
        await seed_demo(s)
    return True


@pytest.fixture(scope="session")
async def app(settings: Any, demo: bool) -> AsyncIterator[Any]:
    from ducha.graphql.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def token(login: str, **kw: Any) -> str:
    from ducha.tenants.auth import issue_dev_token

    return issue_dev_token(login, **kw)


class GQL:
    """POST a GraphQL operation as a demo user; returns the decoded JSON body."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, login: str, query: str, variables: dict[str, Any] | None = None,
                      *, status: int = 200) -> dict[str, Any]:
        r = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token(login)}"},
        )
        assert r.status_code == status, r.text
        return r.json()

    async def data(self, login: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(login, query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture(scope="session")
def gql(client: httpx.AsyncClient) -> GQL:
    return GQL(client)


@pytest.fixture(scope="module")
def worker(settings: Any) -> Iterator[Any]:
    """A real Dramatiq worker on the real Redis broker, in this process (its queues emptied
    first); yields the outbox actor."""
    import dramatiq

    from ducha.workers.actors import run_outbox
    from ducha.workers.broker import get_broker

    broker = get_broker()
    broker.flush_all()
    w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    w.start()
    yield run_outbox
    w.stop()
