"""Breaking changes of the committed SDL against another revision (graphql-core's
find_breaking_changes), so the front end is never broken by surprise."""

from __future__ import annotations

import subprocess
from pathlib import Path

from graphql import build_schema, find_breaking_changes


def breaking(old_sdl: str, new_sdl: str) -> list[str]:
    return [f"{c.type.name}: {c.description}" for c in find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))]


def check_against(ref: str, root: Path, new_sdl: str) -> tuple[int, str]:
    """(exit code, report). Changes listed in graphql/breaking-allowed.txt are accepted on purpose."""
    try:
        old = subprocess.run(["git", "show", f"{ref}:graphql/schema.graphql"], cwd=root, capture_output=True,
                             text=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        return 0, f"no SDL at {ref} to compare with ({getattr(e, 'stderr', e)!s}".strip() + "); nothing to check"
    allowed_file = root / "graphql" / "breaking-allowed.txt"
    allowed = {ln.strip() for ln in allowed_file.read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.startswith("#")} if allowed_file.exists() else set()
    found = breaking(old, new_sdl)
    unexpected = [c for c in found if c not in allowed]
    if not unexpected:
        return 0, f"no breaking change against {ref}" + (f" ({len(found)} allowed)" if found else "")
    return 1, "breaking changes against " + ref + ":\n" + "\n".join(f"  {c}" for c in unexpected) + (
        "\nlist them in graphql/breaking-allowed.txt if they are intended")
