"""infra/fastread.py: the driver-SQL dataloader statements return exactly the rows of the ORM
statement with the app's filters that they replace, for every visibility mode and for callers
at every level (and with the filters off, RLS alone)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ducha import fastread
from ducha.policies import filters
from ducha.services import models as sm
from ducha.tenants import models as m
from ducha.tenants.auth import load_identity

LOGINS = ["hubei.office", "xianning.office", "jiayu.office", "jiayu.xinjie", "jiayu.court", "hubei.justice", "yunxi.office"]


def _orm(scope, model, mode, col):
    if mode == fastread.OWNER:
        return filters.tenant_visible(scope, model.tenant_id)
    if mode == fastread.OWNER_OR_AGENCY:
        return filters.tenant_visible(scope, model.tenant_id, agency_col=model.id)
    if mode == fastread.ADDRESSED:
        return filters.addressed_visible(scope, model.tenant_id, model.target_tenant_id, model.agency_id)
    if mode == fastread.TENANT_IDS:
        return filters.ids_visible(scope, model.id, home=True)
    if mode == fastread.REGION:
        return filters.region_visible(scope, model.path)
    raise AssertionError(mode)


CASES = [
    (m.Agency, "id", fastread.OWNER_OR_AGENCY),
    (m.Tenant, "id", fastread.TENANT_IDS),
    (m.Tenant, "region_code", fastread.TENANT_IDS),
    (m.Region, "code", fastread.REGION),
    (m.Region, "parent_code", fastread.REGION),
    (sm.ProblemInstance, "id", fastread.ADDRESSED),
    (sm.InspectionTarget, "inspection_id", fastread.ADDRESSED),
    (sm.TeamNote, "inspection_id", fastread.OWNER),
    (sm.Measure, "instance_id", fastread.ADDRESSED),
]


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize(("model", "key", "mode"), CASES, ids=[f"{c[0].__name__}.{c[1]}" for c in CASES])
async def test_the_driver_sql_rows_are_the_orm_rows(db, demo, model, key, mode, enabled):
    from ducha.services.demo_scenario import seed_scenario

    async with db.system_session() as s:
        if not (await s.execute(select(sm.ProblemInstance.id).limit(1))).first():
            await seed_scenario(s)
        keys = sorted({getattr(r, key) for r in (await s.execute(select(model))).scalars() if getattr(r, key) is not None})
        idents = [await load_identity(s, login) for login in LOGINS]
    assert keys
    cols = [p.key for p in model.__mapper__.column_attrs]
    seen = []
    filters.set_enabled(enabled)
    try:
        for ident in idents:
            async with db.scoped(ident.scope) as s:
                col = getattr(model, key)
                want = [tuple(getattr(r, c) for c in cols) for r in (await s.execute(
                    select(model).where(col.in_(keys), _orm(ident.scope, model, mode, col)).order_by(*model.__mapper__.primary_key)
                )).scalars()]
                got = await fastread.rows(s, ident.scope, model, {key: keys}, visibility=mode)
                got_t = sorted(tuple(getattr(r, c) for c in cols) for r in got)
                assert got_t == sorted(want), (ident.principal.login, model.__name__, mode)
                seen.append(len(got_t))
    finally:
        filters.set_enabled(True)
    assert max(seen) > 0, "no caller saw any row: the comparison proved nothing"


async def test_rows_are_ordered_and_keyed_by_several_columns(db, demo):
    async with db.system_session() as s:
        ident = await load_identity(s, "jiayu.office")
        tenant = ident.scope.home_tenant_id
        ids = [r[0] for r in (await s.execute(select(m.Agency.id).where(m.Agency.tenant_id == tenant)))]
    async with db.scoped(ident.scope) as s:
        rows = await fastread.rows(s, ident.scope, m.Agency, {"tenant_id": [tenant], "id": ids},
                                   visibility=fastread.OWNER_OR_AGENCY, order="name")
    assert [r.name for r in rows] == sorted(r.name for r in rows) or len(rows) == len(ids)
    assert {r.id for r in rows} == set(ids) and all(r.tenant_id == tenant for r in rows)


def test_a_statement_is_one_text_whatever_the_batch_size():
    sql1, args = fastread._statement(m.Agency, (("id", "bigint"),), fastread.OWNER_OR_AGENCY, None, True)
    assert "= ANY($1::bigint[])" in sql1 and args == ("tenants", "agencies")
    assert " IN (" not in sql1
    off, none = fastread._statement(m.Agency, (("id", "bigint"),), fastread.OWNER_OR_AGENCY, None, False)
    assert none == () and "$2" not in off  # filters off: RLS alone


def test_only_plain_column_mappings_are_taken():
    from sqlalchemy import Integer, func
    from sqlalchemy.orm import DeclarativeBase, column_property, mapped_column

    class B(DeclarativeBase):
        pass

    class Odd(B):
        __tablename__ = "odd"
        id = mapped_column(Integer, primary_key=True)
        renamed = mapped_column("Real Name", Integer)
        stamped = column_property(func.now())

    with pytest.raises(TypeError, match="not a plain column"):
        fastread._columns(Odd)

    class Renamed(B):
        __tablename__ = "renamed"
        id = mapped_column(Integer, primary_key=True)
        renamed = mapped_column("Real Name", Integer)

    table, cols = fastread._columns(Renamed)
    assert table == "renamed" and 't."Real Name" AS renamed' in cols
