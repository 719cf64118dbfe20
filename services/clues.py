"""Problem clues (问题线索, 000 task 2; 001 "畅通线索移送渠道"): intake, transfer, receipt (签收),
investigation, feedback (反馈), closure, and the link to a problem of an inspection.

Directions (DOMAIN.md): a court, procuratorate or justice bureau transfers to the office; the
office to the discipline commission; the discipline commission to the justice bureau, which
must feed back. Transfers stay inside the tenant (a county's court sends to that county's
office): the receivers are the tenant's own agencies of the right kind.

Deadlines, registered in the deadline registry so the escalation ladder watches them:
* transfer (001): an important clue within 5 working days of discovery; a routine clue in
  the monthly batch before the 10th (``calendar.routine_clue_deadline``). Not for a clue the
  office registers itself: the rule binds the units that find clues, toward the office.
* receipt: RECEIPT_WORKING_DAYS working days after the transfer.
* feedback, where required: FEEDBACK_WORKING_DAYS working days after the transfer (a late
  receipt earns no extra time).

States: registered → transferred → received → investigating → answered → closed; a received
or investigating clue may be transferred on (office → discipline commission).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.authz import NotAllowed, authorize
from ducha.services import calendar_store, deadlines, inbox
from ducha.services.calendar import important_clue_deadline
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, TransitionError
from ducha.tenants.principal import Principal

SOURCES: dict[str, str] = {
    "media": "媒体报道",
    "petition": "信访",
    "enforcement_supervision": "执法监督",
    "hotline_12345": "12345热线",
    "reconsideration": "行政复议",
    "litigation": "行政诉讼",
    "judicial_suggestion": "司法建议",
    "procuratorial_suggestion": "检察建议",
    "inspection_tour": "巡察发现",
}
IMPORTANCE: dict[str, str] = {"important": "重要线索", "routine": "一般线索"}
STATES = ("registered", "transferred", "received", "investigating", "answered", "closed")
# (sender kind, receiver kind) -> direction
DIRECTIONS: dict[tuple[str, str], str] = {
    ("court", "office"): "to_office",
    ("procuratorate", "office"): "to_office",
    ("justice", "office"): "to_office",
    ("office", "discipline"): "to_discipline",
    ("discipline", "justice"): "to_justice",
}
FEEDBACK_REQUIRED = frozenset({"to_justice"})
RECEIVER_KINDS = frozenset(k for _, k in DIRECTIONS)
IMPORTANT_WORKING_DAYS = 5
RECEIPT_WORKING_DAYS = 3
FEEDBACK_WORKING_DAYS = 20
MAX_FILES = 50
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PROBLEM_TYPE = re.compile(r"^[a-z_]{1,40}$")
PROBLEM_TYPES = ("problem",)  # what a clue may become: a problem (问题) of an inspection


@dataclass(frozen=True)
class FileRef:
    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Clue:
    tenant_id: int
    id: int
    source: str
    importance: str
    discovered_on: date
    title: str
    content: str
    origin_agency_id: int
    holder_agency_id: int
    state: str
    hops: int
    problem_type: str | None
    problem_id: int | None
    created_by: int | None
    created_at: datetime
    closed_at: datetime | None
    closing_note: str | None


@dataclass(frozen=True)
class Transfer:
    tenant_id: int
    id: int
    clue_id: int
    seq: int
    direction: str
    sender_agency_id: int
    sender_name: str
    receiver_agency_id: int
    receiver_name: str
    feedback_required: bool
    note: str
    transferred_on: date
    transferred_at: datetime
    received_at: datetime | None
    investigation_started_at: datetime | None
    feedback: str | None
    feedback_at: datetime | None


@dataclass(frozen=True)
class AgencyRef:
    id: int
    tenant_id: int
    kind: str
    name: str
    region_path: str


CLUE_COLUMNS = ", ".join(Clue.__dataclass_fields__)
TRANSFER_COLUMNS = ", ".join(Transfer.__dataclass_fields__)


def _clue(r: Any) -> Clue:
    return Clue(**{k: getattr(r, k) for k in Clue.__dataclass_fields__})


def transfer_of(r: Any) -> Transfer:
    return Transfer(**{k: getattr(r, k) for k in Transfer.__dataclass_fields__})


def clue_of(r: Any) -> Clue:
    return _clue(r)


def acts_for(principal: Principal, agency_id: int) -> bool:
    """Whether the user acts for the agency: its own, or one an agency-bound role names."""
    return agency_id == principal.agency_id or any(g.agency_id == agency_id for g in principal.grants)


async def _agency(session: AsyncSession, agency_id: int) -> AgencyRef:
    row = (
        await session.execute(text("SELECT id, tenant_id, kind, name, region_path FROM agency WHERE id = :a"),
                              {"a": agency_id})
    ).first()
    if row is None:
        raise NotFoundError("Agency", str(agency_id))
    return AgencyRef(row.id, row.tenant_id, row.kind, row.name, row.region_path)


async def get(session: AsyncSession, clue_id: int, *, lock: bool = False) -> Clue:
    """A visible clue; with `lock`, locked for a change (RLS lets a read-only scope see, not lock)."""
    sql = f"SELECT {CLUE_COLUMNS} FROM clue WHERE id = :i"
    row = (await session.execute(text(sql), {"i": clue_id})).first()
    if row is None:
        raise NotFoundError("Clue", str(clue_id))
    if lock:
        row = (await session.execute(text(sql + " FOR UPDATE"), {"i": clue_id})).first()
        if row is None:
            raise NotAllowed("update", "clue", "a read-only scope")
    return _clue(row)


async def last_transfer(session: AsyncSession, clue: Clue) -> Transfer | None:
    row = (
        await session.execute(
            text(f"SELECT {TRANSFER_COLUMNS} FROM clue_transfer WHERE tenant_id = :t AND clue_id = :c"
                 " ORDER BY seq DESC LIMIT 1 FOR UPDATE"),
            {"t": clue.tenant_id, "c": clue.id},
        )
    ).first()
    return transfer_of(row) if row else None


def _check_files(files: Sequence[FileRef], path: str = "files") -> list[FileRef]:
    if len(files) > MAX_FILES:
        raise InvalidInput(path, f"at most {MAX_FILES} files per clue")
    seen: set[str] = set()
    out: list[FileRef] = []
    for i, f in enumerate(files):
        name = f.name.strip()
        sha = f.sha256.strip().lower()
        if not 1 <= len(name) <= 255 or "/" in name or "\\" in name:
            raise InvalidInput(f"{path}.{i}.name", "a file name has 1-255 characters and no path")
        if not _SHA256.match(sha):
            raise InvalidInput(f"{path}.{i}.sha256", "a SHA-256 is 64 hexadecimal digits")
        if not 0 <= f.size_bytes <= 10 * 1024**3:
            raise InvalidInput(f"{path}.{i}.sizeBytes", "size must be 0-10 GiB")
        if sha in seen:
            raise InvalidInput(f"{path}.{i}.sha256", "the same file is listed twice")
        seen.add(sha)
        out.append(FileRef(name, sha, f.size_bytes))
    return out


async def _store_files(session: AsyncSession, clue: Clue, files: list[FileRef], by: int) -> int:
    added = 0
    for f in files:
        r = await session.execute(
            text("INSERT INTO clue_file (tenant_id, clue_id, name, sha256, size_bytes, added_by)"
                 " VALUES (:t, :c, :n, :s, :b, :u) ON CONFLICT DO NOTHING"),
            {"t": clue.tenant_id, "c": clue.id, "n": f.name, "s": f.sha256, "b": f.size_bytes, "u": by},
        )
        added += r.rowcount  # type: ignore[attr-defined]
    return added


def _deny(principal: Principal, act: str, domain: str) -> NotAllowed:
    return NotAllowed(act, "clue", domain, user_id=principal.user_id, roles=principal.roles)


async def register(
    session: AsyncSession,
    principal: Principal,
    *,
    source: str,
    importance: str,
    discovered_on: date,
    title: str,
    content: str,
    files: Sequence[FileRef] = (),
    agency_id: int | None = None,
    today: date | None = None,
) -> Clue:
    """Record a clue found by the caller's agency; its transfer deadline starts running."""
    if not acts_for(principal, agency_id or principal.agency_id):
        raise _deny(principal, "create", "another agency")
    agency = await _agency(session, agency_id or principal.agency_id)
    authorize(principal, "create", "clue", agency.region_path)
    if source not in SOURCES:
        raise InvalidInput("source", f"unknown source {source!r}")
    if importance not in IMPORTANCE:
        raise InvalidInput("importance", f"unknown importance {importance!r}")
    today = today or calendar_store.today()
    if discovered_on > today:
        raise InvalidInput("discoveredOn", "the discovery date is in the future")
    if discovered_on.year < 2004:
        raise InvalidInput("discoveredOn", "the discovery date is before the stored calendar")
    title, content = title.strip(), content.strip()
    if not 1 <= len(title) <= 200:
        raise InvalidInput("title", "a title has 1-200 characters")
    if not 1 <= len(content) <= 20000:
        raise InvalidInput("content", "the content has 1-20000 characters")
    checked = _check_files(files)
    row = (
        await session.execute(
            text(f"INSERT INTO clue (tenant_id, source, importance, discovered_on, title, content, origin_agency_id,"
                 f" holder_agency_id, party_agency_ids, state, created_by)"
                 f" VALUES (:t, :src, :imp, :disc, :title, :content, :a, :a, ARRAY[CAST(:a AS bigint)],"
                 f" 'registered', :u) RETURNING {CLUE_COLUMNS}"),
            {"t": agency.tenant_id, "src": source, "imp": importance, "disc": discovered_on, "title": title,
             "content": content, "a": agency.id, "u": principal.user_id},
        )
    ).one()
    clue = _clue(row)
    await _store_files(session, clue, checked, principal.user_id)
    if agency.kind != "office":
        cal = await calendar_store.working_calendar(session)
        common = dict(tenant_id=clue.tenant_id, subject_type="clue.transfer", subject_id=clue.id,
                      agency_id=agency.id, agency_tenant_id=agency.tenant_id, title=f"线索移送：{title}",
                      by_user=principal.user_id)
        if importance == "important":
            due, provisional = important_clue_deadline(cal, discovered_on)
            await deadlines.track(session, due_on=due, provisional=provisional, rule="working_days",
                                  basis_on=discovered_on, rule_days=IMPORTANT_WORKING_DAYS, **common)
        else:
            due, provisional = deadlines.compute_due(cal, "routine_clue", discovered_on)
            await deadlines.track(session, due_on=due, provisional=provisional, rule="routine_clue",
                                  basis_on=discovered_on, **common)
    return clue


async def transfer_targets(directory: AsyncSession, holder: AgencyRef) -> list[AgencyRef]:
    """The agencies `holder` may transfer a clue to: its own tenant's agencies of the right kind.

    `directory` is a system session: a court liaison cannot read the office's directory row,
    yet must be able to address it.
    """
    kinds = sorted({r for (s, r) in DIRECTIONS if s == holder.kind})
    if not kinds:
        return []
    rows = (
        await directory.execute(
            text("SELECT id, tenant_id, kind, name, region_path FROM agency WHERE tenant_id = :t"
                 " AND kind = ANY(CAST(:k AS text[])) AND id <> :h ORDER BY id"),
            {"t": holder.tenant_id, "k": kinds, "h": holder.id},
        )
    ).all()
    return [AgencyRef(r.id, r.tenant_id, r.kind, r.name, r.region_path) for r in rows]


async def transfer(
    session: AsyncSession,
    principal: Principal,
    clue_id: int,
    *,
    receiver_agency_id: int,
    directory: AsyncSession,
    note: str = "",
    today: date | None = None,
) -> Clue:
    """Transfer the clue from its holder to a receiver of an allowed direction (移送)."""
    clue = await get(session, clue_id, lock=True)
    if not acts_for(principal, clue.holder_agency_id):
        raise _deny(principal, "transfer", "another agency's clue")
    holder = await _agency(session, clue.holder_agency_id)
    authorize(principal, "transfer", "clue", holder.region_path)
    if clue.state not in ("registered", "received", "investigating"):
        raise TransitionError(clue.state, "transfer")
    targets = {a.id: a for a in await transfer_targets(directory, holder)}
    receiver = targets.get(receiver_agency_id)
    if receiver is None:
        allowed = "、".join(a.name for a in targets.values()) or "none"
        raise InvalidInput("receiverAgencyId", f"a {holder.kind} may transfer clues to: {allowed}")
    direction = DIRECTIONS[(holder.kind, receiver.kind)]
    feedback = direction in FEEDBACK_REQUIRED
    today = today or calendar_store.today()
    seq = clue.hops + 1
    t = (
        await session.execute(
            text("INSERT INTO clue_transfer (tenant_id, clue_id, seq, direction, sender_agency_id, sender_name,"
                 " receiver_agency_id, receiver_name, feedback_required, note, transferred_on, transferred_by)"
                 " VALUES (:t, :c, :seq, :dir, :s, :sn, :r, :rn, :fb, :note, :on, :u) RETURNING id"),
            {"t": clue.tenant_id, "c": clue.id, "seq": seq, "dir": direction, "s": holder.id, "sn": holder.name,
             "r": receiver.id, "rn": receiver.name, "fb": feedback, "note": note.strip()[:2000], "on": today,
             "u": principal.user_id},
        )
    ).one()
    await session.execute(
        text("UPDATE clue SET state = 'transferred', holder_agency_id = :r, hops = :seq, updated_at = now(),"
             " party_agency_ids = CASE WHEN CAST(:r AS bigint) = ANY(party_agency_ids) THEN party_agency_ids"
             " ELSE party_agency_ids || CAST(:r AS bigint) END WHERE tenant_id = :t AND id = :c"),
        {"r": receiver.id, "seq": seq, "t": clue.tenant_id, "c": clue.id},
    )
    await deadlines.close(session, "clue.transfer", clue.id, clue.tenant_id, reason="transferred",
                          by_user=principal.user_id)
    cal = await calendar_store.working_calendar(session)
    common = dict(tenant_id=clue.tenant_id, subject_id=t.id, agency_id=receiver.id,
                  agency_tenant_id=receiver.tenant_id, requester_agency_id=holder.id, by_user=principal.user_id)
    await deadlines.track_working_days(session, cal, start=today, days=RECEIPT_WORKING_DAYS,
                                       subject_type="clue.receipt", title=f"线索签收：{clue.title}", **common)
    if feedback:
        await deadlines.track_working_days(session, cal, start=today, days=FEEDBACK_WORKING_DAYS,
                                           subject_type="clue.feedback", title=f"线索反馈：{clue.title}", **common)
    await inbox.notify(
        session, tenant_id=clue.tenant_id, agency_id=receiver.id, kind="clue.transferred",
        title=f"收到移送线索：{clue.title}（{holder.name}）", body=note.strip()[:1000],
        subject_type="clue", subject_id=clue.id, dedup_key=f"clue:{clue.id}:transfer:{seq}",
    )
    return await get(session, clue.id)


async def _as_receiver(session: AsyncSession, principal: Principal, clue_id: int, act: str) -> tuple[Clue, Transfer, AgencyRef]:
    clue = await get(session, clue_id, lock=True)
    hop = await last_transfer(session, clue)
    if hop is None or hop.receiver_agency_id != clue.holder_agency_id:
        raise TransitionError(clue.state, act, "the clue has not been transferred to its holder")
    if not acts_for(principal, clue.holder_agency_id):
        raise _deny(principal, act, "another agency's clue")
    holder = await _agency(session, clue.holder_agency_id)
    authorize(principal, act, "clue", holder.region_path)
    return clue, hop, holder


async def receive(session: AsyncSession, principal: Principal, clue_id: int) -> Clue:
    """The receiver signs for the clue (签收); the receipt deadline is met."""
    clue, hop, holder = await _as_receiver(session, principal, clue_id, "receive")
    if clue.state != "transferred":
        raise TransitionError(clue.state, "receive")
    await session.execute(
        text("UPDATE clue_transfer SET received_at = now(), received_by = :u WHERE tenant_id = :t AND id = :i"),
        {"u": principal.user_id, "t": hop.tenant_id, "i": hop.id},
    )
    await session.execute(text("UPDATE clue SET state = 'received', updated_at = now() WHERE tenant_id = :t AND id = :c"),
                          {"t": clue.tenant_id, "c": clue.id})
    await deadlines.close(session, "clue.receipt", hop.id, clue.tenant_id, reason="received", by_user=principal.user_id)
    await inbox.notify(
        session, tenant_id=clue.tenant_id, agency_id=hop.sender_agency_id, kind="clue.received",
        title=f"线索已签收：{clue.title}（{holder.name}）", subject_type="clue", subject_id=clue.id,
        dedup_key=f"clue:{clue.id}:received:{hop.seq}",
    )
    return await get(session, clue.id)


async def start_investigation(session: AsyncSession, principal: Principal, clue_id: int) -> Clue:
    """The receiver starts investigating (核查)."""
    clue, hop, _ = await _as_receiver(session, principal, clue_id, "receive")
    if clue.state != "received":
        raise TransitionError(clue.state, "investigate")
    await session.execute(
        text("UPDATE clue_transfer SET investigation_started_at = now() WHERE tenant_id = :t AND id = :i"),
        {"t": hop.tenant_id, "i": hop.id},
    )
    await session.execute(text("UPDATE clue SET state = 'investigating', updated_at = now() WHERE tenant_id = :t AND id = :c"),
                          {"t": clue.tenant_id, "c": clue.id})
    return await get(session, clue.id)


async def feed_back(session: AsyncSession, principal: Principal, clue_id: int, *, feedback: str) -> Clue:
    """The receiver reports the result back to the sender (反馈); the feedback deadline is met."""
    clue, hop, holder = await _as_receiver(session, principal, clue_id, "feedback")
    if clue.state not in ("received", "investigating"):
        raise TransitionError(clue.state, "feedback")
    text_ = feedback.strip()
    if not 1 <= len(text_) <= 20000:
        raise InvalidInput("feedback", "the feedback has 1-20000 characters")
    await session.execute(
        text("UPDATE clue_transfer SET feedback = :f, feedback_at = now(), feedback_by = :u"
             " WHERE tenant_id = :t AND id = :i"),
        {"f": text_, "u": principal.user_id, "t": hop.tenant_id, "i": hop.id},
    )
    await session.execute(text("UPDATE clue SET state = 'answered', updated_at = now() WHERE tenant_id = :t AND id = :c"),
                          {"t": clue.tenant_id, "c": clue.id})
    await deadlines.close(session, "clue.feedback", hop.id, clue.tenant_id, reason="answered", by_user=principal.user_id)
    await inbox.notify(
        session, tenant_id=clue.tenant_id, agency_id=hop.sender_agency_id, kind="clue.answered",
        title=f"线索核查反馈：{clue.title}（{holder.name}）", body=text_[:1000], subject_type="clue",
        subject_id=clue.id, dedup_key=f"clue:{clue.id}:answered:{hop.seq}",
    )
    return await get(session, clue.id)


async def _close_all(session: AsyncSession, clue: Clue, reason: str, by: int) -> None:
    await deadlines.close(session, "clue.transfer", clue.id, clue.tenant_id, reason=reason, by_user=by)
    hops = (await session.execute(text("SELECT id FROM clue_transfer WHERE tenant_id = :t AND clue_id = :c"),
                                  {"t": clue.tenant_id, "c": clue.id})).scalars().all()
    for h in hops:
        for kind in ("clue.receipt", "clue.feedback"):
            await deadlines.close(session, kind, h, clue.tenant_id, reason=reason, by_user=by)


async def close(session: AsyncSession, principal: Principal, clue_id: int, *, note: str) -> Clue:
    """Close the clue (办结): by its holder, or by the sender once the last hop has answered."""
    clue = await get(session, clue_id, lock=True)
    if clue.state == "closed":
        raise TransitionError("closed", "close")
    hop = await last_transfer(session, clue)
    actor = clue.holder_agency_id
    if clue.state == "answered" and hop is not None and acts_for(principal, hop.sender_agency_id):
        actor = hop.sender_agency_id
    if not acts_for(principal, actor):
        raise _deny(principal, "close", "another agency's clue")
    agency = await _agency(session, actor)
    authorize(principal, "update", "clue", agency.region_path)
    if clue.state == "transferred":
        raise TransitionError(clue.state, "close", "the receiver has not signed for the clue yet")
    if hop is not None and hop.feedback_required and hop.feedback_at is None:
        raise TransitionError(clue.state, "close", "the receiver owes feedback on this clue")
    text_ = note.strip()
    if not 1 <= len(text_) <= 5000:
        raise InvalidInput("note", "a closing note has 1-5000 characters")
    await session.execute(
        text("UPDATE clue SET state = 'closed', closed_at = now(), closed_by = :u, closing_note = :n, updated_at = now()"
             " WHERE tenant_id = :t AND id = :c"),
        {"u": principal.user_id, "n": text_, "t": clue.tenant_id, "c": clue.id},
    )
    await _close_all(session, clue, "closed", principal.user_id)
    for party in {clue.origin_agency_id, clue.holder_agency_id} - {actor}:
        await inbox.notify(session, tenant_id=clue.tenant_id, agency_id=party, kind="clue.closed",
                           title=f"线索已办结：{clue.title}", body=text_[:1000], subject_type="clue",
                           subject_id=clue.id, dedup_key=f"clue:{clue.id}:closed:{party}")
    return await get(session, clue.id)


async def link_problem(session: AsyncSession, principal: Principal, clue_id: int, *, problem_type: str,
                       problem_id: int) -> Clue:
    """Record that the clue became a problem of an inspection (the office's decision); its
    transfer deadline is met."""
    clue = await get(session, clue_id, lock=True)
    if not acts_for(principal, clue.holder_agency_id):
        raise _deny(principal, "link", "another agency's clue")
    holder = await _agency(session, clue.holder_agency_id)
    authorize(principal, "update", "clue", holder.region_path)
    if holder.kind != "office":
        raise _deny(principal, "link", holder.region_path)
    if clue.state in ("closed", "transferred"):
        raise TransitionError(clue.state, "link")
    if not _PROBLEM_TYPE.match(problem_type):
        raise InvalidInput("problemType", "a problem type is 1-40 lower-case letters or '_'")
    if problem_type not in PROBLEM_TYPES:
        raise InvalidInput("problemType", f"a clue becomes a problem of an inspection: one of {', '.join(PROBLEM_TYPES)}")
    if problem_id <= 0:
        raise InvalidInput("problemId", "a problem id is positive")
    if clue.problem_id is not None and (clue.problem_type, clue.problem_id) != (problem_type, problem_id):
        raise ConflictError(f"clue {clue.id} is already linked to {clue.problem_type} {clue.problem_id}")
    # The problem must exist, be visible to the caller (RLS), and be one of the clue's own
    # office's inspections: the link is kept on both sides (problem.clue_id, where still free).
    problem = (await session.execute(text("SELECT tenant_id, id, clue_id FROM problem WHERE id = :p"),
                                     {"p": problem_id})).first()
    if problem is None:
        raise NotFoundError("Problem", str(problem_id))
    if problem.tenant_id != clue.tenant_id:
        raise InvalidInput("problemId", "the problem belongs to another office's inspection")
    await session.execute(
        text("UPDATE clue SET problem_type = :pt, problem_id = :pi, updated_at = now() WHERE tenant_id = :t AND id = :c"),
        {"pt": problem_type, "pi": problem_id, "t": clue.tenant_id, "c": clue.id},
    )
    if problem.clue_id is None:
        await session.execute(text("UPDATE problem SET clue_id = :c WHERE tenant_id = :t AND id = :p AND clue_id IS NULL"),
                              {"c": clue.id, "t": problem.tenant_id, "p": problem.id})
    await deadlines.close(session, "clue.transfer", clue.id, clue.tenant_id, reason="became a problem",
                          by_user=principal.user_id)
    return await get(session, clue.id)


async def add_files(session: AsyncSession, principal: Principal, clue_id: int, files: Sequence[FileRef]) -> Clue:
    """Attach file references; the holder or the origin may add them while the clue is open."""
    clue = await get(session, clue_id, lock=True)
    if clue.state == "closed":
        raise TransitionError("closed", "add files")
    actor = clue.holder_agency_id if acts_for(principal, clue.holder_agency_id) else clue.origin_agency_id
    if not acts_for(principal, actor):
        raise _deny(principal, "create", "another agency's clue")
    agency = await _agency(session, actor)
    authorize(principal, "create", "clue", agency.region_path)
    await _store_files(session, clue, _check_files(files), principal.user_id)
    return clue
