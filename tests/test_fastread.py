"""infra/fastread.py: the driver-SQL dataloader statements return exactly the rows of the ORM
statement with the app's filters that they replace, for every visibility mode and for callers
at every level (and with the filters off, RLS alone)."""

from __future__ import annotations

import pytest
from sqlalchemy import and_, exists, func, select, true

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
    if mode == fastread.INSPECTION:
        from ducha.graphql.inspection.queries import inspection_visible_for

        return inspection_visible_for(scope) if filters.enabled() else true()
    if mode == fastread.INSTANCE:
        from ducha.graphql.inspection.queries import instance_visible_for

        return instance_visible_for(scope) if filters.enabled() else true()
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
    (sm.Inspection, "id", fastread.INSPECTION),
    (sm.ProblemInstance, "id", fastread.INSTANCE),
    (sm.Feedback, "id", fastread.ADDRESSED),
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


# The list queries' pages and totals (agencies, inspections, feedback) against the ORM
# statements they replaced: every login, filters on and off, with and without a cursor.

def _page_cases(some_agencies: list[int]):
    from ducha.graphql.inspection.queries import inspection_visible_for

    A, I, F, T = m.Agency, sm.Inspection, sm.Feedback, sm.InspectionTarget
    col = fastread.col
    agency_vis = lambda s: filters.tenant_visible(s, A.tenant_id, agency_col=A.id)  # noqa: E731
    return [
        ("agencies", A, fastread.OWNER_OR_AGENCY, agency_vis, [], []),
        ("agencies/kind+name", A, fastread.OWNER_OR_AGENCY, agency_vis,
         [(f"{col(A, 'kind')} = {{}}", "town"), (f"{col(A, 'name')} LIKE {{}} ESCAPE '\\'", "%镇%")],
         [A.kind == "town", A.name.like("%镇%", escape="\\")]),
        ("agencies/region", A, fastread.OWNER_OR_AGENCY, agency_vis,
         [(f"({col(A, 'region_path')} || '/') LIKE {{}}", "420000/421200/%")],
         [(A.region_path + "/").like("420000/421200/%")]),
        ("inspections", I, fastread.INSPECTION, inspection_visible_for, [], []),
        ("inspections/year+target", I, fastread.INSPECTION, inspection_visible_for,
         [(f"{col(I, 'year')} = {{}}", 2024),
          ("EXISTS (SELECT 1 FROM inspection_target AS y WHERE y.tenant_id = t.tenant_id AND y.inspection_id = t.id"
           " AND y.agency_id = ANY({}))", some_agencies)],
         [I.year == 2024,
          exists().where(T.tenant_id == I.tenant_id, T.inspection_id == I.id, T.agency_id.in_(some_agencies))]),
        ("feedback", F, fastread.ADDRESSED,
         lambda s: filters.addressed_visible(s, F.tenant_id, F.target_tenant_id, F.agency_id), [], []),
    ]


@pytest.mark.parametrize("enabled", [True, False])
async def test_pages_and_counts_are_the_orm_pages_and_counts(db, demo, enabled):
    from ducha.services.demo_scenario import seed_scenario

    async with db.system_session() as s:
        if not (await s.execute(select(sm.ProblemInstance.id).limit(1))).first():
            await seed_scenario(s)
        idents = [await load_identity(s, login) for login in LOGINS]
        targets = sorted({r[0] for r in await s.execute(select(sm.InspectionTarget.agency_id))})
    assert targets
    seen = 0
    filters.set_enabled(enabled)
    try:
        for name, model, mode, vis, snippets, orm_conds in _page_cases(targets[::2]):
            for ident in idents:
                async with db.scoped(ident.scope) as s:
                    args = fastread.Args()
                    w = [snippet.replace("{}", args(value)) for snippet, value in snippets]
                    conds = [*orm_conds, vis(ident.scope)]
                    want_all = [r.id for r in (await s.execute(select(model).where(*conds).order_by(model.id))).scalars()]
                    want_count = (await s.execute(select(func.count()).select_from(model).where(and_(true(), *conds)))).scalar_one()
                    got_count = await fastread.count(s, ident.scope, model, visibility=mode, where=w, args=args)
                    assert got_count == want_count == len(want_all), (name, ident.principal.login)
                    for after in [None, *want_all[:2]]:
                        got = await fastread.page(s, ident.scope, model, visibility=mode, where=w, args=args,
                                                  after=after, limit=3)
                        want = [i for i in want_all if after is None or i > after][:3]
                        assert [r.id for r in got] == want, (name, ident.principal.login, after)
                    seen += len(want_all)
    finally:
        filters.set_enabled(True)
    assert seen > 0, "no caller saw any row: the comparison proved nothing"


def test_a_one_value_scope_is_written_as_equality_so_the_page_keeps_index_order():
    from ducha.tenants.scope import Scope

    one = Scope(user_id=1, home_tenant_id=7, tenant_ids=frozenset({7}), agency_ids=frozenset({3, 4}),
                region_prefixes=frozenset({"420000/421200"}), read_only=False)
    args = fastread.Args()
    pred = fastread._scoped_predicate(sm.Feedback, fastread.ADDRESSED, one, args)
    assert "t.tenant_id = $1::bigint" in pred and "t.agency_id = ANY($2::bigint[])" in pred
    assert args.values == [7, [3, 4]]


async def test_driver_statements_are_heard_by_sqlalchemy_listeners_and_fail_as_sqlalchemy_errors(db, demo):
    """fastread runs its SELECTs on the asyncpg connection under the session; the engine's
    before_cursor_execute listeners still see each one, rows read by attribute and by index,
    and a failing statement surfaces as SQLAlchemy's DBAPIError (translated, as before)."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    async with db.system_session() as s:
        ident = await load_identity(s, "jiayu.office")
    heard: list[str] = []

    def listen(conn, cursor, statement, *_):
        heard.append(statement)

    event.listen(db.app.sync_engine, "before_cursor_execute", listen)
    try:
        async with db.scoped(ident.scope) as s:
            got = await fastread.rows(s, ident.scope, m.Agency, {"tenant_id": [ident.scope.home_tenant_id]},
                                      visibility=fastread.OWNER, order="id")
            assert got and got[0].tenant_id == got[0][1] == ident.scope.home_tenant_id
            with pytest.raises(AttributeError):
                got[0].no_such_column  # noqa: B018
            n = await fastread.count(s, ident.scope, m.Agency, visibility=fastread.OWNER)
            assert n >= len(got)
        assert sum("FROM agency AS t" in h for h in heard) == 2, heard
        with pytest.raises(DBAPIError, match="division by zero"):
            async with db.scoped(ident.scope) as s:
                await fastread.fetch(s, "SELECT 1/0 AS x", ())
    finally:
        event.remove(db.app.sync_engine, "before_cursor_execute", listen)


async def test_a_statement_run_again_reads_its_columns_through_properties_with_the_same_values(db, demo):
    """After a statement's first run its records come as a class with a property per column:
    the same values by name, by position and by attribute; names that are not columns still
    raise AttributeError, Record's own methods stay methods, a repeated name reads as `r[name]`."""
    async with db.system_session() as s:
        ident = await load_identity(s, "jiayu.office")
    sql = "SELECT t.id, t.name, t.kind AS keys, t.tenant_id AS dup, t.id AS dup FROM agency AS t ORDER BY t.id LIMIT 5"
    fastread._statement_records.pop(sql, None)
    async with db.scoped(ident.scope) as s:
        first = await fastread.fetch(s, sql, ())
        again = await fastread.fetch(s, sql, ())
    assert type(first[0]) is fastread.Record and type(again[0]) is not fastread.Record
    assert isinstance(again[0], fastread.Record) and "id" in vars(type(again[0]))
    for a, b in zip(first, again, strict=True):
        assert (a.id, a.name, a.dup) == (b.id, b.name, b.dup) == (b["id"], b["name"], b["dup"])
        assert b.id == b[0] and b.name == b[1] and tuple(a) == tuple(b)
        assert callable(b.keys) and list(b.keys()) == ["id", "name", "keys", "dup", "dup"]
        with pytest.raises(AttributeError):
            b.no_such_column  # noqa: B018
