"""Clues through GraphQL: intake with deadlines on China's calendar, the three transfer
directions, receipt, investigation, feedback and closure; who sees them; typed errors."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

RESULT = "__typename ... on Clue { id state } ... on UserError { code message }"
CLUE = """id title state importance discoveredOn sourceLabel problemType problemId
  origin { name } holder { name }
  transfers { seq direction senderName receiverName feedbackRequired receivedAt feedback }
  files { name sha256 sizeBytes }
  deadlines { subjectType dueOn provisional closedAt closeReason }"""
SHA = "ab" * 32


async def register(gql, login: str, **kw: Any) -> dict[str, Any]:
    value = {"source": "LITIGATION", "importance": "IMPORTANT", "discoveredOn": "2025-09-26",
             "title": "某局行政处罚程序违法", "content": "法院在审理中发现执法程序问题。", **kw}
    d = await gql.data(login, f"mutation($i: RegisterClueInput!) {{ registerClue(input: $i) {{ {RESULT} }} }}",
                       {"i": value})
    return d["registerClue"]


async def act(gql, login: str, field: str, args: str, variables: dict[str, Any]) -> dict[str, Any]:
    types = {"c": "ID!", "r": "ID!", "t": "String!"}
    decl = ", ".join(f"${k}: {types[k]}" for k in variables)
    d = await gql.data(login, f"mutation({decl}) {{ {field}({args}) {{ {RESULT} }} }}", variables)
    return d[field]


async def transfer(gql, login: str, clue_id: str, receiver: str, note: str = "") -> dict[str, Any]:
    return await act(gql, login, "transferClue", "input: {clueId: $c, receiverAgencyId: $r, note: $t}",
                     {"c": clue_id, "r": receiver, "t": note})


async def targets(gql, login: str, clue_id: str) -> dict[str, str]:
    d = await gql.data(login, "query($c: ID!) { clueTransferTargets(clueId: $c) { id name kind } }", {"c": clue_id})
    return {t["kind"]: t["id"] for t in d["clueTransferTargets"]}


async def clue(gql, login: str, clue_id: str) -> dict[str, Any]:
    d = await gql.data(login, f"query($c: ID!) {{ clue(id: $c) {{ __typename ... on Clue {{ {CLUE} }} }} }}",
                       {"c": clue_id})
    return d["clue"]


async def inbox_titles(gql, login: str) -> list[str]:
    d = await gql.data(login, "{ inbox(first: 100) { edges { node { title kind } } } }")
    return [e["node"]["title"] for e in d["inbox"]["edges"]]


async def test_important_clue_found_on_the_friday_before_national_day_is_due_after_the_break(gql):
    c = await register(gql, "jiayu.court", discoveredOn="2025-09-26", title="国庆前发现的重要线索")
    assert c["__typename"] == "Clue" and c["state"] == "REGISTERED"
    seen = await clue(gql, "jiayu.court", c["id"])
    # Sun Sep 28 (make-up day) 1, Sep 29 2, Sep 30 3, Oct 1-8 off, Oct 9 4, Oct 10 5
    assert seen["deadlines"] == [{"subjectType": "clue.transfer", "dueOn": "2025-10-10", "provisional": False,
                                  "closedAt": None, "closeReason": None}]


async def test_important_clue_found_on_the_friday_before_spring_festival_2026(gql):
    c = await register(gql, "jiayu.court", discoveredOn="2026-02-13", title="春节前发现的重要线索")
    seen = await clue(gql, "jiayu.court", c["id"])
    # Sat Feb 14 is a make-up working day (1), Feb 15-23 off, Feb 24-27 (2-5)
    assert seen["deadlines"][0]["dueOn"] == "2026-02-27"


@pytest.mark.parametrize(("discovered", "due"), [("2025-04-01", "2025-05-09"), ("2026-01-20", "2026-02-10"),
                                                 ("2025-12-31", "2026-01-09")])
async def test_routine_clue_goes_in_the_monthly_batch_before_the_10th(gql, discovered, due):
    c = await register(gql, "jiayu.court", importance="ROUTINE", discoveredOn=discovered, title=f"一般线索{discovered}")
    assert (await clue(gql, "jiayu.court", c["id"]))["deadlines"][0]["dueOn"] == due


async def test_clue_preview_matches_the_registered_deadline(gql):
    d = await gql.data("jiayu.court", '{ clueDeadlinePreview(importance: IMPORTANT, discoveredOn: "2025-09-26") '
                                      "{ dueOn provisional workingDays } }")
    assert d["clueDeadlinePreview"] == {"dueOn": "2025-10-10", "provisional": False, "workingDays": 5}


async def test_a_clue_travels_court_office_discipline_justice_and_back(gql, db):
    c = await register(gql, "jiayu.court", title="执法程序违法线索", files=[{"name": "判决书.pdf", "sha256": SHA,
                                                                           "sizeBytes": 12345}])
    cid = c["id"]
    # the court may transfer only to its county's office
    court_targets = await targets(gql, "jiayu.court", cid)
    assert set(court_targets) == {"OFFICE"}
    t = await transfer(gql, "jiayu.court", cid, court_targets["OFFICE"], "请依法督察")
    assert t == {"__typename": "Clue", "id": cid, "state": "TRANSFERRED"}
    assert any("收到移送线索：执法程序违法线索" in x for x in await inbox_titles(gql, "jiayu.office"))
    office_view = await clue(gql, "jiayu.office", cid)
    kinds = {d["subjectType"]: d for d in office_view["deadlines"]}
    assert kinds["clue.transfer"]["closeReason"] == "transferred"
    assert kinds["clue.receipt"]["closedAt"] is None
    assert office_view["files"] == [{"name": "判决书.pdf", "sha256": SHA, "sizeBytes": 12345.0}]

    assert (await act(gql, "jiayu.office", "receiveClue", "clueId: $c", {"c": cid}))["state"] == "RECEIVED"
    assert any("线索已签收" in x for x in await inbox_titles(gql, "jiayu.court"))
    office_targets = await targets(gql, "jiayu.office", cid)
    assert set(office_targets) == {"DISCIPLINE"}
    assert (await transfer(gql, "jiayu.office", cid, office_targets["DISCIPLINE"]))["state"] == "TRANSFERRED"
    assert (await act(gql, "jiayu.discipline", "receiveClue", "clueId: $c", {"c": cid}))["state"] == "RECEIVED"
    discipline_targets = await targets(gql, "jiayu.discipline", cid)
    assert set(discipline_targets) == {"JUSTICE"}
    assert (await transfer(gql, "jiayu.discipline", cid, discipline_targets["JUSTICE"]))["state"] == "TRANSFERRED"

    # the justice bureau has no user in the demo: act through the service as its liaison
    async with db.system_session() as s:
        justice = (await s.execute(text("SELECT id FROM agency WHERE name = '嘉鱼县司法局'"))).scalar_one()
    from ducha.services import clues
    from ducha.tenants.principal import Principal, RoleGrant

    liaison = Principal(user_id=(await _user_id(db, "jiayu.court")), login="jiayu.justice", name="司法局联络员",
                        tenant_id=0, agency_id=justice, region_path="420000/421200/421221",
                        grants=(RoleGrant("judicial_liaison", "421221", "420000/421200/421221", 0, justice),))
    async with db.system_session() as s:
        await clues.receive(s, liaison, int(cid))
        await clues.start_investigation(s, liaison, int(cid))
        # the discipline commission cannot close while feedback is owed
        from ducha.services.errors import TransitionError

        with pytest.raises(TransitionError):
            await clues.close(s, liaison, int(cid), note="结案")
        answered = await clues.feed_back(s, liaison, int(cid), feedback="经核查，执法程序确有瑕疵，已责令整改。")
        assert answered.state == "answered"
    assert any("线索核查反馈" in x for x in await inbox_titles(gql, "jiayu.discipline"))
    closed = await act(gql, "jiayu.discipline", "closeClue", "input: {clueId: $c, note: $t}",
                       {"c": cid, "t": "反馈已收悉，办结。"})
    assert closed["state"] == "CLOSED"
    final = await clue(gql, "jiayu.office", cid)
    assert [h["direction"] for h in final["transfers"]] == ["TO_OFFICE", "TO_DISCIPLINE", "TO_JUSTICE"]
    assert final["transfers"][2]["feedbackRequired"] and final["transfers"][2]["feedback"].startswith("经核查")
    assert all(d["closedAt"] for d in final["deadlines"])

    # who sees which hops: the court only its own; the discipline commission its two; peers nothing
    assert [h["seq"] for h in (await clue(gql, "jiayu.court", cid))["transfers"]] == [1]
    assert [h["seq"] for h in (await clue(gql, "jiayu.discipline", cid))["transfers"]] == [2, 3]
    assert len((await clue(gql, "xianning.office", cid))["transfers"]) == 3  # the office chain
    for outsider in ("yunxi.office", "shiyan.office", "jiayu.xinjie", "yunxi.justice"):
        assert (await clue(gql, outsider, cid))["__typename"] == "NotFound", outsider


async def _user_id(db, login: str) -> int:
    async with db.system_session() as s:
        return int((await s.execute(text("SELECT id FROM app_user WHERE login = :l"), {"l": login})).scalar_one())


async def test_illegal_transitions_and_wrong_roles_are_typed_errors(gql, db):
    c = await register(gql, "jiayu.court", title="错误操作测试线索")
    cid = c["id"]
    office = (await targets(gql, "jiayu.court", cid))["OFFICE"]
    # receiving before any transfer
    r = await act(gql, "jiayu.court", "receiveClue", "clueId: $c", {"c": cid})
    assert r["__typename"] == "InvalidTransition"
    # the office leader may read but not transfer clues; the overseer changes nothing
    for login in ("jiayu.leader", "hubei.justice"):
        r = await transfer(gql, login, cid, office)
        assert r["__typename"] == "NotAllowed", login
    # a peer cannot see it at all
    assert (await transfer(gql, "yunxi.justice", cid, office))["__typename"] == "NotFound"
    # a wrong direction: the court may not send to the discipline commission
    discipline = str(await _agency_id(db, "嘉鱼县纪委监委"))
    r = await transfer(gql, "jiayu.court", cid, discipline)
    assert r["__typename"] == "ValidationError" and "中共嘉鱼县委" in r["message"]
    assert (await transfer(gql, "jiayu.court", cid, office))["state"] == "TRANSFERRED"
    # the court no longer holds it; only the receiver may sign for it
    assert (await transfer(gql, "jiayu.court", cid, office))["__typename"] == "NotAllowed"
    assert (await act(gql, "jiayu.court", "receiveClue", "clueId: $c", {"c": cid}))["__typename"] == "NotAllowed"
    assert (await act(gql, "jiayu.office", "receiveClue", "clueId: $c", {"c": cid}))["state"] == "RECEIVED"
    assert (await act(gql, "jiayu.office", "receiveClue", "clueId: $c", {"c": cid}))["__typename"] == "InvalidTransition"
    # the office links it to a problem of one of its inspections; another problem conflicts
    mine, other, peers = await _problems(db)
    link = "input: {clueId: $c, problemType: \"problem\", problemId: $r}"
    # no such problem, another county's problem, an unknown kind of problem: refused, nothing linked
    assert (await act(gql, "jiayu.office", "linkClueToProblem", link, {"c": cid, "r": "987654321"}))["__typename"] == "NotFound"
    assert (await act(gql, "jiayu.office", "linkClueToProblem", link, {"c": cid, "r": str(peers)}))["__typename"] in (
        "NotFound", "ValidationError")
    odd = "input: {clueId: $c, problemType: \"banana\", problemId: $r}"
    assert (await act(gql, "jiayu.office", "linkClueToProblem", odd, {"c": cid, "r": str(mine)}))["__typename"] == "ValidationError"
    assert (await clue(gql, "jiayu.office", cid))["problemId"] is None
    assert (await act(gql, "jiayu.office", "linkClueToProblem", link, {"c": cid, "r": str(mine)}))["__typename"] == "Clue"
    assert (await act(gql, "jiayu.office", "linkClueToProblem", link, {"c": cid, "r": str(other)}))["__typename"] == "Conflict"
    linked = await gql.data("jiayu.office", "query($c: ID!) { clue(id: $c) { ... on Clue { problemType problemId "
                                            "problem { id title } } } }", {"c": cid})
    assert linked["clue"] == {"problemType": "problem", "problemId": str(mine),
                              "problem": {"id": str(mine), "title": "线索转化的问题"}}
    async with db.system_session() as s:  # the problem keeps the link too
        assert (await s.execute(text("SELECT clue_id FROM problem WHERE id = :p"), {"p": mine})).scalar_one() == int(cid)
    # the discipline commission is no party to it: it cannot even see it
    close = "input: {clueId: $c, note: $t}"
    assert (await act(gql, "jiayu.discipline", "closeClue", close, {"c": cid, "t": "x"}))["__typename"] == "NotFound"
    assert (await act(gql, "jiayu.office", "closeClue", close, {"c": cid, "t": "已转为督察问题"}))["state"] == "CLOSED"
    assert (await act(gql, "jiayu.office", "closeClue", close, {"c": cid, "t": "again"}))["__typename"] == "InvalidTransition"
    assert (await act(gql, "jiayu.office", "closeClue", close, {"c": "abc", "t": "x"}))["__typename"] == "ValidationError"


async def _problems(db) -> tuple[int, int, int]:
    """Two problems of an inspection of 嘉鱼县's office and one of 郧西县's (rows written directly)."""
    async with db.system_session() as s:
        ids = []
        for code, title in (("421221", "线索转化的问题"), ("421221", "另一个问题"), ("420322", "郧西县的问题")):
            t = (await s.execute(text("SELECT id FROM tenant WHERE region_code = :c"), {"c": code})).scalar_one()
            i = (await s.execute(text("INSERT INTO inspection (tenant_id, year, title, kind, form)"
                                      " VALUES (:t, 2025, :title, 'case', 'written') RETURNING id"),
                                 {"t": t, "title": f"线索督察（{title}）"})).scalar_one()
            ids.append((await s.execute(text(
                "INSERT INTO problem (tenant_id, inspection_id, title, category, source, severity, found_on)"
                " VALUES (:t, :i, :title, 'enforcement', 'clue', 'general', '2025-06-01') RETURNING id"),
                {"t": t, "i": i, "title": title})).scalar_one())
    return ids[0], ids[1], ids[2]


async def _agency_id(db, name: str) -> int:
    async with db.system_session() as s:
        return int((await s.execute(text("SELECT id FROM agency WHERE name = :n"), {"n": name})).scalar_one())


@pytest.mark.parametrize(
    ("change", "field"),
    [({"discoveredOn": "2099-01-01"}, "discoveredOn"), ({"title": " "}, "title"),
     ({"files": [{"name": "a.pdf", "sha256": "xyz", "sizeBytes": 1}]}, "files.0.sha256"),
     ({"files": [{"name": "a/b.pdf", "sha256": SHA, "sizeBytes": 1}]}, "files.0.name"),
     ({"agencyId": "12x"}, "agencyId")],
)
async def test_bad_intake_is_a_validation_error(gql, change, field):
    body = await gql("jiayu.court", "mutation($i: RegisterClueInput!) { registerClue(input: $i) { __typename "
                                    "... on ValidationError { fields { path } } } }",
                     {"i": {"source": "MEDIA", "importance": "ROUTINE", "discoveredOn": "2025-03-03", "title": "t",
                            "content": "c", **change}})
    r = body["data"]["registerClue"]
    assert r["__typename"] == "ValidationError"
    assert r["fields"][0]["path"] == field.split(".")


async def test_registering_for_another_agency_is_not_allowed(gql, db):
    office = str(await _agency_id(db, "中共嘉鱼县委全面依法治县委员会办公室"))
    r = await register(gql, "jiayu.court", agencyId=office)
    assert r["__typename"] == "NotAllowed"


async def test_clue_list_filters_and_pages(gql):
    mine = [await register(gql, "jiayu.court", title=f"分页线索{i}", importance="ROUTINE", discoveredOn="2025-06-0" + str(i + 1))
            for i in range(3)]
    q = """query($a: String, $f: ClueFilter) { clues(first: 2, after: $a, filter: $f) { totalCount
           edges { node { id title overdue } } pageInfo { hasNextPage endCursor } } }"""
    f = {"search": "分页线索", "importance": "ROUTINE"}
    first = (await gql.data("jiayu.court", q, {"f": f}))["clues"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    second = (await gql.data("jiayu.court", q, {"f": f, "a": first["pageInfo"]["endCursor"]}))["clues"]
    ids = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert ids == [c["id"] for c in mine]
    # routine clues of June 2025 were due on July 10 2025, long past: all overdue
    assert all(e["node"]["overdue"] for e in first["edges"])
    over = (await gql.data("jiayu.court", q, {"f": {**f, "overdue": True}}))["clues"]["totalCount"]
    assert over == 3
    none = (await gql.data("jiayu.court", q, {"f": {**f, "discoveredFrom": "2025-07-01"}}))["clues"]["totalCount"]
    assert none == 0
    # the county office sees the court's clues; a peer county's does not
    assert (await gql.data("jiayu.office", q, {"f": f}))["clues"]["totalCount"] == 3
    assert (await gql.data("yunxi.office", q, {"f": f}))["clues"]["totalCount"] == 0
