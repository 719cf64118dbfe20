"""GraphQL face of official documents, templates, document settings and export jobs.

A file is never inlined: `downloadUrl` is a fresh signed link (valid a few minutes, for the
caller only) when the caller's scope covers every row of the file, and null otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from ducha.graphql.context import Info
from ducha.graphql.directory.types import Agency, load_agency
from ducha.services import documents as dsvc, exports as xsvc, ledgers


def _enum(name: str, codes: dict[str, str], description: str) -> Any:
    return strawberry.enum(Enum(name, {c.upper(): c for c in codes}), name=name, description=description)  # type: ignore[misc]


DocumentKind = _enum("DocumentKind", {k: v.label for k, v in dsvc.KINDS.items()},
                     "督察通报 / 整改通知书 / 督办函 / 约谈通知 / 督察报告 / 线索移送函")
ExportKind = _enum("ExportKind", {k: v.label for k, v in ledgers.SOURCES.items()},
                   "问题台账 / 线索登记簿 / 重点任务清单 / 汇总表")


@strawberry.enum(description="Where an export stands: queued, running (see progress), done (download it), failed (see error).")
class ExportStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _id(v: int) -> strawberry.ID:
    return strawberry.ID(str(v))


@strawberry.type(description="An issued official document (公文), laid out per GB/T 9704-2012.")
class Document:
    id: strawberry.ID
    kind: DocumentKind  # type: ignore[valid-type]
    kind_label: str
    number: str = strawberry.field(description="发文字号, e.g. 嘉法督〔2024〕3号.")
    year: int
    seq: int = strawberry.field(description="The number within its tenant, year and prefix (no gaps).")
    title: str
    recipients: str = strawberry.field(description="主送机关.")
    issued_on: dt.date = strawberry.field(description="成文日期.")
    subject_type: str = strawberry.field(description="inspection, feedback, escalation or clue_transfer.")
    subject_id: strawberry.ID
    inspection_id: strawberry.ID | None
    escalation_id: strawberry.ID | None
    sha256: str
    size_bytes: int
    custom_template: bool = strawberry.field(description="Made from the tenant's own template.")
    created_at: dt.datetime
    agency_id: strawberry.Private[int | None]
    tenant_id: strawberry.Private[int]
    coverage: strawberry.Private[Any]

    @classmethod
    def from_row(cls, d: dsvc.Document) -> Document:
        return cls(
            id=_id(d.id), kind=DocumentKind(d.kind), kind_label=dsvc.KINDS[d.kind].label, number=d.number, year=d.year,
            seq=d.seq, title=d.title, recipients=d.recipients, issued_on=d.issued_on, subject_type=d.subject_type,
            subject_id=_id(d.subject_id), inspection_id=_id(d.inspection_id) if d.inspection_id else None,
            escalation_id=_id(d.escalation_id) if d.escalation_id else None, sha256=d.sha256, size_bytes=d.size_bytes,
            custom_template=d.template_sha256 is not None, created_at=d.created_at, agency_id=d.agency_id,
            tenant_id=d.tenant_id, coverage=d.coverage,
        )

    @strawberry.field(description="The unit it is addressed to (notices and letters), where the caller may see it.")
    async def agency(self, info: Info) -> Agency | None:
        return await load_agency(info, self.agency_id)

    @strawberry.field(description="May the caller have the file (its scope sees everything in it)?")
    def can_download(self, info: Info) -> bool:
        return xsvc.may_download(info.context.scope, self.coverage)

    @strawberry.field(description="A fresh signed link to the .docx for the caller, valid a few minutes; "
                                  "null when the caller may not see everything in it.")
    def download_url(self, info: Info) -> str | None:
        if not xsvc.may_download(info.context.scope, self.coverage):
            return None
        return xsvc.link("document", self.tenant_id, int(self.id), info.context.principal.login)


@strawberry.type(description="A background export of a ledger to .xlsx.")
class ExportJob:
    id: strawberry.ID
    kind: ExportKind  # type: ignore[valid-type]
    kind_label: str
    params: JSON
    status: ExportStatus
    progress: int = strawberry.field(description="0-100.")
    rows_total: int | None
    error: str | None
    file_name: str | None
    sha256: str | None
    size_bytes: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    mine: bool = strawberry.field(description="Requested by the caller.")
    tenant_id: strawberry.Private[int]
    coverage: strawberry.Private[Any]
    fingerprint: strawberry.Private[str]

    @classmethod
    def from_row(cls, j: xsvc.ExportJob, user_id: int) -> ExportJob:
        return cls(
            id=_id(j.id), kind=ExportKind(j.kind), kind_label=ledgers.SOURCES[j.kind].label, params=j.params,
            status=ExportStatus(j.status), progress=j.progress, rows_total=j.rows_total, error=j.error,
            file_name=j.file_name, sha256=j.sha256, size_bytes=j.size_bytes, created_at=j.created_at,
            started_at=j.started_at, finished_at=j.finished_at, mine=j.requested_by == user_id, tenant_id=j.tenant_id,
            coverage=j.coverage, fingerprint=j.scope_fingerprint,
        )

    @strawberry.field(description="A fresh signed link to the file for the caller once done, valid a few minutes; "
                                  "null before, or when the caller may not see every row in it.")
    def download_url(self, info: Info) -> str | None:
        if self.status != ExportStatus.DONE or not xsvc.may_download(info.context.scope, self.coverage, self.fingerprint):
            return None
        return xsvc.link("export", self.tenant_id, int(self.id), info.context.principal.login)


@strawberry.type(description="The frame a kind of document is made in: the tenant's own or the standard one.")
class DocumentTemplate:
    kind: DocumentKind  # type: ignore[valid-type]
    kind_label: str
    custom: bool
    name: str | None
    sha256: str | None
    placeholders: list[str]
    uploaded_at: dt.datetime | None
    tenant_id: strawberry.Private[int]

    @strawberry.field(description="The template itself (.docx, base64): a starting point for a tenant's own.")
    async def content_base64(self, info: Info) -> str:
        data, _ = await dsvc.template_bytes(info.context.session, self.tenant_id, self.kind.value)
        return base64.b64encode(data).decode()


def template_of(tenant_id: int, kind: str, row: dsvc.Template | None) -> DocumentTemplate:
    from ducha.services.gbt9704 import PLACEHOLDERS

    k = dsvc.KINDS[kind]
    return DocumentTemplate(
        kind=DocumentKind(kind), kind_label=k.label, custom=row is not None, name=row.name if row else None,
        sha256=row.sha256 if row else None,
        placeholders=list(row.placeholders) if row else sorted(set(PLACEHOLDERS.values())),
        uploaded_at=row.uploaded_at if row else None, tenant_id=tenant_id,
    )


@strawberry.type(description="A prefix (机关代字) for one kind of document.")
class KindPrefix:
    kind: DocumentKind  # type: ignore[valid-type]
    prefix: str


@strawberry.type(description="Who signs a tenant's documents and how their numbers read.")
class DocumentSettings:
    tenant_id: strawberry.ID
    authority: str = strawberry.field(description="发文机关署名 (and the letters' header).")
    header: str = strawberry.field(description="发文机关标志 of the file form, e.g. …办公室文件.")
    prefix: str = strawberry.field(description="机关代字, e.g. 嘉法督.")
    kind_prefixes: list[KindPrefix] = strawberry.field(description="The prefix each kind uses (letters: prefix + 函).")
    arabic_dates: bool = strawberry.field(description="成文日期 in Arabic numerals (GB/T 9704-2012 7.3.5.1) instead "
                                                      "of Chinese ones.")
    customized: bool

    @classmethod
    def of(cls, s: dsvc.Settings) -> DocumentSettings:
        return cls(tenant_id=_id(s.tenant_id), authority=s.authority, header=s.header, prefix=s.prefix,
                   kind_prefixes=[KindPrefix(kind=DocumentKind(k), prefix=s.prefix_for(k)) for k in dsvc.KINDS],
                   arabic_dates=s.arabic_dates, customized=s.customized)


@strawberry.input(description="Narrow the document list.")
class DocumentFilter:
    kind: DocumentKind | None = None  # type: ignore[valid-type]
    year: int | None = None
    tenant_id: strawberry.ID | None = None
    inspection_id: strawberry.ID | None = None
    escalation_id: strawberry.ID | None = None
    agency_id: strawberry.ID | None = None
    subject_type: str | None = None
    subject_id: strawberry.ID | None = None


@strawberry.input(description="Narrow the export list.")
class ExportJobFilter:
    kind: ExportKind | None = None  # type: ignore[valid-type]
    status: ExportStatus | None = None
    mine: bool | None = None


@strawberry.input(description="Issue a document of `kind` about `subjectId`: an inspection (bulletin, report), a "
                               "feedback (rectification notice), an escalation rung (supervision letter, interview "
                               "notice) or a clue transfer (clue transfer letter). The rest is optional.")
class IssueDocumentInput:
    kind: DocumentKind  # type: ignore[valid-type]
    subject_id: strawberry.ID
    title: str | None = None
    recipients: str | None = strawberry.field(default=None, description="主送机关, replacing the composed one.")
    body: str | None = strawberry.field(default=None, description="Replaces the composed body: a paragraph per line; "
                                                                  "lines starting 一、 or （一） are headings.")
    copy_to: str | None = strawberry.field(default=None, description="抄送机关 (bulletins).")
    issued_on: dt.date | None = strawberry.field(default=None, description="成文日期 (today or earlier); its year numbers it.")
    interview_at: str | None = None
    interview_place: str | None = None


@strawberry.input(description="What an export holds. The caller must be able to see every row chosen.")
class ExportParams:
    region_code: str | None = strawberry.field(default=None, description="The region whose rows (default: the caller's "
                                                                         "tenant's region).")
    year: int | None = None
    inspection_id: strawberry.ID | None = None
    agency_id: strawberry.ID | None = None
    status: str | None = strawberry.field(default=None, description="A problem instance status or clue state code.")
    options: JSON | None = strawberry.field(default=None, description="Kind-specific options (roll-ups, task lists).")


@strawberry.input(description="Request an export; it runs in the background (poll exportJob for progress).")
class RequestExportInput:
    kind: ExportKind  # type: ignore[valid-type]
    params: ExportParams | None = None


@strawberry.input(description="Replace a kind's standard frame with the tenant's own .docx template.")
class UploadTemplateInput:
    kind: DocumentKind  # type: ignore[valid-type]
    name: str
    content_base64: str
    tenant_id: strawberry.ID | None = None


@strawberry.input(description="Change who signs a tenant's documents and how they are numbered; omitted fields stay.")
class DocumentSettingsInput:
    tenant_id: strawberry.ID | None = None
    authority: str | None = None
    header: str | None = None
    prefix: str | None = None
    kind_prefixes: list[KindPrefixInput] | None = None
    arabic_dates: bool | None = None


@strawberry.input
class KindPrefixInput:
    kind: DocumentKind  # type: ignore[valid-type]
    prefix: str
