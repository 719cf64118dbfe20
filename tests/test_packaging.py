"""A regular install (`pip install .`, as infra/Dockerfile does) carries every module: a wheel
holds only the packages pyproject.toml lists, whatever an editable install finds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _missing() -> list[str]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    need = set()
    for package, folder in cfg["package-dir"].items():
        base = ROOT / folder
        for source in base.rglob("*.py"):
            if "__pycache__" in source.parts:
                continue
            rel = source.parent.relative_to(base)
            need.add(".".join([package, *rel.parts]))
    return sorted(need - set(cfg["packages"]))


def test_every_folder_with_modules_is_a_listed_package():
    assert _missing() == []
