"""The SDL is a contract with the front end: breaking changes are caught; operations are allow-listed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ducha.graphql import persisted
from ducha.graphql.breaking import breaking, check_against

ROOT = Path(__file__).resolve().parent.parent


def test_breaking_changes_are_found():
    old = "type Query { a: Int, b(x: Int): String } enum E { X Y }"
    assert breaking(old, old) == []
    assert breaking(old, "type Query { a: Int } enum E { X Y }") == ["FIELD_REMOVED: Field Query.b was removed."]
    assert breaking(old, "type Query { a: String, b(x: Int): String } enum E { X Y }")
    assert breaking(old, "type Query { a: Int, b(x: Int!): String } enum E { X Y }")
    assert breaking(old, "type Query { a: Int, b(x: Int): String } enum E { X }")
    # additions are not breaking
    assert breaking(old, "type Query { a: Int, b(x: Int, y: Int): String, c: Int } enum E { X Y Z }") == []


def test_the_committed_sdl_has_no_breaking_change_against_head():
    from ducha.graphql.schema import sdl

    code, report = check_against("HEAD", ROOT, sdl())
    assert code == 0, report


def test_the_manifest_holds_every_operation_document():
    docs = sorted((ROOT / "graphql" / "operations").glob("*.graphql"))
    m = persisted.manifest()
    assert len(m) == len(docs) >= 10
    for d in docs:
        assert persisted.sha256(d.read_text(encoding="utf-8")) in m


def test_cli_prints_breaking_check():
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "ducha"), "schema", "--breaking-against", "HEAD"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_every_custom_scalar_has_a_typescript_type_in_codegen():
    """graphql-codegen runs with strictScalars: a scalar missing from codegen.ts fails the front end's build."""
    import re

    from ducha.graphql.schema import sdl

    declared = set(re.findall(r"^scalar (\w+)", sdl(), flags=re.M))
    config = (ROOT / "infra" / "codegen" / "codegen.ts").read_text(encoding="utf-8")
    block = re.search(r"scalars:\s*\{([^}]*)\}", config)
    assert block, "codegen.ts has no scalars map"
    mapped = set(re.findall(r"(\w+)\s*:", block.group(1)))
    assert declared - mapped == set(), f"add these scalars to infra/codegen/codegen.ts: {sorted(declared - mapped)}"
