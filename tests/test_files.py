"""Stored files and evidence: SHA-256 on write and read, limits, sniffing, versions, freezing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from ducha.services import files
from ducha.services.errors import ConflictError, InvalidInput, NotFoundError

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def _office(part: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(f"{part}/document.xml", "<x/>")
    return buf.getvalue()


@pytest.fixture
def backend(tmp_path: Path) -> files.LocalBackend:
    return files.LocalBackend(tmp_path / "blobs")


@pytest.fixture(scope="module")
async def jiayu(db, demo):
    """The Jiayu tenant, its government agency and a problem instance addressed to it."""
    async with db.system_session() as s:
        t = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
        agency = (await s.execute(text(
            "SELECT id FROM agency WHERE tenant_id = :t AND kind = 'government'"), {"t": t})).scalar_one()
        user = (await s.execute(text("SELECT id FROM app_user WHERE tenant_id = :t ORDER BY id LIMIT 1"),
                                {"t": t})).scalar_one()
    return {"tenant": t, "agency": agency, "user": user}


async def _instance(db, jiayu) -> int:
    async with db.system_session() as s:
        pid = (await s.execute(text(
            "INSERT INTO problem (tenant_id, title, category, source, severity, found_on)"
            " VALUES (:t, '行政执法公示不到位', 'enforcement', 'inspection', 'general', current_date) RETURNING id"),
            {"t": jiayu["tenant"]})).scalar_one()
        return (await s.execute(text(
            "INSERT INTO problem_instance (tenant_id, problem_id, agency_id, target_tenant_id, status)"
            " VALUES (:t, :p, :a, :t, 'rectifying') RETURNING id"),
            {"t": jiayu["tenant"], "p": pid, "a": jiayu["agency"]})).scalar_one()


async def _store(db, jiayu, backend, name="整改报告.pdf", ctype="application/pdf", data=PDF):
    async with db.system_session() as s:
        return await files.store(s, tenant_id=jiayu["tenant"], uploaded_by=jiayu["user"], name=name,
                                 content_type=ctype, data=data, backend=backend)


async def test_store_and_read_round_trip(db, jiayu, backend):
    f = await _store(db, jiayu, backend)
    digest = hashlib.sha256(PDF).hexdigest()
    assert (f.sha256, f.size_bytes, f.content_type, f.name) == (digest, len(PDF), "application/pdf", "整改报告.pdf")
    assert f.storage_key == f"{digest[:2]}/{digest[2:4]}/{digest}"
    assert (backend.root / f.storage_key).read_bytes() == PDF
    again = await _store(db, jiayu, backend, name="copy.pdf")
    assert again.id != f.id and again.storage_key == f.storage_key  # one blob, two rows
    async with db.system_session() as s:
        row, data = await files.read(s, jiayu["tenant"], f.id, backend=backend)
        assert data == PDF and row.id == f.id
        with pytest.raises(NotFoundError):
            await files.read(s, jiayu["tenant"], 10**12, backend=backend)


async def test_tampered_or_missing_blob_is_refused_on_read(db, jiayu, backend):
    f = await _store(db, jiayu, backend, data=PDF + b"% tamper test\n")
    path = backend.root / f.storage_key
    path.write_bytes(path.read_bytes().replace(b"tamper", b"TAMPER"))
    async with db.system_session() as s:
        with pytest.raises(files.FileIntegrityError, match="SHA-256"):
            await files.read(s, jiayu["tenant"], f.id, backend=backend)
    path.unlink()
    async with db.system_session() as s:
        with pytest.raises(files.FileIntegrityError, match="missing"):
            await files.read(s, jiayu["tenant"], f.id, backend=backend)


async def test_size_limit(db, jiayu, backend, monkeypatch):
    monkeypatch.setenv("FILES_MAX_BYTES", "100")
    with pytest.raises(InvalidInput) as e:
        await _store(db, jiayu, backend, data=PDF + b"x" * 100)
    assert e.value.field == "data" and "100 bytes" in e.value.message
    assert (await _store(db, jiayu, backend, data=PDF)).size_bytes == len(PDF)
    with pytest.raises(InvalidInput, match="empty"):
        await _store(db, jiayu, backend, data=b"")
    monkeypatch.delenv("FILES_MAX_BYTES")
    assert files.max_bytes() == 20 * 1024 * 1024
    assert not list(backend.root.rglob(".tmp-*"))


@pytest.mark.parametrize(("name", "ctype", "data", "field"), [
    ("fake.pdf", "application/pdf", b"MZ\x90\x00 not a pdf", "data"),
    ("photo.png", "image/png", JPEG, "data"),
    ("photo.jpg", "image/jpeg", PNG, "data"),
    ("report.pdf", "image/png", PNG, "name"),  # a PNG named .pdf
    ("run.exe", "application/x-msdownload", b"MZ\x90\x00", "contentType"),
    ("page.html", "text/html", b"<html></html>", "contentType"),
    ("table.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _office("word"), "data"),
    ("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04junk", "data"),
    ("old.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "Workbook".encode("utf-16-le"), "data"),
    ("note.txt", "text/plain", b"\x00\x01\x02\xff\xfe binary", "data"),
    ("a.zip", "application/zip", b"PK\x03\x04 truncated", "data"),
])
async def test_type_sniffing_refuses_what_is_not_declared(db, jiayu, backend, name, ctype, data, field):
    with pytest.raises(InvalidInput) as e:
        await _store(db, jiayu, backend, name=name, ctype=ctype, data=data)
    assert e.value.field == field, e.value.message
    assert not backend.root.exists() or not any(p.is_file() for p in backend.root.rglob("*"))


@pytest.mark.parametrize(("name", "ctype", "data"), [
    ("scan.JPG", "image/jpg", JPEG),
    ("scan.png", "image/png", PNG),
    ("整改方案.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _office("word")),
    ("台账.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _office("xl")),
    ("旧.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le")),
    ("旧.xls", "application/vnd.ms-excel", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "Workbook".encode("utf-16-le")),
    ("材料.zip", "application/x-zip-compressed", _office("anything")),
    ("说明.txt", "text/plain; charset=utf-8", "整改已完成".encode()),
    ("说明gbk.txt", "text/plain", "整改已完成".encode("gbk")),
    ("report.pdf", "Application/PDF", PDF),
])
async def test_accepted_types(db, jiayu, backend, name, ctype, data):
    f = await _store(db, jiayu, backend, name=name, ctype=ctype, data=data)
    assert f.content_type in files.TYPES


@pytest.mark.parametrize(("raw", "clean"), [
    ("C:\\fakepath\\整改报告.pdf", "整改报告.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("a\x00b\r\n.pdf", "ab.pdf"),
    ("invoice\u202efdp.exe.pdf", "invoicefdp.exe.pdf"),  # no right-to-left override
    ("  two   spaces .pdf ", "two spaces .pdf"),
    ("...hidden.pdf", "hidden.pdf"),
    ('what?<is>"this".pdf', "what__is__this_.pdf"),
    ("e\u0301.pdf", "\u00e9.pdf"),  # NFC
])
def test_names_are_sanitised(raw, clean):
    assert files.clean_name(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "..", "dir/", "\x00\x01", "x" * 197 + ".pdf"])
def test_bad_names_are_refused(raw):
    with pytest.raises(InvalidInput) as e:
        files.clean_name(raw)
    assert e.value.field == "name"


def test_a_name_of_200_characters_passes():
    assert len(files.clean_name("x" * 196 + ".pdf")) == 200


async def test_evidence_slot_versions_and_freezing(db, jiayu, backend):
    inst = await _instance(db, jiayu)
    t, agency = jiayu["tenant"], jiayu["agency"]
    f1 = await _store(db, jiayu, backend, name="v1.pdf", data=PDF + b"%v1\n")
    f2 = await _store(db, jiayu, backend, name="v2.pdf", data=PDF + b"%v2\n")
    photo = await _store(db, jiayu, backend, name="site.png", ctype="image/png", data=PNG)

    async def add(slot, file):
        async with db.system_session() as s:
            return await files.add_evidence(s, tenant_id=t, instance_id=inst, measure_id=None, agency_id=agency,
                                            target_tenant_id=t, slot=slot, file=file)

    e1 = await add("整改报告", f1)
    e2 = await add(" 整改报告 ", f2.id)  # by id; the slot name is normalised
    e3 = await add("现场照片", photo)
    assert (e1.version, e2.version, e3.version) == (1, 2, 1)
    assert e2.slot == "整改报告" and not e2.frozen
    async with db.system_session() as s:
        # slots in code point order: 整 (U+6574) before 现 (U+73B0)
        assert await files.evidence_hashes(s, t, inst) == [f2.sha256, photo.sha256]
        assert [(e.slot, e.version) for e in await files.latest_evidence(s, t, inst)] == [("整改报告", 2), ("现场照片", 1)]
        assert await files.freeze(s, t, inst) == 3
    with pytest.raises(ConflictError, match="frozen"):
        await add("整改报告", f1)
    async with db.system_session() as s:
        assert await files.freeze(s, t, inst) == 0
        frozen = (await s.execute(text("SELECT bool_and(frozen), count(*) FROM evidence WHERE tenant_id = :t"
                                       " AND instance_id = :i"), {"t": t, "i": inst})).one()
        assert tuple(frozen) == (True, 3)
    # closed out: no slot takes anything, not even a new one
    async with db.system_session() as s:
        await s.execute(text("UPDATE problem_instance SET status = 'closed' WHERE tenant_id = :t AND id = :i"),
                        {"t": t, "i": inst})
    with pytest.raises(ConflictError, match="closed out"):
        await add("补充材料", photo)
    # reopened by look-back (a rebound): new versions go on top; the frozen ones stay frozen
    async with db.system_session() as s:
        await s.execute(text("UPDATE problem_instance SET status = 'reopened' WHERE tenant_id = :t AND id = :i"),
                        {"t": t, "i": inst})
    e4 = await add("整改报告", f1)
    assert (e4.version, e4.frozen) == (3, False)
    async with db.system_session() as s:
        rows = (await s.execute(text("SELECT version, frozen FROM evidence WHERE tenant_id = :t AND instance_id = :i"
                                     " AND slot = '整改报告' ORDER BY version"), {"t": t, "i": inst})).all()
        assert [tuple(r) for r in rows] == [(1, True), (2, True), (3, False)]


async def test_a_new_version_waits_for_a_freeze_in_progress(db, jiayu, backend):
    inst = await _instance(db, jiayu)
    t, agency = jiayu["tenant"], jiayu["agency"]
    f = await _store(db, jiayu, backend)

    async def add():
        async with db.system_session() as s:
            return await files.add_evidence(s, tenant_id=t, instance_id=inst, measure_id=None, agency_id=agency,
                                            target_tenant_id=t, slot="报告", file=f)

    await add()
    async with db.system_session() as s:
        assert await files.freeze(s, t, inst) == 1
        late = asyncio.create_task(add())  # acceptance is passing in this transaction
        await asyncio.sleep(0.3)
        assert not late.done()  # it queues behind the freeze instead of slipping past it
    with pytest.raises(ConflictError):
        await late


async def test_evidence_input_is_checked(db, jiayu, backend):
    inst = await _instance(db, jiayu)
    t, agency = jiayu["tenant"], jiayu["agency"]
    f = await _store(db, jiayu, backend)
    base = dict(tenant_id=t, instance_id=inst, measure_id=None, agency_id=agency, target_tenant_id=t,
                slot="报告", file=f)
    cases = [
        (dict(slot=""), InvalidInput, "slot"),
        (dict(slot="x" * 101), InvalidInput, "slot"),
        (dict(slot="a\nb\u200b"), InvalidInput, "slot"),
        (dict(agency_id=agency + 1), InvalidInput, "agencyId"),
        (dict(target_tenant_id=t + 1), InvalidInput, "targetTenantId"),
        (dict(measure_id=10**12), InvalidInput, "measureId"),
        (dict(instance_id=10**12), NotFoundError, None),
        (dict(file=10**12), NotFoundError, None),
    ]
    for change, exc, field in cases:
        async with db.system_session() as s:
            with pytest.raises(exc) as e:
                await files.add_evidence(s, **{**base, **change})
            if field:
                assert e.value.field == field, change


async def test_a_target_unit_uploads_evidence_and_reads_it_back(db, jiayu, backend):
    from ducha.tenants.scope import Scope

    inst = await _instance(db, jiayu)
    t, agency = jiayu["tenant"], jiayu["agency"]
    # the unit's own scope: its agency only, no tenant as a whole
    unit = Scope(user_id=jiayu["user"], home_tenant_id=t, agency_ids=frozenset({agency}))
    async with db.scoped(unit) as s:
        f = await files.store(s, tenant_id=t, uploaded_by=jiayu["user"], name="照片.png", content_type="image/png",
                              data=PNG + b"unit", agency_id=agency, target_tenant_id=t, backend=backend)
        e = await files.add_evidence(s, tenant_id=t, instance_id=inst, measure_id=None, agency_id=agency,
                                     target_tenant_id=t, slot="照片", file=f)
        assert e.version == 1
    async with db.scoped(unit) as s:
        assert (await files.read(s, t, f.id, backend=backend))[1] == PNG + b"unit"
        assert await files.evidence_hashes(s, t, inst) == [f.sha256]
    office_file = await _store(db, jiayu, backend, name="internal.pdf")
    async with db.scoped(unit) as s:
        with pytest.raises(NotFoundError):  # an office file without the unit on it stays hidden
            await files.read(s, t, office_file.id, backend=backend)
    async with db.system_session() as s:
        other_unit = (await s.execute(text("SELECT id FROM agency WHERE tenant_id = :t AND kind = 'court'"),
                                      {"t": t})).scalar_one()
        g = await files.store(s, tenant_id=t, uploaded_by=None, name="c.png", content_type="image/png", data=PNG,
                              agency_id=other_unit, target_tenant_id=t, backend=backend)
        with pytest.raises(InvalidInput) as err:
            await files.add_evidence(s, tenant_id=t, instance_id=inst, measure_id=None, agency_id=agency,
                                     target_tenant_id=t, slot="照片", file=g)
        assert err.value.field == "file"


async def test_the_api_role_sees_files_of_its_tenant_only(db, jiayu, backend):
    from ducha.tenants.scope import Scope

    f = await _store(db, jiayu, backend)
    mine = Scope(user_id=jiayu["user"], home_tenant_id=jiayu["tenant"], tenant_ids=frozenset({jiayu["tenant"]}))
    other = Scope(user_id=jiayu["user"], home_tenant_id=jiayu["tenant"], tenant_ids=frozenset({jiayu["tenant"] + 1}))
    async with db.scoped(mine) as s:
        assert (await files.read(s, jiayu["tenant"], f.id, backend=backend))[1] == PDF
        g = await files.store(s, tenant_id=jiayu["tenant"], uploaded_by=jiayu["user"], name="x.txt",
                              content_type="text/plain", data=b"ok", backend=backend)
        assert g.id
    async with db.scoped(other) as s:
        with pytest.raises(NotFoundError):
            await files.read(s, jiayu["tenant"], f.id, backend=backend)


class _FailingBackend(files.LocalBackend):
    """Writes half of the data, then the disk is full."""

    def _write(self, f, data):
        f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")


def test_local_backend_leaves_no_partial_file(tmp_path, monkeypatch):
    data = os.urandom(3 * files.LocalBackend.CHUNK + 17)
    key = files.storage_key(hashlib.sha256(data).hexdigest())
    failing = _FailingBackend(tmp_path)
    with pytest.raises(OSError, match="No space"):
        failing.put(key, data)
    assert not failing.exists(key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

    ok = files.LocalBackend(tmp_path)

    def crash(fd):  # power lost before the data reached the disk: nothing may be renamed
        raise OSError(5, "I/O error")

    monkeypatch.setattr(files.os, "fsync", crash)
    with pytest.raises(OSError, match="I/O"):
        ok.put(key, data)
    assert not ok.exists(key) and [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    ok.put(key, data)
    assert ok.get(key) == data and [p.name for p in tmp_path.rglob("*") if p.is_file()] == [key.rsplit("/")[-1]]
    ok.put(key, data)  # the same content again: still one file
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1


def test_keys_cannot_escape_the_root(tmp_path):
    be = files.LocalBackend(tmp_path)
    for key in ("../x", "/etc/passwd", "ab/cd/" + "0" * 64 + "/..", "AB/CD/" + "A" * 64):
        with pytest.raises(ValueError):
            be.put(key, b"x")


def test_get_backend_from_the_environment(monkeypatch, tmp_path):
    from ducha.settings import get_settings

    monkeypatch.delenv("FILES_BACKEND", raising=False)
    be = files.get_backend()
    assert isinstance(be, files.LocalBackend) and be.root == get_settings().data_dir / "files"
    monkeypatch.setenv("FILES_BACKEND", "s3")
    monkeypatch.delenv("FILES_S3_BUCKET", raising=False)
    with pytest.raises(RuntimeError, match="FILES_S3_BUCKET"):
        files.get_backend()
    monkeypatch.setenv("FILES_BACKEND", "ftp")
    with pytest.raises(RuntimeError, match="local' or 's3"):
        files.get_backend()
    monkeypatch.setenv("FILES_MAX_BYTES", "lots")
    with pytest.raises(RuntimeError, match="FILES_MAX_BYTES"):
        files.max_bytes()


@pytest.fixture
def s3(monkeypatch):
    moto = pytest.importorskip("moto", reason="moto[s3] is not installed (pip install -e '.[dev]')")
    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="evidence")
        yield


def test_s3_backend_put_get_exists(s3):
    be = files.S3Backend("evidence", None, prefix="ducha")
    key = files.storage_key(hashlib.sha256(PDF).hexdigest())
    assert not be.exists(key)
    be.put(key, PDF)
    assert be.exists(key) and be.get(key) == PDF
    assert be.client.head_object(Bucket="evidence", Key="ducha/" + key)["ContentLength"] == len(PDF)
    with pytest.raises(FileNotFoundError):
        be.get(files.storage_key("0" * 64))


async def test_store_and_read_through_s3(db, jiayu, s3, monkeypatch):
    monkeypatch.setenv("FILES_BACKEND", "s3")
    monkeypatch.setenv("FILES_S3_BUCKET", "evidence")
    files._backend.cache_clear()
    try:
        be = files.get_backend()
        assert isinstance(be, files.S3Backend)
        f = await _store(db, jiayu, None, name="s3.pdf")
        async with db.system_session() as s:
            assert (await files.read(s, jiayu["tenant"], f.id))[1] == PDF
        be.client.put_object(Bucket="evidence", Key=f.storage_key, Body=PDF + b"x")
        async with db.system_session() as s:
            with pytest.raises(files.FileIntegrityError):
                await files.read(s, jiayu["tenant"], f.id)
    finally:
        files._backend.cache_clear()
