"""Document and export queries: documents, document, templates, settings, exportJobs, exportJob."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy import and_, func, or_, select, text

from ducha.graphql import pagination
from ducha.graphql.context import Info
from ducha.graphql.directory.queries import bad_input, parse_id
from ducha.graphql.documents.types import (
    Document,
    DocumentFilter,
    DocumentSettings,
    DocumentTemplate,
    ExportJob,
    ExportJobFilter,
    template_of,
)
from ducha.graphql.errors import NotFound, ValidationError, invalid, not_found
from ducha.policies import filters
from ducha.services import documents as dsvc, exports as xsvc

DocumentResult = Annotated[Document | NotFound | ValidationError, strawberry.union("DocumentResult")]
ExportJobResult = Annotated[ExportJob | NotFound | ValidationError, strawberry.union("ExportJobResult")]


def _page(info: Info, first: int, after: str | None, kind: str) -> tuple[int, int | None]:
    try:
        return pagination.check_first(first, info.context.settings.max_page_size), pagination.decode_cursor(kind, after)
    except pagination.PageError as e:
        raise bad_input(e.field, str(e)) from None


def document_visible(info: Info):  # type: ignore[no-untyped-def]
    d = dsvc.Document
    return filters.addressed_visible(info.context.scope, d.tenant_id, d.target_tenant_id, d.agency_id)


def export_visible(info: Info):  # type: ignore[no-untyped-def]
    j = xsvc.ExportJob
    ctx = info.context
    if not filters.enabled():
        return j.id.is_not(None)
    return or_(filters.tenant_visible(ctx.scope, j.tenant_id), j.requested_by == ctx.principal.user_id)


async def _tenant(info: Info, tenant_id: strawberry.ID | None) -> int | None:
    """The tenant asked about (default: the caller's), if the caller sees it as a whole."""
    ctx = info.context
    tid = parse_id(tenant_id, "tenantId") if tenant_id is not None else ctx.principal.tenant_id
    assert tid is not None
    if filters.enabled() and tid not in ctx.scope.tenant_ids:
        return None
    seen = (await ctx.session.execute(text("SELECT 1 FROM tenant WHERE id = :t AND id = ANY(ducha_tenant_ids())"),
                                      {"t": tid})).first()
    return tid if seen else None


@strawberry.type
class DocumentQuery:
    @strawberry.field(description="Issued documents the caller may see (its offices', or addressed to its unit), by id.")
    async def documents(self, info: Info, first: int = 20, after: str | None = None,
                        filter: DocumentFilter | None = None) -> pagination.Connection[Document]:
        n, after_id = _page(info, first, after, "document")
        d = dsvc.Document
        conds = [document_visible(info)]
        f = filter or DocumentFilter()
        if f.kind is not None:
            conds.append(d.kind == f.kind.value)
        if f.year is not None:
            conds.append(d.year == f.year)
        for col, value, name in ((d.tenant_id, f.tenant_id, "filter.tenantId"),
                                 (d.inspection_id, f.inspection_id, "filter.inspectionId"),
                                 (d.escalation_id, f.escalation_id, "filter.escalationId"),
                                 (d.agency_id, f.agency_id, "filter.agencyId"),
                                 (d.subject_id, f.subject_id, "filter.subjectId")):
            if value is not None:
                conds.append(col == parse_id(value, name))
        if f.subject_type is not None:
            if len(f.subject_type) > 40:
                raise bad_input("filter.subjectType", "at most 40 characters")
            conds.append(d.subject_type == f.subject_type)
        ctx = info.context
        page = [*conds, d.id > after_id] if after_id is not None else conds
        rows = (await ctx.session.execute(select(d).where(and_(*page)).order_by(d.id).limit(n + 1))).scalars().all()

        async def count() -> int:
            return int((await ctx.session.execute(select(func.count()).select_from(d).where(and_(*conds)))).scalar_one())

        return pagination.build("document", [Document.from_row(r) for r in rows], n, lambda x: int(x.id), count, after_id)

    @strawberry.field(description="One document, if the caller may see it.")
    async def document(self, info: Info, id: strawberry.ID) -> DocumentResult:
        if not str(id).isdigit() or len(str(id)) > 18:
            return invalid("id", "a numeric id")
        d = dsvc.Document
        row = (await info.context.session.execute(select(d).where(d.id == int(id), document_visible(info)))).scalar_one_or_none()
        return Document.from_row(row) if row else not_found("Document", str(id))

    @strawberry.field(description="The template of each kind of a tenant the caller sees (default: its own): "
                                  "the tenant's own where uploaded, else the standard one.")
    async def document_templates(self, info: Info, tenant_id: strawberry.ID | None = None) -> list[DocumentTemplate]:
        tid = await _tenant(info, tenant_id)
        if tid is None:
            return []
        t = dsvc.Template
        rows = {r.kind: r for r in (await info.context.session.execute(select(t).where(
            t.tenant_id == tid, filters.tenant_visible(info.context.scope, t.tenant_id)))).scalars()}
        return [template_of(tid, k, rows.get(k)) for k in dsvc.KINDS]

    @strawberry.field(description="Who signs a tenant's documents and how they are numbered (default: the caller's "
                                  "tenant); null for a tenant the caller does not see as a whole.")
    async def document_settings(self, info: Info, tenant_id: strawberry.ID | None = None) -> DocumentSettings | None:
        tid = await _tenant(info, tenant_id)
        if tid is None:
            return None
        return DocumentSettings.of(await dsvc.get_settings(info.context.session, tid))

    @strawberry.field(description="Exports the caller requested, or of its offices' tenants, newest last.")
    async def export_jobs(self, info: Info, first: int = 20, after: str | None = None,
                          filter: ExportJobFilter | None = None) -> pagination.Connection[ExportJob]:
        n, after_id = _page(info, first, after, "export")
        j = xsvc.ExportJob
        ctx = info.context
        conds = [export_visible(info)]
        f = filter or ExportJobFilter()
        if f.kind is not None:
            conds.append(j.kind == f.kind.value)
        if f.status is not None:
            conds.append(j.status == f.status.value)
        if f.mine is not None:
            conds.append(j.requested_by == ctx.principal.user_id if f.mine else j.requested_by != ctx.principal.user_id)
        page = [*conds, j.id > after_id] if after_id is not None else conds
        rows = (await ctx.session.execute(select(j).where(and_(*page)).order_by(j.id).limit(n + 1))).scalars().all()

        async def count() -> int:
            return int((await ctx.session.execute(select(func.count()).select_from(j).where(and_(*conds)))).scalar_one())

        uid = ctx.principal.user_id
        return pagination.build("export", [ExportJob.from_row(r, uid) for r in rows], n, lambda x: int(x.id), count,
                                after_id)

    @strawberry.field(description="One export with its progress and, once done, a fresh signed download link.")
    async def export_job(self, info: Info, id: strawberry.ID) -> ExportJobResult:
        if not str(id).isdigit() or len(str(id)) > 18:
            return invalid("id", "a numeric id")
        j = xsvc.ExportJob
        ctx = info.context
        row = (await ctx.session.execute(select(j).where(j.id == int(id), export_visible(info))
                                         .execution_options(populate_existing=True))).scalar_one_or_none()
        return ExportJob.from_row(row, ctx.principal.user_id) if row else not_found("ExportJob", str(id))
