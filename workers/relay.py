"""The outbox relay: sends unsent rows to Dramatiq and re-sends what Redis may have lost."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text

from ducha.db import Database

log = logging.getLogger(__name__)

# A row sent this long ago and still not done is sent again (Redis flushed, worker killed
# before acking, message dropped): idempotent handlers make the copy harmless. Each further
# copy waits twice as long (30 s, 60 s, 120 s, ... at most 32x): when the workers are merely
# slow, copies of copies would only lengthen the queue they are stuck in.
RESEND_AFTER_S = 30
RESEND_BACKOFF_MAX_DOUBLINGS = 5

_PICK = text(
    "SELECT tenant_id, id FROM outbox"
    " WHERE done_at IS NULL AND dead_at IS NULL"
    "   AND (sent_at IS NULL OR sent_at < now() - make_interval(secs => :resend"
    "        * power(2, least(greatest(send_count - 1, 0), :doublings))))"
    " ORDER BY created_at LIMIT :n FOR UPDATE SKIP LOCKED"
)
_MARK = text(
    "UPDATE outbox SET sent_at = now(), send_count = send_count + 1"
    " WHERE (tenant_id, id) IN (SELECT unnest(CAST(:t AS bigint[])), unnest(CAST(:i AS bigint[])))"
)


async def relay_once(db: Database, send: Callable[[int, int], None], *, batch: int = 500,
                     resend_after_s: float = RESEND_AFTER_S) -> int:
    """Send one batch; returns how many rows were sent. A send failure leaves rows unsent."""
    async with db.system_session() as s:
        rows = (await s.execute(_PICK, {"n": batch, "resend": resend_after_s,
                                        "doublings": RESEND_BACKOFF_MAX_DOUBLINGS})).all()
        if not rows:
            return 0
        for r in rows:
            send(r.tenant_id, r.id)
        await s.execute(_MARK, {"t": [r.tenant_id for r in rows], "i": [r.id for r in rows]})
    return len(rows)


def dramatiq_sender() -> Callable[[int, int], None]:
    from ducha.workers.actors import run_outbox

    def send(tenant_id: int, outbox_id: int) -> None:
        run_outbox.send(tenant_id, outbox_id)

    return send
