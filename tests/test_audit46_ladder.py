"""The escalation ladder watches everything with a deadline, through the real actions (issue 4,
item 3): self-inspection reports, rectification notices, rectification measures, clue transfers,
receipts and feedback. Each overdue item climbs, every rung has its record and notification,
the supervision-letter rung writes its document by itself (issue 6), and delivering - a
self-inspection report handed in, a measure completed, feedback given - stops the climb and
cancels the pending proposal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from ducha.services import calendar_store, clues, demo_scenario, escalation, inspections, problems, rectification, reports
from ducha.tenants.auth import load_identity
from ducha.tenants.principal import Principal, RoleGrant
from tests.documents_helpers import drain_outbox

LABEL = "（阶梯审计）"
STATE: dict[str, Any] = {}


async def _who(s, login: str) -> Principal:  # type: ignore[no-untyped-def]
    return (await load_identity(s, login)).principal


async def _id(s, sql: str, **kw: Any) -> int:  # type: ignore[no-untyped-def]
    return int((await s.execute(text(sql), kw)).scalar_one())


@pytest.fixture(scope="module", autouse=True)
async def _leave_no_jobs(db):  # type: ignore[no-untyped-def]
    yield
    await drain_outbox(db)


@pytest.fixture(scope="module")
async def world(db, demo) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An off-plan written inspection of 新街镇 and 陆溪镇 (self-inspections requested on Mon
    2025-03-03 for 10 working days, fed back on 2025-03-17 with 20 working days to rectify;
    新街镇's plan accepted with one measure due 2025-04-11), and two clues of the county: one sent
    to the discipline commission and never signed for, one passed on to the justice bureau,
    which signs for it and owes feedback."""
    if STATE:
        return STATE
    async with db.system_session() as s:
        office, leader = await _who(s, "jiayu.office"), await _who(s, "jiayu.leader")
        committee, discipline = await _who(s, "jiayu.committee"), await _who(s, "jiayu.discipline")
        liaison, head = await _who(s, "jiayu.xinjie"), await _who(s, "jiayu.xinjie.head")
        court = await _who(s, "jiayu.court")
        jiayu = await _id(s, "SELECT id FROM tenant WHERE region_code = '421221'")
        xinjie = await _id(s, "SELECT id FROM agency WHERE name = '新街镇人民政府'")
        luxi = await _id(s, "SELECT id FROM agency WHERE name = '陆溪镇人民政府'")
        justice = await _id(s, "SELECT id FROM agency WHERE name = '嘉鱼县司法局'")
        disc_agency = await _id(s, "SELECT id FROM agency WHERE name = '嘉鱼县纪委监委'")

        c = await inspections.create(s, office, tenant_id=jiayu, title=f"阶梯督察{LABEL}", kind="special", form="written",
                                     year=2025, off_plan_reason="县委交办")
        await inspections.decide_off_plan(s, leader, c.id, approve=True)
        await inspections.add_targets(s, office, c.id, [xinjie, luxi])
        await demo_scenario._run(s, office=office, leader=leader, insp_id=c.id, team_leader_login="jiayu.inspector",
                                 members=[], tenant_id=jiayu)
        sis = {si.agency_id: si.id for si in await inspections.request_self_inspections(
            s, office, c.id, working_days=10, today=date(2025, 3, 3))}
        _, instances = await problems.record(s, office, inspection_id=c.id, title=f"执法公示不及时{LABEL}",
                                             description="", category="enforcement", source="inspection",
                                             severity="general", agency_ids=[xinjie, luxi], found_on=date(2025, 3, 10))
        await reports.save_draft(s, office, c.id, f"督察报告{LABEL}")
        await reports.submit(s, office, c.id)
        await reports.approve(s, leader, c.id, level="office")
        await reports.approve(s, committee, c.id, level="committee")
        fbs = {}
        for unit in (xinjie, luxi):
            fb = await reports.issue_feedback(s, office, c.id, agency_id=unit, notice_required=True,
                                              notice_working_days=20, summary="请整改", today=date(2025, 3, 17))
            fbs[unit] = fb.id
        inst = next(i for i in instances if i.agency_id == xinjie)
        plan = await rectification.save_plan(s, liaison, fbs[xinjie], [
            rectification.MeasureIn(inst.id, f"建立公示更新机制{LABEL}", "黄海", date(2025, 4, 11))])
        await rectification.submit_plan(s, liaison, plan.id)
        await rectification.approve_plan_as_head(s, head, plan.id)
        await rectification.decide_plan(s, office, plan.id, accept=True)
        measure = await _id(s, "SELECT id FROM measure WHERE plan_id = :p", p=plan.id)

        # a clue the court finds and does not pass on: its transfer deadline runs out
        found = await clues.register(s, court, source="litigation", importance="important",
                                     discovered_on=date(2025, 3, 3), title=f"法院未移送线索{LABEL}", content="内容",
                                     today=date(2025, 3, 3))
        # a clue the office sends to the discipline commission, which never signs for it
        unsigned = await clues.register(s, office, source="petition", importance="important",
                                        discovered_on=date(2025, 3, 3), title=f"未签收线索{LABEL}", content="内容",
                                        today=date(2025, 3, 3))
        await clues.transfer(s, office, unsigned.id, receiver_agency_id=disc_agency, directory=s,
                             today=date(2025, 3, 3))
        # a clue that reaches the justice bureau, which signs for it and owes feedback
        owed = await clues.register(s, office, source="media", importance="important", discovered_on=date(2025, 3, 3),
                                    title=f"待反馈线索{LABEL}", content="内容", today=date(2025, 3, 3))
        await clues.transfer(s, office, owed.id, receiver_agency_id=disc_agency, directory=s, today=date(2025, 3, 3))
        await clues.receive(s, discipline, owed.id)
        await clues.transfer(s, discipline, owed.id, receiver_agency_id=justice, directory=s, today=date(2025, 3, 10))
        liaison_j = Principal(user_id=court.user_id, login="jiayu.justice", name="司法局联络员", tenant_id=jiayu,
                              agency_id=justice, region_path="420000/421200/421221",
                              grants=(RoleGrant("judicial_liaison", "421221", "420000/421200/421221", jiayu, justice),))
        await clues.receive(s, liaison_j, owed.id)
        hops = {r.receiver_agency_id: r.id for r in (await s.execute(text(
            "SELECT id, receiver_agency_id FROM clue_transfer WHERE clue_id = ANY(:c)"),
            {"c": [unsigned.id, owed.id]})).all() if r.receiver_agency_id == justice}
        unsigned_hop = await _id(s, "SELECT id FROM clue_transfer WHERE clue_id = :c", c=unsigned.id)
    STATE.update(jiayu=jiayu, xinjie=xinjie, luxi=luxi, justice=justice, discipline=disc_agency, sis=sis, fbs=fbs,
                 measure=measure, found=found.id, court_agency=court.agency_id, owed=owed.id,
                 owed_hop=hops[justice], unsigned_hop=unsigned_hop, liaison=liaison, liaison_j=liaison_j)
    return STATE


async def _ladder(db, subject_type: str, subject_id: int) -> tuple[int, list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    async with db.system_session() as s:
        did = await _id(s, "SELECT id FROM deadline WHERE subject_type = :t AND subject_id = :i", t=subject_type,
                        i=subject_id)
        rows = (await s.execute(text("SELECT rung, status FROM escalation WHERE deadline_id = :d ORDER BY rung"),
                                {"d": did})).all()
    return did, [(r.rung, r.status) for r in rows]


async def test_every_kind_of_deadline_is_watched_and_climbs(gql, db, world):
    w = world
    # the day after the self-inspection reports were due (Mon Mar 17): a reminder to each unit
    await escalation.sweep(db, date(2025, 3, 18))
    for unit in (w["xinjie"], w["luxi"]):
        assert (await _ladder(db, "self_inspection", w["sis"][unit]))[1] == [(1, "issued")]
    inbox = await gql.data("jiayu.xinjie", "{ inbox(first: 100) { edges { node { kind title } } } }")
    assert any(e["node"]["kind"] == "escalation.reminder" and e["node"]["title"].startswith(f"【催办】自查报告：阶梯督察{LABEL}")
               for e in inbox["inbox"]["edges"])
    # 新街镇 hands its report in (late): its climb stops there
    async with db.system_session() as s:
        await inspections.submit_self_inspection(s, w["liaison"], w["sis"][w["xinjie"]], content="自查报告正文",
                                                 now_date=date(2025, 3, 19))
    # long past everything: each open item climbs through the automatic rungs to a proposed interview
    await escalation.sweep(db, date(2025, 5, 20))
    assert (await _ladder(db, "self_inspection", w["sis"][w["xinjie"]]))[1] == [(1, "issued")]
    climbed = {
        "self_inspection": w["sis"][w["luxi"]],  # 陆溪镇 never reported
        "rectification_notice": w["fbs"][w["luxi"]],  # 陆溪镇 has no accepted plan
        "measure": w["measure"],  # 新街镇's measure due Apr 11
        "clue.transfer": w["found"],  # the court kept its clue
        "clue.receipt": w["unsigned_hop"],  # the discipline commission never signed
        "clue.feedback": w["owed_hop"],  # the justice bureau owes feedback
    }
    full = [(1, "issued"), (2, "issued"), (3, "proposed")]
    for subject_type, subject_id in climbed.items():
        assert (await _ladder(db, subject_type, subject_id))[1] == full, subject_type
    # 新街镇's notice was met by its accepted plan: no rung at all
    assert (await _ladder(db, "rectification_notice", w["fbs"][w["xinjie"]]))[1] == []

    # the supervision-letter rung writes its letter by itself (the worker's jobs, twice: nothing doubles)
    await drain_outbox(db)
    await drain_outbox(db)
    async with db.system_session() as s:
        letters = (await s.execute(text(
            "SELECT d.subject_type, doc.kind, doc.recipients, doc.number FROM deadline d"
            " JOIN escalation e ON e.deadline_id = d.id AND e.rung = 2"
            " JOIN document doc ON doc.escalation_id = e.id"
            " JOIN unnest(CAST(:t AS text[]), CAST(:i AS bigint[])) AS want(t, i)"
            "   ON d.subject_type = want.t AND d.subject_id = want.i"),  # exact pairs: other tests share the DB
            {"t": list(climbed), "i": list(climbed.values())})).all()
    by_type = {r.subject_type: r for r in letters}
    assert set(by_type) == set(climbed) and len(letters) == len(climbed)
    assert all(r.kind == "supervision_letter" and r.number.startswith(f"嘉法督函〔{calendar_store.today().year}〕") for r in letters)
    assert by_type["clue.feedback"].recipients == "嘉鱼县司法局"
    assert by_type["measure"].recipients == "新街镇人民政府"
    assert by_type["clue.receipt"].recipients == "嘉鱼县纪委监委"
    # the unit reads its letter in its inbox
    inbox = await gql.data("jiayu.xinjie", "{ inbox(first: 100) { edges { node { kind } } } }")
    assert any(e["node"]["kind"] == "document.supervision_letter" for e in inbox["inbox"]["edges"])


async def test_delivering_stops_the_climb_and_cancels_the_proposal(gql, db, world):
    w = world
    # 新街镇 completes its measure; the justice bureau gives its feedback
    async with db.system_session() as s:
        await rectification.report_progress(s, w["liaison"], w["measure"], body="已完成整改", completes=True)
        await clues.feed_back(s, w["liaison_j"], w["owed"], feedback="经核查，已处理。")
    for subject_type, subject_id in (("measure", w["measure"]), ("clue.feedback", w["owed_hop"])):
        _, ladder = await _ladder(db, subject_type, subject_id)
        assert ladder == [(1, "issued"), (2, "issued"), (3, "cancelled")], subject_type
    await escalation.sweep(db, date(2025, 8, 29))
    for subject_type, subject_id in (("measure", w["measure"]), ("clue.feedback", w["owed_hop"])):
        assert len((await _ladder(db, subject_type, subject_id))[1]) == 3, subject_type
    # what nobody delivered still waits at the proposed interview for the leader
    assert (await _ladder(db, "rectification_notice", w["fbs"][w["luxi"]]))[1][-1] == (3, "proposed")
    # the cancelled proposal is no longer offered to the leader
    q = ("query($a: ID!) { escalations(first: 100, filter: {status: PROPOSED, agencyId: $a}) { edges { node { "
         "deadline { id } } } } }")
    pending = await gql.data("jiayu.leader", q, {"a": str(w["xinjie"])})
    mdid, _ = await _ladder(db, "measure", w["measure"])
    assert str(mdid) not in {e["node"]["deadline"]["id"] for e in pending["escalations"]["edges"]}
    pending = await gql.data("jiayu.leader", q, {"a": str(w["luxi"])})
    ndid, _ = await _ladder(db, "rectification_notice", w["fbs"][w["luxi"]])
    assert str(ndid) in {e["node"]["deadline"]["id"] for e in pending["escalations"]["edges"]}


async def test_a_notice_lives_and_dies_with_the_event_that_causes_it(db, world):
    """The inbox row is written in the transaction of the change it reports (issue 4, item 4):
    a transfer rolled back leaves neither the transfer nor its notice."""
    w = world

    class Abort(Exception):
        pass

    async with db.system_session() as s:
        office = await _who(s, "jiayu.office")
        c = await clues.register(s, office, source="media", importance="routine", discovered_on=date(2025, 3, 3),
                                 title=f"回滚线索{LABEL}", content="内容", today=date(2025, 3, 3))
    with pytest.raises(Abort):
        async with db.system_session() as s:
            await clues.transfer(s, office, c.id, receiver_agency_id=w["discipline"], directory=s, today=date(2025, 3, 4))
            assert (await s.execute(text("SELECT count(*) FROM notification WHERE dedup_key = :k"),
                                    {"k": f"clue:{c.id}:transfer:1"})).scalar_one() == 1
            raise Abort
    async with db.system_session() as s:
        left = (await s.execute(text("SELECT (SELECT count(*) FROM notification WHERE dedup_key = :k) AS notes,"
                                     " (SELECT count(*) FROM clue_transfer WHERE clue_id = :c) AS hops,"
                                     " (SELECT state FROM clue WHERE id = :c) AS state"),
                                {"k": f"clue:{c.id}:transfer:1", "c": c.id})).one()
    assert (left.notes, left.hops, left.state) == (0, 0, "registered")
