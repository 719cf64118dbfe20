"""A request leaves no cyclic garbage: what it built (the executor, the dataloaders and their
caches, resolve infos, rows, the session) is freed by reference counting when it ends. The
API's lifespan raises the collector's generation-0 threshold on that assumption
(graphql/app.py); a reference cycle that creeps back in (a loader closure that keeps the
context, an executor's bound methods) would hand every request's objects to the collector
again, which under the load mix cost about a seventh of the API's CPU.

Each request of the load mix, the edge requests of tests/test_lean.py and the refusals the
view answers is sent through the ASGI app with the collector off, on the full path and on
the lean path; the collector, saving what it finds, must then find nothing of theirs."""

from __future__ import annotations

import asyncio
import gc
import json
from collections import Counter
from typing import Any

from ducha.bench.load import asgi_post
from ducha.graphql import lean
from tests.conftest import token
from tests.test_executor import _mix, scenario  # noqa: F401 - fixture
from tests.test_lean import EDGE

# Objects a request builds; none of them may be left for the collector.
REQUEST_TYPES = {
    "Context", "DataLoader", "FastExecutionContext", "Info", "Session", "AsyncSession", "Connection",
    "AsyncConnection", "Request", "Future", "Task", "Record", "FieldDetails", "CollectedFields",
}


async def _call(app: Any, login: str, body: bytes) -> tuple[int, bytes]:
    """One POST /graphql straight through the ASGI app (no HTTP client whose own objects
    would be counted)."""
    return await asgi_post(app, body, token(login))


async def test_requests_leave_no_cyclic_garbage(app, gql, scenario):  # noqa: F811
    requests = [(login, json.dumps({"query": doc, "variables": variables}).encode())
                for login, doc, variables in await _mix(gql)]
    requests += [(login, json.dumps(body).encode()) for login, body in EDGE]
    requests += [("jiayu.office", json.dumps({"query": "{ me { nosuchfield } }"}).encode()),  # validation error
                 ("jiayu.office", b"{not json")]
    statuses = Counter()
    for on in (False, True):
        lean.ENABLED = on
        try:
            for login, body in requests:  # warm: identities, statement caches, remembered documents
                await _call(app, login, body)
            gc.collect()
            gc.disable()
            try:
                for login, body in requests:
                    status, _ = await _call(app, login, body)
                    statuses[status] += 1
                await asyncio.sleep(0.05)  # let callbacks the requests scheduled run
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                found = Counter(type(o).__name__ for o in gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        finally:
            lean.ENABLED = True
        left = {k: n for k, n in found.items() if k in REQUEST_TYPES}
        assert not left, (f"lean {'on' if on else 'off'}: {len(requests)} requests left cyclic garbage "
                          f"{found.most_common(12)}")
    assert statuses[200] >= len(requests) and statuses[400] == 2, statuses
