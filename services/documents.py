"""Official documents (公文) the offices send: composed from the cycle's data, numbered per
tenant, year and prefix without gaps (发文字号, e.g. 嘉法督〔2024〕3号), laid out per GB/T 9704-2012
(services/gbt9704.py), stored with their SHA-256 (services/files.py).

Kinds: inspection bulletin (督察通报, with its common and individual problem lists), rectification
notice (整改通知书, to one target), supervision letter (督办函) and interview notice (约谈通知) of
an escalation rung - issued by themselves when the rung is reached (workers/escalation_handlers)
- inspection report (督察报告, to the committee) and clue transfer letter (线索移送函).

Numbers: `document_counter` holds the last number of each (tenant, year, prefix); issuing
increments it with INSERT .. ON CONFLICT DO UPDATE .. RETURNING in the transaction that adds
the document, so the row stays locked until commit: concurrent issuers take turns and get
consecutive numbers, and a rolled-back issuing gives its number back. Letters use the
prefix + 函 by default (嘉法督函〔2024〕1号), a sequence of their own.

Templates: each tenant may replace a kind's standard frame by its own .docx with
placeholders; the default frames are generated in code.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Text, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base
from ducha.services import access, audit, calendar_store, escalation, files, inbox, inspections
from ducha.services import gbt9704 as fmt
from ducha.services.coverage import Key, pack
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError, TransitionError
from ducha.services.vocab import INSPECTION_FORMS, INSPECTION_KINDS, PROBLEM_CATEGORIES, SEVERITIES
from ducha.tenants.principal import Principal

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    form: str  # file (文件格式) or letter (信函格式)
    subject_type: str
    letter: bool = False


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("bulletin", "督察通报", "file", "inspection"),
    Kind("rectification_notice", "整改通知书", "file", "feedback"),
    Kind("supervision_letter", "督办函", "letter", "escalation", letter=True),
    Kind("interview_notice", "约谈通知", "letter", "escalation", letter=True),
    Kind("inspection_report", "督察报告", "file", "inspection"),
    Kind("clue_transfer_letter", "线索移送函", "letter", "clue_transfer", letter=True),
)}
# The rung whose reaching issues a document, and which (escalation.RUNGS levels).
RUNG_DOCUMENTS = {2: "supervision_letter", 3: "interview_notice"}
INSTANCE_STATUS = {"found": "待反馈", "notified": "已通知整改", "rectifying": "整改中", "in_acceptance": "验收中",
                   "closed": "已销号", "reopened": "重新整改"}
# 机关代字 of a province is its abbreviation, not its first character.
PROVINCE_ABBREVIATIONS = {"湖北省": "鄂"}
_PREFIX = re.compile(r"^[\u4e00-\u9fffA-Za-z]{1,20}$")


class Document(Base):
    __tablename__ = "document"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str]
    year: Mapped[int]
    prefix: Mapped[str]
    seq: Mapped[int]
    number: Mapped[str]
    title: Mapped[str]
    recipients: Mapped[str] = mapped_column(default="")
    issued_on: Mapped[date]
    subject_type: Mapped[str]
    subject_id: Mapped[int] = mapped_column(BigInteger)
    inspection_id: Mapped[int | None] = mapped_column(BigInteger)
    escalation_id: Mapped[int | None] = mapped_column(BigInteger)
    agency_id: Mapped[int | None] = mapped_column(BigInteger)
    target_tenant_id: Mapped[int | None] = mapped_column(BigInteger)
    coverage: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    file_id: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    template_sha256: Mapped[str | None]
    issued_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Template(Base):
    __tablename__ = "document_template"

    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    file_id: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str]
    name: Mapped[str]
    placeholders: Mapped[list[str]] = mapped_column(ARRAY(Text))
    uploaded_by: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_at: Mapped[datetime] = mapped_column(server_default=func.now())


# --- settings: who signs, how numbers read ------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    tenant_id: int
    authority: str  # 发文机关署名, and the letters' 发文机关标志
    header: str  # 发文机关标志 of the file form (…文件)
    prefix: str  # 机关代字
    kind_prefixes: dict[str, str]
    arabic_dates: bool
    customized: bool

    def prefix_for(self, kind: str) -> str:
        if kind in self.kind_prefixes:
            return self.kind_prefixes[kind]
        return self.prefix + "函" if KINDS[kind].letter else self.prefix


async def _office(session: AsyncSession, tenant_id: int) -> tuple[int | None, str, str, str]:
    """The tenant's office agency (id, name), its region's name and level."""
    row = (await session.execute(text(
        "SELECT t.region_code, r.name AS region_name, r.level, a.id AS office_id, a.name AS office_name"
        " FROM tenant t JOIN region r ON r.code = t.region_code"
        " LEFT JOIN LATERAL (SELECT id, name FROM agency WHERE tenant_id = t.id AND region_code = t.region_code"
        "   AND kind = 'office' ORDER BY id LIMIT 1) a ON true WHERE t.id = :t"), {"t": tenant_id})).first()
    if row is None:
        raise NotFoundError("Tenant", str(tenant_id))
    name = row.office_name or f"{row.region_name}全面依法治理委员会办公室"
    return row.office_id, name, row.region_name, row.level


def default_prefix(region_name: str, level: str) -> str:
    """嘉鱼县 -> 嘉法督; a province by its abbreviation (湖北省 -> 鄂法督)."""
    short = PROVINCE_ABBREVIATIONS.get(region_name) if level == "province" else None
    return (short or region_name[:1]) + "法督"


async def get_settings(session: AsyncSession, tenant_id: int) -> Settings:
    row = (await session.execute(text(
        "SELECT authority, header, prefix, kind_prefixes, arabic_dates FROM document_setting WHERE tenant_id = :t"),
        {"t": tenant_id})).first()
    if row is not None:
        return Settings(tenant_id, row.authority, row.header, row.prefix, dict(row.kind_prefixes), row.arabic_dates, True)
    _, office, region_name, level = await _office(session, tenant_id)
    return Settings(tenant_id, office, office + "文件", default_prefix(region_name, level), {}, False, False)


async def set_settings(session: AsyncSession, principal: Principal, tenant_id: int, *, authority: str | None = None,
                       header: str | None = None, prefix: str | None = None,
                       kind_prefixes: dict[str, str] | None = None, arabic_dates: bool | None = None) -> Settings:
    """Change who signs a tenant's documents and how they are numbered (office admins)."""
    access.require(principal, "update", "document", await access.tenant_path(session, tenant_id))
    cur = await get_settings(session, tenant_id)
    new_authority = inspections._text("authority", authority, 60) if authority is not None else cur.authority
    new_header = inspections._text("header", header, 60) if header is not None else cur.header
    new_prefix = cur.prefix if prefix is None else prefix.strip()
    if not _PREFIX.match(new_prefix):
        raise InvalidInput("prefix", "a 机关代字 is 1-20 Chinese characters or letters (no digits or brackets)")
    kp = dict(cur.kind_prefixes if kind_prefixes is None else kind_prefixes)
    for k, v in kp.items():
        if k not in KINDS:
            raise InvalidInput("kindPrefixes", f"unknown document kind {k!r}")
        if not _PREFIX.match(v):
            raise InvalidInput(f"kindPrefixes.{k}", "a 机关代字 is 1-20 Chinese characters or letters")
    await session.execute(text(
        "INSERT INTO document_setting (tenant_id, authority, header, prefix, kind_prefixes, arabic_dates, updated_by)"
        " VALUES (:t, :a, :h, :p, CAST(:kp AS jsonb), :ad, :u) ON CONFLICT (tenant_id) DO UPDATE SET"
        " authority = excluded.authority, header = excluded.header, prefix = excluded.prefix,"
        " kind_prefixes = excluded.kind_prefixes, arabic_dates = excluded.arabic_dates,"
        " updated_by = excluded.updated_by, updated_at = now()"),
        {"t": tenant_id, "a": new_authority, "h": new_header, "p": new_prefix, "kp": json.dumps(kp, ensure_ascii=False),
         "ad": cur.arabic_dates if arabic_dates is None else arabic_dates, "u": principal.user_id})
    after = await get_settings(session, tenant_id)
    await audit.record(session, tenant_id=tenant_id, actor_id=principal.user_id, action="document.settings",
                       subject_type="document_setting", subject_id=tenant_id, before=audit.snapshot(cur),
                       after=audit.snapshot(after))
    return after


# --- numbering -------------------------------------------------------------------------------------

_NEXT = text(
    "INSERT INTO document_counter AS c (tenant_id, year, prefix, last_seq) VALUES (:t, :y, :p, 1)"
    " ON CONFLICT (tenant_id, year, prefix) DO UPDATE SET last_seq = c.last_seq + 1"
    " RETURNING c.last_seq"
)


async def next_number(session: AsyncSession, tenant_id: int, year: int, prefix: str) -> int:
    """The next number of (tenant, year, prefix), locked until the caller's transaction ends."""
    return int((await session.execute(_NEXT, {"t": tenant_id, "y": year, "p": prefix})).scalar_one())


# --- composing each kind ---------------------------------------------------------------------------


@dataclass
class Options:
    """What the issuer may set; everything else is composed from the data."""

    title: str | None = None
    recipients: str | None = None
    body: str | None = None  # replaces the composed body; one paragraph per line, 一、/（一） as headings
    copy_to: str | None = None
    issued_on: date | None = None
    interview_at: str | None = None
    interview_place: str | None = None


@dataclass
class Draft:
    tenant_id: int
    kind: str
    title: str
    recipients: str
    body: list[fmt.Block]
    subject_type: str
    subject_id: int
    keys: list[Key]
    attachments: list[fmt.Attachment] = field(default_factory=list)
    copy_to: str = ""
    inspection_id: int | None = None
    escalation_id: int | None = None
    agency_id: int | None = None
    target_tenant_id: int | None = None


_H1 = re.compile(r"^[一二三四五六七八九十]+、")
_H2 = re.compile(r"^（[一二三四五六七八九十]+）")


def paragraphs(body: str) -> list[fmt.Block]:
    """Typed text as blocks: a line per paragraph; 一、 lines are 黑体 headings, （一） leads 楷体."""
    out: list[fmt.Block] = []
    for line in (body or "").splitlines():
        line = line.strip()
        if not line:
            continue
        if _H1.match(line):
            out.append(fmt.Para(text=line, level=1))
        elif _H2.match(line):
            lead, dot, rest = line.partition("。")
            out.append(fmt.Para(lead=lead + dot, text=rest, level=2) if dot and rest else fmt.Para(text=line, level=2))
        else:
            out.append(fmt.Para(text=line))
    return out


def _day(d: date | None) -> str:
    return fmt.arabic_date(d) if d else "—"


def _instance_key(r: Any) -> Key:
    # an instance not yet fed back is the inspecting office chain's alone (RLS of problem_instance)
    if r.status == "found":
        return Key.of([r.tenant_id])
    return Key.of([r.tenant_id, r.target_tenant_id], [r.agency_id])


_INSTANCES = """
SELECT p.id AS problem_id, p.title, p.description, p.category, p.severity, p.is_common, p.found_on,
       i.id AS instance_id, i.tenant_id, i.target_tenant_id, i.agency_id, i.status, i.due_on, a.name AS agency_name
FROM problem p
JOIN problem_instance i ON i.tenant_id = p.tenant_id AND i.problem_id = p.id
JOIN agency a ON a.id = i.agency_id
WHERE p.tenant_id = :t AND p.inspection_id = :i {extra}
ORDER BY p.id, i.id
"""


def _recipients_default(level: str) -> tuple[str, str]:
    """(主送, 抄送) of a bulletin by the office's level (art. 34: 人大, 政府, 纪委监委, 组织部门)."""
    if level == "county":
        return "各镇人民政府，县直各单位", "县人大常委会办公室，县政府办公室，县纪委监委，县委组织部"
    if level == "city":
        return ("各县（市、区）委全面依法治县（市、区）委员会办公室，市直各单位",
                "市人大常委会办公室，市政府办公室，市纪委监委，市委组织部")
    return ("各市、州、直管市委全面依法治市（州）委员会办公室，省直各单位",
            "省人大常委会办公厅，省政府办公厅，省纪委监委，省委组织部")


async def _approved_report(session: AsyncSession, insp: Any, statuses: tuple[str, ...]) -> Any:
    rep = (await session.execute(text("SELECT body, status FROM report WHERE tenant_id = :t AND inspection_id = :i"),
                                 {"t": insp.tenant_id, "i": insp.id})).first()
    if rep is None or rep.status not in statuses:
        raise TransitionError(rep.status if rep else "no_report", "issue the document",
                              "the inspection's report is not approved yet")
    return rep


async def compose_bulletin(session: AsyncSession, inspection_id: int, opts: Options) -> Draft:
    insp = await inspections.get(session, inspection_id)
    await _approved_report(session, insp, ("committee_approved",))
    _, office, _, level = await _office(session, insp.tenant_id)
    rows = (await session.execute(text(_INSTANCES.format(extra="")), {"t": insp.tenant_id, "i": insp.id})).all()
    targets = int((await session.execute(text(
        "SELECT count(*) FROM inspection_target WHERE tenant_id = :t AND inspection_id = :i"),
        {"t": insp.tenant_id, "i": insp.id})).scalar_one())
    problems: dict[int, list[Any]] = {}
    for r in rows:
        problems.setdefault(r.problem_id, []).append(r)
    common = [v for v in problems.values() if v[0].is_common]
    individual = [v for v in problems.values() if not v[0].is_common]
    by_category: dict[str, int] = {}
    for v in problems.values():
        by_category[v[0].category] = by_category.get(v[0].category, 0) + 1
    categories = "、".join(f"{PROBLEM_CATEGORIES[c]}方面{n}个" for c, n in sorted(by_category.items(), key=lambda x: -x[1]))
    span = (f"于{_day(insp.starts_on)}至{_day(insp.ends_on)}" if insp.starts_on and insp.ends_on else "")
    recipients, copy_to = _recipients_default(level)
    body: list[fmt.Block] = [
        fmt.Para(f"根据{insp.year}年度法治督察工作安排，{office}{span}对{targets}家单位开展了"
                 f"{insp.title}（{INSPECTION_KINDS.get(insp.kind, insp.kind)}，{INSPECTION_FORMS.get(insp.form, insp.form)}）。"
                 "现将有关情况通报如下："),
        fmt.Para(text="一、基本情况", level=1),
        fmt.Para(f"本次督察共发现问题{len(problems)}个（涉及{len(rows)}个单位次），其中共性问题{len(common)}个、"
                 f"个性问题{len(individual)}个" + (f"。从问题类别看，{categories}。" if categories else "。")),
        fmt.Para(text="二、发现的主要问题", level=1),
    ]
    if common:
        items = "；".join(f"{n}. {v[0].title}（涉及{len(v)}家单位）" for n, v in enumerate(common, 1))
        body.append(fmt.Para(lead="（一）共性问题。", text=f"主要有：{items}。详见附件1。", level=2))
    else:
        body.append(fmt.Para(lead="（一）共性问题。", text="本次督察未发现共性问题。", level=2))
    if individual:
        body.append(fmt.Para(lead="（二）个性问题。", text=f"共{len(individual)}个，涉及"
                             f"{len({v[0].agency_id for v in individual})}家单位，详见附件2。", level=2))
    else:
        body.append(fmt.Para(lead="（二）个性问题。", text="本次督察未发现个性问题。", level=2))
    body += [
        fmt.Para(text="三、整改要求", level=1),
        fmt.Para("各被督察单位要对照问题清单，逐项研究制定整改方案，明确整改措施、责任人和整改时限，按期报送整改情况，"
                 "实行销号管理。对整改不力、效果较差的，将视情开展督察“回头看”，并按程序采取督办、约谈、通报批评等措施；"
                 "对发现的涉嫌违纪或者职务违法、职务犯罪问题线索，依规依纪依法移送纪检监察机关。"),
    ]
    common_rows = [[str(n), v[0].title, PROBLEM_CATEGORIES[v[0].category], SEVERITIES[v[0].severity],
                    "、".join(r.agency_name for r in v)] for n, v in enumerate(common, 1)]
    individual_rows = [[str(n), v[0].agency_name, v[0].title, PROBLEM_CATEGORIES[v[0].category], SEVERITIES[v[0].severity]]
                       for n, v in enumerate(individual, 1)]
    attachments = [
        fmt.Attachment("共性问题清单", [fmt.Table(["序号", "问题", "类别", "严重程度", "涉及单位"],
                                             common_rows or [["—", "无", "", "", ""]], [12, 52, 34, 16, 42])]),
        fmt.Attachment("个性问题清单", [fmt.Table(["序号", "被督察单位", "问题", "类别", "严重程度"],
                                             individual_rows or [["—", "", "无", "", ""]], [12, 38, 56, 34, 16])]),
    ]
    return Draft(tenant_id=insp.tenant_id, kind="bulletin", title=f"关于{insp.title}情况的通报", recipients=recipients,
                 body=body, attachments=attachments, copy_to=copy_to, subject_type="inspection", subject_id=insp.id,
                 inspection_id=insp.id, keys=[Key.of([insp.tenant_id]), *(_instance_key(r) for r in rows)])


async def compose_rectification_notice(session: AsyncSession, feedback_id: int, opts: Options) -> Draft:
    fb = (await session.execute(text(
        "SELECT tenant_id, id, inspection_id, agency_id, target_tenant_id, notice_required, notice_due_on, issued_at"
        " FROM feedback WHERE id = :i"), {"i": feedback_id})).first()
    if fb is None:
        raise NotFoundError("Feedback", str(feedback_id))
    if not fb.notice_required:
        raise TransitionError("no_notice", "issue a rectification notice", "this feedback carries no rectification notice")
    insp = await inspections.get(session, fb.inspection_id)
    _, office, _, _ = await _office(session, fb.tenant_id)
    unit = (await access.agency(session, fb.agency_id)).name
    rows = (await session.execute(text(_INSTANCES.format(extra="AND i.feedback_id = :f")),
                                  {"t": fb.tenant_id, "i": insp.id, "f": fb.id})).all()
    due = _day(fb.notice_due_on)
    body: list[fmt.Block] = [
        fmt.Para(f"{office}于{_day(insp.starts_on) if insp.starts_on else str(insp.year) + '年'}起对你单位开展了{insp.title}。"
                 "督察报告已经审定，现将督察发现的问题反馈你单位，并就整改工作通知如下："),
        fmt.Para(text="一、存在的问题", level=1),
        *(fmt.Para(f"{n}. {r.title}" + (f"：{r.description}" if r.description and r.description != r.title else "") + "。")
          for n, r in enumerate(rows, 1)),
        fmt.Para(text="二、整改要求", level=1),
        fmt.Para(lead="（一）制定整改方案。", level=2,
                 text=f"请你单位对照问题清单，逐项研究制定整改方案，明确整改措施、责任人和完成时限，于{due}前完成整改。"),
        fmt.Para(lead="（二）报送整改情况。", level=2,
                 text=f"整改完成后，请将整改情况报告及佐证材料报送{office}，经逐级验收后销号。"),
        fmt.Para(lead="（三）严肃督察纪律。", level=2,
                 text="逾期未完成整改或者整改不到位的，将按程序采取督办、约谈、通报批评等措施；拒不整改的，依规依纪依法追究责任。"),
    ]
    table = fmt.Table(["序号", "问题", "类别", "严重程度", "整改期限"],
                      [[str(n), r.title, PROBLEM_CATEGORIES[r.category], SEVERITIES[r.severity], _day(r.due_on)]
                       for n, r in enumerate(rows, 1)] or [["—", "无", "", "", ""]], [12, 62, 36, 16, 30])
    keys = [Key.of([fb.tenant_id, fb.target_tenant_id], [fb.agency_id]), *(_instance_key(r) for r in rows)]
    return Draft(tenant_id=fb.tenant_id, kind="rectification_notice", title=f"关于限期整改{insp.title}发现问题的通知",
                 recipients=unit, body=body, attachments=[fmt.Attachment("问题清单", [table])], subject_type="feedback",
                 subject_id=fb.id, inspection_id=insp.id, agency_id=fb.agency_id, target_tenant_id=fb.target_tenant_id,
                 keys=keys)


async def _rung(session: AsyncSession, escalation_id: int, level: int) -> tuple[Any, Any, str, str]:
    rec = await escalation.get_record(session, escalation_id)
    if rec.rung != level:
        raise InvalidInput("subjectId", f"escalation {escalation_id} is the rung {escalation.RUNGS[rec.rung - 1].label}, "
                                        f"not {escalation.RUNGS[level - 1].label}")
    if rec.status != "issued":
        raise TransitionError(rec.status, "issue the document", "the rung is not issued")
    row = (await session.execute(text("SELECT title, due_on FROM deadline WHERE tenant_id = :t AND id = :i"),
                                 {"t": rec.tenant_id, "i": rec.deadline_id})).first()
    if row is None:
        raise NotFoundError("Deadline", str(rec.deadline_id))
    unit = (await session.execute(text("SELECT name FROM agency WHERE id = :a"), {"a": rec.agency_id})).scalar_one()
    _, office, _, _ = await _office(session, rec.tenant_id)
    return rec, row, unit, office


async def compose_supervision_letter(session: AsyncSession, escalation_id: int, opts: Options) -> Draft:
    rec, d, unit, office = await _rung(session, escalation_id, 2)
    body = [
        fmt.Para(f"你单位承办的“{d.title}”事项，办理期限为{_day(d.due_on)}。截至{_day(rec.as_of)}，已逾期"
                 f"{rec.working_days_overdue}个工作日，经催办仍未办结。"),
        fmt.Para(f"根据法治督察工作有关规定，现予督办。请你单位高度重视，自收到本函之日起5个工作日内办结，并将办理情况"
                 f"书面报送{office}。逾期仍未办结的，将按程序约谈你单位主要负责人。"),
        fmt.Para("特此函告。"),
    ]
    return Draft(tenant_id=rec.tenant_id, kind="supervision_letter", title=f"关于督促办理“{d.title}”事项的函",
                 recipients=unit, body=body, subject_type="escalation", subject_id=rec.id, escalation_id=rec.id,
                 agency_id=rec.agency_id, target_tenant_id=rec.agency_tenant_id,
                 keys=[Key.of([rec.tenant_id, rec.agency_tenant_id], [rec.agency_id])])


async def compose_interview_notice(session: AsyncSession, escalation_id: int, opts: Options) -> Draft:
    rec, d, unit, office = await _rung(session, escalation_id, 3)
    body = [
        fmt.Para(f"你单位承办的“{d.title}”事项，办理期限为{_day(d.due_on)}。截至{_day(rec.as_of)}，已逾期"
                 f"{rec.working_days_overdue}个工作日，经催办、督办仍未办结。经{office}负责同志同意，决定对你单位主要负责人"
                 "进行约谈。现将有关事项通知如下："),
        fmt.Para(text="一、约谈时间", level=1),
        fmt.Para(opts.interview_at or "另行通知。"),
        fmt.Para(text="二、约谈地点", level=1),
        fmt.Para(opts.interview_place or "另行通知。"),
        fmt.Para(text="三、有关要求", level=1),
        fmt.Para("请你单位主要负责人准时参加，就逾期未办结的原因、整改措施和完成时限作出说明，并于约谈时提交书面材料。"),
    ]
    return Draft(tenant_id=rec.tenant_id, kind="interview_notice", title=f"关于约谈{unit}主要负责人的通知",
                 recipients=unit, body=body, subject_type="escalation", subject_id=rec.id, escalation_id=rec.id,
                 agency_id=rec.agency_id, target_tenant_id=rec.agency_tenant_id,
                 keys=[Key.of([rec.tenant_id, rec.agency_tenant_id], [rec.agency_id])])


async def compose_inspection_report(session: AsyncSession, inspection_id: int, opts: Options) -> Draft:
    insp = await inspections.get(session, inspection_id)
    rep = await _approved_report(session, insp, ("submitted", "office_approved", "committee_approved"))
    committee = (await session.execute(text(
        "SELECT a.name FROM agency a JOIN tenant t ON t.id = a.tenant_id AND t.region_code = a.region_code"
        " WHERE a.tenant_id = :t AND a.kind = 'committee' ORDER BY a.id LIMIT 1"), {"t": insp.tenant_id})).scalar()
    _, _, region_name, _ = await _office(session, insp.tenant_id)
    return Draft(tenant_id=insp.tenant_id, kind="inspection_report", title=f"关于{insp.title}情况的报告",
                 recipients=committee or f"{region_name}全面依法治理委员会", body=paragraphs(rep.body),
                 subject_type="inspection", subject_id=insp.id, inspection_id=insp.id,
                 keys=[Key.of([insp.tenant_id])])


async def compose_clue_transfer_letter(session: AsyncSession, transfer_id: int, opts: Options) -> Draft:
    from ducha.services.clues import IMPORTANCE, SOURCES

    t = (await session.execute(text(
        "SELECT ct.tenant_id, ct.id, ct.clue_id, ct.sender_agency_id, ct.sender_name, ct.receiver_agency_id,"
        " ct.receiver_name, ct.feedback_required, ct.transferred_on, ct.note, s.kind AS sender_kind,"
        " c.title, c.content, c.source, c.importance, c.discovered_on"
        " FROM clue_transfer ct JOIN clue c ON c.tenant_id = ct.tenant_id AND c.id = ct.clue_id"
        " JOIN agency s ON s.id = ct.sender_agency_id WHERE ct.id = :i"), {"i": transfer_id})).first()
    if t is None:
        raise NotFoundError("ClueTransfer", str(transfer_id))
    if t.sender_kind != "office":
        raise InvalidInput("subjectId", "the office writes letters for its own transfers only")
    ask = ("请依规依纪依法处置，并将处理结果反馈我办。" if t.feedback_required
           else "请及时签收，依规依纪依法处置。")
    body = [
        fmt.Para(f"{t.sender_name}在工作中通过{SOURCES.get(t.source, t.source)}渠道发现“{t.title}”问题线索"
                 f"（{IMPORTANCE.get(t.importance, t.importance)}，发现日期{_day(t.discovered_on)}）。根据法治督察与纪检监察"
                 f"协作配合机制有关规定，现将该线索移送你单位。{ask}"),
        fmt.Para(text="线索主要内容：", level=0),
        *paragraphs(t.content),
        *([fmt.Para(f"移送说明：{t.note}")] if t.note else []),
        fmt.Para("特此函告。"),
    ]
    table = fmt.Table(["线索编号", "来源", "重要程度", "发现日期", "线索标题"],
                      [[str(t.clue_id), SOURCES.get(t.source, t.source), IMPORTANCE.get(t.importance, t.importance),
                        _day(t.discovered_on), t.title]], [20, 28, 24, 30, 54])
    return Draft(tenant_id=t.tenant_id, kind="clue_transfer_letter", title=f"关于移送“{t.title}”问题线索的函",
                 recipients=t.receiver_name, body=body, attachments=[fmt.Attachment("问题线索登记表", [table])],
                 subject_type="clue_transfer", subject_id=t.id, agency_id=t.receiver_agency_id,
                 target_tenant_id=t.tenant_id, keys=[Key.of([t.tenant_id], [t.sender_agency_id, t.receiver_agency_id])])


COMPOSERS = {
    "bulletin": compose_bulletin,
    "rectification_notice": compose_rectification_notice,
    "supervision_letter": compose_supervision_letter,
    "interview_notice": compose_interview_notice,
    "inspection_report": compose_inspection_report,
    "clue_transfer_letter": compose_clue_transfer_letter,
}


# --- templates ------------------------------------------------------------------------------------


async def template_of(session: AsyncSession, tenant_id: int, kind: str) -> Template | None:
    stmt = select(Template).where(Template.tenant_id == tenant_id, Template.kind == kind)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def template_bytes(session: AsyncSession, tenant_id: int, kind: str) -> tuple[bytes, str | None]:
    """The tenant's template of a kind and its SHA-256, or the standard frame (and None)."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"unknown document kind {kind!r}")
    t = await template_of(session, tenant_id, kind)
    if t is not None:
        _, data = await files.read(session, tenant_id, t.file_id)
        return data, t.sha256
    st = await get_settings(session, tenant_id)
    form = KINDS[kind].form
    return fmt.default_template(form, st.header if form == "file" else st.authority), None


def _sample(kind: str) -> fmt.OfficialDocument:
    k = KINDS[kind]
    return fmt.OfficialDocument(
        form=k.form, header="样例机关文件", number=fmt.document_number("样", 2024, 1), title=f"{k.label}样例",
        recipients="样例单位", body=[fmt.Para(text="一、样例", level=1), fmt.Para("正文。"),
                                     fmt.Table(["序号", "内容"], [["1", "样例"]], [20, 136])],
        attachments=[fmt.Attachment("样例附件", [fmt.Para("附件内容。")])], authority="样例机关", date=date(2024, 7, 26),
        copy_to="样例抄送机关", printer="样例机关")


async def upload_template(session: AsyncSession, principal: Principal, tenant_id: int, kind: str, *, name: str,
                          data: bytes) -> Template:
    """Replace a kind's standard frame by the tenant's own .docx (checked by filling a sample)."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"unknown document kind {kind!r}")
    access.require(principal, "update", "document", await access.tenant_path(session, tenant_id))
    files.check_content(name, DOCX, data)
    try:
        check = await asyncio.to_thread(fmt.check_template, bytes(data))
        await asyncio.to_thread(fmt.render, _sample(kind), bytes(data))
    except Exception as e:  # noqa: BLE001 - whatever python-docx makes of a broken file
        raise InvalidInput("contentBase64", f"not a usable .docx template: {type(e).__name__}") from None
    if check.unknown:
        raise InvalidInput("contentBase64", "unknown placeholders: " + ", ".join("{{" + p + "}}" for p in check.unknown)
                           + "; known: " + ", ".join("{{" + p + "}}" for p in fmt.PLACEHOLDERS))
    if check.missing:
        raise InvalidInput("contentBase64", "the template lacks " + ", ".join("{{" + p + "}}" for p in check.missing))
    stored = await files.store(session, tenant_id=tenant_id, uploaded_by=principal.user_id, name=name,
                               content_type=DOCX, data=data)
    before = await template_of(session, tenant_id, kind)
    before_snap = audit.snapshot(before) if before else None
    await session.execute(text(
        "INSERT INTO document_template (tenant_id, kind, file_id, sha256, name, placeholders, uploaded_by)"
        " VALUES (:t, :k, :f, :s, :n, :p, :u) ON CONFLICT (tenant_id, kind) DO UPDATE SET file_id = excluded.file_id,"
        " sha256 = excluded.sha256, name = excluded.name, placeholders = excluded.placeholders,"
        " uploaded_by = excluded.uploaded_by, uploaded_at = now()"),
        {"t": tenant_id, "k": kind, "f": stored.id, "s": stored.sha256, "n": stored.name, "p": check.placeholders,
         "u": principal.user_id})
    row = await template_of(session, tenant_id, kind)
    assert row is not None
    await audit.record(session, tenant_id=tenant_id, actor_id=principal.user_id, action="document.template.upload",
                       subject_type="document_template", subject_id=stored.id, before=before_snap,
                       after=audit.snapshot(row))
    return row


async def remove_template(session: AsyncSession, principal: Principal, tenant_id: int, kind: str) -> bool:
    """Go back to the standard frame of a kind; False if the tenant had none of its own."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"unknown document kind {kind!r}")
    access.require(principal, "update", "document", await access.tenant_path(session, tenant_id))
    before = await template_of(session, tenant_id, kind)
    if before is None:
        return False
    snap = audit.snapshot(before)
    await session.execute(text("DELETE FROM document_template WHERE tenant_id = :t AND kind = :k"),
                          {"t": tenant_id, "k": kind})
    await audit.record(session, tenant_id=tenant_id, actor_id=principal.user_id, action="document.template.remove",
                       subject_type="document_template", subject_id=before.file_id, before=snap, after=None)
    return True


# --- issuing ---------------------------------------------------------------------------------------


_SUBJECT_TABLES = {"inspection": "inspection", "feedback": "feedback", "escalation": "escalation",
                   "clue_transfer": "clue_transfer"}


async def subject_tenant(session: AsyncSession, kind: str, subject_id: int) -> int:
    """The tenant of a document's subject, as far as the session may see it."""
    st = KINDS[kind].subject_type
    tid = (await session.execute(text(f"SELECT tenant_id FROM {_SUBJECT_TABLES[st]} WHERE id = :i"),
                                 {"i": subject_id})).scalar()
    if tid is None:
        raise NotFoundError(st.replace("_", " ").title().replace(" ", ""), str(subject_id))
    return int(tid)


def _check_options(opts: Options, today: date) -> None:
    for f, limit in (("title", 300), ("recipients", 300), ("copy_to", 300), ("interview_at", 100),
                     ("interview_place", 200), ("body", 50_000)):
        v = getattr(opts, f)
        if v is not None:
            inspections._text(f, v, limit)
    if opts.issued_on is not None and not date(2000, 1, 1) <= opts.issued_on <= today:
        raise InvalidInput("issuedOn", "a document is dated today or earlier (成文日期 cannot be in the future)")


async def issue(session: AsyncSession, principal: Principal | None, kind: str, subject_id: int,
                options: Options | None = None) -> Document:
    """Compose, number, render, store and record one document in the caller's transaction.

    `principal` None is the system issuing by itself (an escalation rung's letter)."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"unknown document kind {kind!r}")
    opts = options or Options()
    today = calendar_store.today()
    _check_options(opts, today)
    if principal is not None:
        # who may issue is settled before anything of the subject is read
        tenant_id = await subject_tenant(session, kind, subject_id)
        access.require(principal, "create", "document", await access.tenant_path(session, tenant_id))
    draft = await COMPOSERS[kind](session, subject_id, opts)
    if draft.escalation_id is not None:
        seen = (await session.execute(text("SELECT number FROM document WHERE tenant_id = :t AND escalation_id = :e"),
                                      {"t": draft.tenant_id, "e": draft.escalation_id})).first()
        if seen is not None:
            raise ConflictError(f"the rung already has its document {seen.number}")
    st = await get_settings(session, draft.tenant_id)
    template, template_sha = await template_bytes(session, draft.tenant_id, kind)
    issued_on = opts.issued_on or today
    prefix = st.prefix_for(kind)
    info = KINDS[kind]
    # The counter row stays locked from here to commit: everything slow is done before,
    # except the rendering, which needs the number.
    seq = await next_number(session, draft.tenant_id, issued_on.year, prefix)
    number = fmt.document_number(prefix, issued_on.year, seq)
    od = fmt.OfficialDocument(
        form=info.form, header=st.header if info.form == "file" else st.authority, number=number,
        title=opts.title or draft.title, recipients=opts.recipients or draft.recipients,
        body=paragraphs(opts.body) if opts.body else draft.body, authority=st.authority, date=issued_on,
        attachments=draft.attachments, copy_to=draft.copy_to if opts.copy_to is None else opts.copy_to,
        printer=st.authority if info.form == "file" else "", printed_on=issued_on, arabic_dates=st.arabic_dates,
        keywords=info.label,
    )
    data = await asyncio.to_thread(fmt.render, od, template)
    stored = await files.store(session, tenant_id=draft.tenant_id, uploaded_by=principal.user_id if principal else None,
                               name=f"{number} {od.title}.docx"[:190], content_type=DOCX, data=data)
    doc = Document(tenant_id=draft.tenant_id, kind=kind, year=issued_on.year, prefix=prefix, seq=seq, number=number,
                   title=od.title[:300], recipients=od.recipients, issued_on=issued_on, subject_type=draft.subject_type,
                   subject_id=draft.subject_id, inspection_id=draft.inspection_id, escalation_id=draft.escalation_id,
                   agency_id=draft.agency_id, target_tenant_id=draft.target_tenant_id, coverage=pack(draft.keys),
                   file_id=stored.id, sha256=stored.sha256, size_bytes=stored.size_bytes, template_sha256=template_sha,
                   issued_by=principal.user_id if principal else None)
    session.add(doc)
    await session.flush()
    await audit.record(session, tenant_id=doc.tenant_id, actor_id=doc.issued_by, action="document.issue",
                       subject_type="document", subject_id=doc.id, before=None,
                       after={k: v for k, v in audit.snapshot(doc).items() if k != "coverage"})
    if doc.agency_id is not None:
        await inbox.notify(session, tenant_id=doc.tenant_id, agency_id=doc.agency_id, kind=f"document.{kind}",
                           title=f"【{info.label}】{number} {doc.title}", subject_type="document", subject_id=doc.id,
                           dedup_key=f"document:{doc.id}")
    return doc


RUNG_DOCUMENT = "document.rung"  # the outbox job that writes a reached rung's document


async def queue_for_escalation(session: AsyncSession, tenant_id: int, escalation_id: int, rung: int) -> bool:
    """Queue the document of a delivered rung as a job of its own: delivering stays quick, and a
    document that fails to render is retried without undoing the delivery."""
    if rung not in RUNG_DOCUMENTS:
        return False
    from ducha.services import outbox

    return await outbox.enqueue(session, tenant_id=tenant_id, actor=RUNG_DOCUMENT,
                                payload={"escalation_id": escalation_id}, dedup_key=f"{RUNG_DOCUMENT}:{escalation_id}")


async def issue_for_escalation(session: AsyncSession, tenant_id: int, escalation_id: int) -> Document | None:
    """The document of a reached rung (督办函, 约谈通知), once; None for rungs without one."""
    rec = await escalation.get_record(session, escalation_id)
    kind = RUNG_DOCUMENTS.get(rec.rung)
    if kind is None or rec.status != "issued" or rec.tenant_id != tenant_id:
        return None
    seen = (await session.execute(select(Document).where(Document.tenant_id == tenant_id,
                                                         Document.escalation_id == escalation_id))).scalar_one_or_none()
    if seen is not None:
        return seen
    return await issue(session, None, kind, escalation_id)


async def get(session: AsyncSession, document_id: int) -> Document:
    doc = (await session.execute(select(Document).where(Document.id == document_id))).scalar_one_or_none()
    if doc is None:
        raise NotFoundError("Document", str(document_id))
    return doc


async def for_subject(session: AsyncSession, subject_type: str, subject_ids: Sequence[int]) -> list[Document]:
    return list((await session.execute(select(Document).where(
        Document.subject_type == subject_type, Document.subject_id.in_(list(subject_ids))).order_by(Document.id))).scalars())
