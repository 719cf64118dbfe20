"""Persisted operations: the documents in graphql/operations/ are the allow-list; in
production only they run, by their SHA-256 (Apollo's persistedQuery extension) or by text."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def manifest() -> dict[str, str]:
    """{sha256: document} for every operation document shipped with the API."""
    out: dict[str, str] = {}
    folder = files("ducha.graphql") / "operations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".graphql"):
            doc = entry.read_text(encoding="utf-8")
            out[sha256(doc)] = doc
    return out


def names() -> dict[str, str]:
    """{file name: sha256}, for the front end's build."""
    folder = files("ducha.graphql") / "operations"
    return {e.name: sha256(e.read_text(encoding="utf-8")) for e in sorted(folder.iterdir(), key=lambda e: e.name)
            if e.name.endswith(".graphql")}
