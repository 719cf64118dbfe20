"""Run the Alembic migrations; the only way the schema is made (tests too)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from ducha.db import owner_url


def alembic_config(url: URL | None = None) -> Config:
    cfg = Config(str(files("ducha") / "alembic.ini"))
    cfg.set_main_option("script_location", str(files("ducha") / "migrations"))
    cfg.attributes["url"] = url or owner_url()
    return cfg


def upgrade(url: URL | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: URL | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
