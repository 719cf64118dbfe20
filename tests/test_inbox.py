"""The inbox: notifications to a user and to its agencies, unread counts, read receipts per user."""

from __future__ import annotations

from sqlalchemy import text

from ducha.services import inbox

Q = "{ unreadCount inbox(first: 100, unreadOnly: true) { totalCount edges { node { id kind title read } } } }"
MARK = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { __typename ... on NotificationsMarked { count unreadCount } } }"


async def _notify_agency(db, agency: str, key: str, title: str) -> None:
    async with db.system_session() as s:
        aid, tid = (await s.execute(text("SELECT id, tenant_id FROM agency WHERE name = :n"), {"n": agency})).one()
        await inbox.notify(s, tenant_id=tid, agency_id=aid, kind="test", title=title, dedup_key=key)
        await inbox.notify(s, tenant_id=tid, agency_id=aid, kind="test", title=title, dedup_key=key)  # idempotent


async def test_an_agency_notice_is_unread_for_each_of_its_users_until_each_reads_it(gql, db):
    await _notify_agency(db, "中共嘉鱼县委全面依法治县委员会办公室", "inbox-test-1", "【测试】办公室通知")
    office = (await gql.data("jiayu.office", Q))
    leader_before = (await gql.data("jiayu.leader", Q))["unreadCount"]
    ids = [e["node"]["id"] for e in office["inbox"]["edges"] if e["node"]["title"] == "【测试】办公室通知"]
    assert len(ids) == 1 and office["unreadCount"] == office["inbox"]["totalCount"] >= 1
    r = await gql.data("jiayu.office", MARK, {"ids": ids})
    assert r["markNotificationsRead"] == {"__typename": "NotificationsMarked", "count": 1,
                                          "unreadCount": office["unreadCount"] - 1}
    assert (await gql.data("jiayu.office", MARK, {"ids": ids}))["markNotificationsRead"]["count"] == 0
    # the office leader, in the same agency, still has it unread
    assert (await gql.data("jiayu.leader", Q))["unreadCount"] == leader_before
    # another agency's user cannot mark it (nor see it)
    assert (await gql.data("jiayu.xinjie", MARK, {"ids": ids}))["markNotificationsRead"]["count"] == 0
    assert "办公室通知" not in str(await gql.data("jiayu.xinjie", Q))
    done = await gql.data("jiayu.leader", "mutation { markAllNotificationsRead { ... on NotificationsMarked { unreadCount } } }")
    assert done["markAllNotificationsRead"]["unreadCount"] == 0


async def test_the_read_only_overseer_may_still_mark_its_inbox_read(gql, db):
    async with db.system_session() as s:
        uid, tid = (await s.execute(text("SELECT id, tenant_id FROM app_user WHERE login = 'hubei.justice'"))).one()
        await inbox.notify(s, tenant_id=tid, user_id=uid, kind="test", title="【测试】致督察厅", dedup_key="inbox-test-2")
    d = await gql.data("hubei.justice", Q)
    mine = [e["node"]["id"] for e in d["inbox"]["edges"] if e["node"]["title"] == "【测试】致督察厅"]
    r = await gql.data("hubei.justice", MARK, {"ids": mine})
    assert r["markNotificationsRead"]["count"] == 1


async def test_inbox_pages_newest_first(gql, db):
    for i in range(3):
        await _notify_agency(db, "新街镇人民政府", f"inbox-page-{i}", f"【测试】分页{i}")
    q = "query($a: String) { inbox(first: 2, after: $a) { edges { node { title } } pageInfo { hasNextPage endCursor } } }"
    p1 = (await gql.data("jiayu.xinjie", q))["inbox"]
    assert [e["node"]["title"] for e in p1["edges"]] == ["【测试】分页2", "【测试】分页1"] and p1["pageInfo"]["hasNextPage"]
    p2 = (await gql.data("jiayu.xinjie", q, {"a": p1["pageInfo"]["endCursor"]}))["inbox"]
    assert p2["edges"][0]["node"]["title"] == "【测试】分页0"
    bad = await gql.data("jiayu.xinjie", MARK, {"ids": ["x1"]})
    assert bad["markNotificationsRead"]["__typename"] == "ValidationError"
