"""`import graphql` is graphql-core from every entry point, though graphql/ sits at the root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import graphql
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(args: list[str], **kw) -> str:
    env = {**os.environ, "PYTHONSAFEPATH": ""}
    env.pop("PYTHONSAFEPATH")
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, **kw)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _is_core(path: str) -> bool:
    return "site-packages" in path and not path.startswith(str(ROOT / "graphql"))


def test_pytest_sees_graphql_core():
    assert _is_core(graphql.__file__)
    assert not (ROOT / "graphql" / "__init__.py").exists(), "graphql/__init__.py would shadow graphql-core"


def test_python_c_from_the_root():
    out = _run([sys.executable, "-c", "import graphql, ducha.graphql.schema as s; print(graphql.__file__); print(s.__file__)"])
    core, ours = out.split()
    assert _is_core(core) and ours.startswith(str(ROOT / "graphql"))


def test_python_m_cli_from_the_root():
    out = _run([sys.executable, "-m", "ducha.cli", "schema"])
    assert "type Query" in out


def test_console_script_from_the_root():
    out = _run([str(BIN / "ducha"), "schema"])
    assert "type Query" in out


@pytest.mark.parametrize("module", ["ducha.workers.actors", "ducha.workers.scheduler", "ducha.graphql.app"])
def test_worker_and_scheduler_modules_with_the_root_on_the_path(module):
    # the dramatiq CLI inserts --path (default '.') at the front of sys.path before importing
    code = f"import sys; sys.path.insert(0, '.'); import {module}, graphql; print(graphql.__file__)"
    assert _is_core(_run([sys.executable, "-c", code]).strip())


def test_dramatiq_cli_imports_the_actors():
    out = _run([sys.executable, "-c", "import sys; sys.argv=['dramatiq','--help']; from dramatiq.cli import main; main()"])
    assert "usage" in out.lower()
    code = ("import sys, importlib; sys.path.insert(0, '.');"
            "from dramatiq.cli import import_broker; b, m = import_broker('ducha.workers.actors');"
            "import graphql; print(graphql.__file__)")
    assert _is_core(_run([sys.executable, "-c", code]).strip())


def test_alembic_from_the_root():
    out = _run([sys.executable, "-m", "alembic", "-c", "infra/alembic.ini", "heads"])
    assert "(head)" in out
    code = "import sys; sys.path.insert(0, '.'); import ducha.migrations.rls, ducha.migrate, graphql; print(graphql.__file__)"
    assert _is_core(_run([sys.executable, "-c", code]).strip())


def test_committed_sdl_matches_the_code():
    from ducha.graphql.schema import sdl

    committed = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(), "graphql/schema.graphql is stale: run `make schema` and commit it"


def test_every_benchmark_main_returns_an_exit_code():
    """`ducha bench NAME` exits with what the benchmark's main returns: an int, never its figures."""
    import importlib
    import inspect
    import pkgutil

    import ducha.bench

    names = [m.name for m in pkgutil.iter_modules(ducha.bench.__path__) if not m.name.startswith("_")]
    assert {"authz", "sweep", "chaos", "isolation", "load", "rollup", "list", "documents"} <= set(names)
    for name in names:
        main = importlib.import_module(f"ducha.bench.{name}").main
        assert inspect.signature(main).return_annotation in (int, "int"), name
