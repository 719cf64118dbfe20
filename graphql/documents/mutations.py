"""Document and export mutations: issueDocument, requestExport, uploadDocumentTemplate,
removeDocumentTemplate, setDocumentSettings."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import strawberry

from ducha.graphql import mutation
from ducha.graphql.context import Info
from ducha.graphql.documents.types import (
    Document,
    DocumentKind,
    DocumentSettings,
    DocumentSettingsInput,
    DocumentTemplate,
    ExportJob,
    IssueDocumentInput,
    RequestExportInput,
    UploadTemplateInput,
    template_of,
)
from ducha.graphql.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationError, not_allowed
from ducha.services import documents as dsvc, exports as xsvc
from ducha.services.errors import InvalidInput

IssueDocumentResult = Annotated[
    Document | NotAllowed | NotFound | ValidationError | InvalidTransition | Conflict, strawberry.union("IssueDocumentResult")
]
RequestExportResult = Annotated[ExportJob | NotAllowed | ValidationError, strawberry.union("RequestExportResult")]
DocumentTemplateResult = Annotated[
    DocumentTemplate | NotAllowed | NotFound | ValidationError, strawberry.union("DocumentTemplateResult")
]
DocumentSettingsResult = Annotated[
    DocumentSettings | NotAllowed | NotFound | ValidationError, strawberry.union("DocumentSettingsResult")
]

MAX_TEMPLATE_BYTES = 5 * 1024 * 1024


def _id(value: Any, field: str) -> int:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(value)


def _tenant(info: Info, value: Any) -> int:
    return _id(value, "tenantId") if value is not None else info.context.principal.tenant_id


@strawberry.type
class DocumentMutation:
    @strawberry.mutation(description="Issue a document: composed from the data, numbered (发文字号, no gaps), laid out per "
                                     "GB/T 9704-2012 and stored; office staff of the issuing tenant.")
    async def issue_document(self, info: Info, input: IssueDocumentInput) -> IssueDocumentResult:
        ctx = info.context

        async def act() -> Document:
            opts = dsvc.Options(title=input.title, recipients=input.recipients, body=input.body, copy_to=input.copy_to,
                                issued_on=input.issued_on, interview_at=input.interview_at,
                                interview_place=input.interview_place)
            doc = await dsvc.issue(ctx.session, ctx.principal, input.kind.value, _id(input.subject_id, "subjectId"), opts)
            return Document.from_row(doc)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Ask for a ledger as .xlsx; it is produced in the background. Refused (NotAllowed) "
                                     "unless the caller may see every row it would hold.")
    async def request_export(self, info: Info, input: RequestExportInput) -> RequestExportResult:
        ctx = info.context

        async def act() -> Any:
            p = input.params
            region = (p.region_code if p and p.region_code else None)
            if region is None:
                from sqlalchemy import text

                region = (await ctx.session.execute(text("SELECT region_code FROM tenant WHERE id = :t"),
                                                    {"t": ctx.principal.tenant_id})).scalar_one()
            raw = {"regionCode": region, "year": p.year if p else None,
                   "inspectionId": _id(p.inspection_id, "params.inspectionId") if p and p.inspection_id else None,
                   "agencyId": _id(p.agency_id, "params.agencyId") if p and p.agency_id else None,
                   "status": p.status if p else None, "options": (p.options if p and p.options else {})}
            try:
                job = await xsvc.request(ctx.session, ctx.db.system_session, ctx.principal, ctx.scope, input.kind.value, raw)
            except xsvc.NotCovered as e:
                # checked before anything is written: returning leaves nothing behind
                return not_allowed(e.action, e.resource, "你无权导出：导出内容中有你无权查看的数据 "
                                                          "(not allowed: you may not see every row of this export)")
            return ExportJob.from_row(job, ctx.principal.user_id)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Replace a kind's standard frame by the tenant's own .docx with placeholders "
                                     "({{number}}, {{title}}, {{body}}, ...; see documentTemplates.placeholders).")
    async def upload_document_template(self, info: Info, input: UploadTemplateInput) -> DocumentTemplateResult:
        ctx = info.context

        async def act() -> DocumentTemplate:
            if len(input.content_base64) > MAX_TEMPLATE_BYTES * 4 // 3 + 4:
                raise InvalidInput("contentBase64", f"a template is at most {MAX_TEMPLATE_BYTES} bytes")
            try:
                data = base64.b64decode(input.content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("contentBase64", "not base64") from None
            tid = _tenant(info, input.tenant_id)
            row = await dsvc.upload_template(ctx.session, ctx.principal, tid, input.kind.value, name=input.name, data=data)
            return template_of(tid, input.kind.value, row)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Go back to the standard frame of a kind.")
    async def remove_document_template(self, info: Info, kind: DocumentKind,  # type: ignore[valid-type]
                                       tenant_id: strawberry.ID | None = None) -> DocumentTemplateResult:
        ctx = info.context

        async def act() -> DocumentTemplate:
            code = kind.value
            tid = _tenant(info, tenant_id)
            await dsvc.remove_template(ctx.session, ctx.principal, tid, code)
            return template_of(tid, code, None)

        return await mutation.run(info, act)

    @strawberry.mutation(description="Set who signs a tenant's documents and how their numbers read (office admins).")
    async def set_document_settings(self, info: Info, input: DocumentSettingsInput) -> DocumentSettingsResult:
        ctx = info.context

        async def act() -> DocumentSettings:
            kp = {p.kind.value: p.prefix for p in input.kind_prefixes} if input.kind_prefixes is not None else None
            st = await dsvc.set_settings(ctx.session, ctx.principal, _tenant(info, input.tenant_id),
                                         authority=input.authority, header=input.header, prefix=input.prefix,
                                         kind_prefixes=kp, arabic_dates=input.arabic_dates)
            return DocumentSettings.of(st)

        return await mutation.run(info, act)
