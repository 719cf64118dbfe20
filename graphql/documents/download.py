"""GET /files/{token}: a document or an export through a short-lived signed link.

The link names the user it was made for; the download loads that user's identity as it is
now and hands the file out only if its scope still covers every row of the file. Answers:
200 the file (audited, one entry per download), 403 a forged, tampered or malformed link or
a user who may no longer see everything in it, 404 nothing (left) behind the link, 409 an
export not done, 410 an expired link.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ducha.services import audit, documents, exports, files, links
from ducha.tenants.auth import AuthError, load_identity


def _fail(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _disposition(name: str) -> str:
    # an ASCII fallback for old clients, the real (Chinese) name as RFC 5987 filename*
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: Request) -> Response:
    rt = request.app.state.runtime
    token = request.path_params["token"]
    try:
        claims = links.verify(token)
    except links.LinkExpired as e:
        return _fail(410, "LINK_EXPIRED", str(e))
    except links.LinkError as e:
        return _fail(403, "LINK_INVALID", str(e))
    ident = rt.identities.get(claims.login)
    try:
        if ident is None:
            async with rt.db.system_session() as s:
                ident = await load_identity(s, claims.login)
            rt.identities.put(claims.login, ident)
    except AuthError as e:
        return _fail(403, "FORBIDDEN", e.message)
    async with rt.db.system_session() as s:
        if claims.kind == "document":
            doc = await s.get(documents.Document, (claims.tenant_id, claims.id))
            if doc is None:
                return _fail(404, "NOT_FOUND", "no such document")
            allowed = exports.may_download(ident.scope, doc.coverage)
            file_id, sha = doc.file_id, doc.sha256
        else:
            job = await s.get(exports.ExportJob, (claims.tenant_id, claims.id))
            if job is None:
                return _fail(404, "NOT_FOUND", "no such export")
            if job.status != "done" or job.file_id is None:
                return _fail(409, "NOT_READY", f"the export is {job.status}")
            allowed = exports.may_download(ident.scope, job.coverage, job.scope_fingerprint)
            file_id, sha = job.file_id, job.sha256
        if not allowed:
            return _fail(403, "NOT_ALLOWED", "you may not see every row of this file")
        try:
            stored, data = await files.read(s, claims.tenant_id, file_id)
        except files.FileIntegrityError as e:
            return _fail(409, "INTEGRITY", str(e))
        await audit.record(s, tenant_id=claims.tenant_id, actor_id=ident.principal.user_id,
                           action=f"{claims.kind}.download", subject_type="document" if claims.kind == "document"
                           else "export_job", subject_id=claims.id, before=None,
                           after={"sha256": sha, "size_bytes": stored.size_bytes, "login": claims.login,
                                  "link_expires_at": claims.expires_at})
    return Response(data, media_type=stored.content_type, headers={
        "Content-Disposition": _disposition(stored.name),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{stored.sha256}"',
    })
