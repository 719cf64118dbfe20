"""Seed 004's situation (庆阳市), built through the real actions on an existing city of the demo
tree: 十堰市, which like 庆阳 has exactly 8 county-level units. Choice: the real tree rather
than a synthetic city, so that the same roll-up the province opens every morning shows it.

* 4 inspection groups (4 comprehensive inspections) over the 8 counties (their governments)
  and 76 city departments: 21 targets each; 10 problem areas found, with 30 measures, 9 done;
* 2 special inspections (耕地占用补偿, 基本农田保护) finding 81 problems at the 8 counties; 80
  rectified and closed out through the acceptance chain, the 耕地勘界 one still open and taken
  into a look-back;
* 313 clues found in the traffic-enforcement campaign, all 313 closed (rectified).

Every step is a service call as its real actor (the city office, its leader, the committee
member, each county government's liaison and head); units and users are created first.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ducha.services import acceptance, clues, inspections, lookback, problems, rectification, reports
from ducha.tenants import directory
from ducha.tenants.auth import load_identity
from ducha.tenants.models import Agency, Region, Tenant

SHIYAN = "420300"
YEAR = 2024
DEPARTMENTS = [
    "公安局", "司法局", "财政局", "自然资源和规划局", "生态环境局", "住房和城乡建设局", "交通运输局", "水利和湖泊局",
    "农业农村局", "商务局", "文化和旅游局", "卫生健康委员会", "应急管理局", "审计局", "市场监督管理局", "统计局",
    "医疗保障局", "林业局", "城市管理执法委员会", "退役军人事务局", "教育局", "科学技术局", "经济和信息化局", "民政局",
    "人力资源和社会保障局", "发展和改革委员会", "国有资产监督管理委员会", "信访局", "政务服务和大数据管理局", "地方金融工作局",
    "粮食和物资储备局", "人民防空办公室", "档案馆", "地方志办公室", "机关事务服务中心", "公共资源交易中心", "供销合作社",
    "残疾人联合会", "总工会", "团委", "妇女联合会", "科学技术协会", "工商业联合会", "红十字会", "文学艺术界联合会",
    "社会科学界联合会", "侨务办公室", "民族宗教事务委员会", "外事办公室", "台湾工作办公室", "网信办", "编办",
    "组织部", "宣传部", "统战部", "政法委员会", "机构编制委员会办公室", "党校", "党史研究室", "老干部局",
    "保密局", "机要局", "人大常委会办公室", "政协办公室", "中级人民法院", "人民检察院", "纪委监委", "巡察办",
    "住房公积金中心", "消防救援支队", "气象局", "税务局", "烟草专卖局", "邮政管理局", "电力公司", "交警支队",
]
assert len(DEPARTMENTS) == 76
GENGDI = "耕地勘界误差未整改彻底"


async def _who(s, login):  # type: ignore[no-untyped-def]
    return (await load_identity(s, login)).principal


async def _units(s) -> tuple[int, list[int], list[int], list[int]]:  # type: ignore[no-untyped-def]
    """The city tenant, its 76 departments, the 8 county governments and the users acting for them."""
    tenant = (await s.execute(select(Tenant.id).where(Tenant.region_code == SHIYAN))).scalar_one()
    depts = []
    for name in DEPARTMENTS:
        a = await directory.create_agency(s, region_code=SHIYAN, kind="department", name=f"十堰市{name}")
        depts.append(a.id)
    counties = list((await s.execute(select(Region).where(Region.parent_code == SHIYAN).order_by(Region.code))).scalars())
    assert len(counties) == 8
    govs = []
    for n, c in enumerate(counties):
        name = f"{c.name}人民政府"
        a = (await s.execute(select(Agency).where(Agency.name == name))).scalar_one_or_none()
        if a is None:
            a = await directory.create_agency(s, region_code=c.code, kind="government", name=name)
        govs.append(a.id)
        for login, role in ((f"qy.gov{n}", "agency_liaison"), (f"qy.gov{n}.head", "agency_leader")):
            u = await directory.create_user(s, login=login, name=f"{c.name}{role}", agency_id=a.id)
            await directory.grant_role(s, user=u, role=role, region_code=c.code, agency_bound=True)
    return tenant, depts, govs, list(range(8))


async def _started(s, office, leader, tenant, *, title, kind, targets, starts_on):  # type: ignore[no-untyped-def]
    insp = await inspections.create(s, office, tenant_id=tenant, title=title, kind=kind, form="both", year=YEAR,
                                    off_plan_reason="市委依法治市委员会部署", starts_on=starts_on)
    await inspections.decide_off_plan(s, leader, insp.id, approve=True)
    await inspections.add_targets(s, office, insp.id, targets)
    await inspections.save_work_plan(s, office, insp.id, project=title, reason="推进法治建设重点任务落实",
                                     legal_basis="《法治政府建设与责任落实督察工作规定》", methods=["hear_reports", "site_visits"])
    await inspections.submit_work_plan(s, office, insp.id)
    await inspections.decide_work_plan(s, leader, insp.id, approve=True)
    lead = await inspections.add_inspector(s, office, tenant_id=tenant, name=f"{title}组长", category="office",
                                           user_id=office.user_id)
    await inspections.add_team_member(s, office, insp.id, inspector_id=lead.id, is_leader=True)
    await inspections.start(s, office, insp.id)
    return insp


async def _report_and_feed_back(s, office, leader, committee, insp, agency_ids, on=date(YEAR, 8, 1)):  # type: ignore[no-untyped-def]
    await reports.save_draft(s, office, insp.id, f"{insp.title}报告")
    await reports.submit(s, office, insp.id)
    await reports.approve(s, leader, insp.id, level="office")
    await reports.approve(s, committee, insp.id, level="committee")
    out = {}
    for a in agency_ids:
        out[a] = await reports.issue_feedback(s, office, insp.id, agency_id=a, notice_required=True,
                                              notice_working_days=60, today=on)
    return out


async def build(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Make the situation; returns ids the test needs."""
    async with db.system_session() as s:
        tenant, depts, govs, _ = await _units(s)
        office, leader = await _who(s, "shiyan.office"), await _who(s, "shiyan.office")
        committee = await _who(s, "hubei.office")  # the province's platform admin signs for the committee
        # acceptance by the city office (one step): the county governments' close-out
        await acceptance.set_chain(s, office, tenant, [
            {"name": "office_acceptance", "label": "市委依法治市办验收", "role": "office_leader", "side": "office"}])
    gov_users = {}
    async with db.system_session() as s:
        for n, g in enumerate(govs):
            gov_users[g] = (await _who(s, f"qy.gov{n}"), await _who(s, f"qy.gov{n}.head"))

    # 1. Four groups, 21 targets each (2 counties + 19 departments): 10 problem areas, 30 measures, 9 done.
    async with db.system_session() as s:
        groups = []
        for g in range(4):
            targets = govs[2 * g: 2 * g + 2] + depts[19 * g: 19 * g + 19]
            groups.append(await _started(s, office, leader, tenant, title=f"法治建设督察第{g + 1}组", kind="comprehensive",
                                         targets=targets, starts_on=date(YEAR, 7, 8)))
        areas = []
        for n in range(10):
            g = n % 4
            unit = govs[2 * g + (n // 4) % 2]
            _, inst = await problems.record(s, office, inspection_id=groups[g].id, title=f"问题领域{n + 1}",
                                            description="涉法治建设议事协调机构人员力量薄弱", category="first_responsibility",
                                            source="inspection", severity="general", agency_ids=[unit],
                                            found_on=date(YEAR, 7, 20))
            areas.append((g, unit, inst[0].id))
        feedback = {}
        for g, insp in enumerate(groups):
            units = sorted({u for gg, u, _ in areas if gg == g})
            feedback.update({(g, u): fb for u, fb in (await _report_and_feed_back(s, office, leader, committee, insp,
                                                                                 units)).items()})
    async with db.system_session() as s:
        done = 0
        for (g, unit), fb in feedback.items():
            liaison, head = gov_users[unit]
            mine = [i for gg, u, i in areas if gg == g and u == unit]
            plan = await rectification.save_plan(s, liaison, fb.id, [
                rectification.MeasureIn(i, f"整改措施{k + 1}", "责任人", date(YEAR, 10, 20)) for i in mine for k in range(3)])
            await rectification.submit_plan(s, liaison, plan.id)
            await rectification.approve_plan_as_head(s, head, plan.id)
            await rectification.decide_plan(s, office, plan.id, accept=True)
            for m in await rectification.measures_of(s, plan):
                if done < 9:
                    await rectification.report_progress(s, liaison, m.id, body="已完成", completes=True)
                    done += 1

    # 2. Two special inspections of the 8 counties: 81 problems, 80 closed out, 耕地勘界 open + look-back.
    async with db.system_session() as s:
        specials = [await _started(s, office, leader, tenant, title=t, kind="special", targets=govs,
                                   starts_on=date(YEAR, 3, 4))
                    for t in ("耕地占用补偿专项督察", "基本农田保护制度落实专项督察")]
        found: list[tuple[int, int, int]] = []  # (special, unit, instance)
        for n in range(81):
            k = n % 2
            unit = govs[n % 8]
            title = GENGDI if n == 80 else f"专项督察问题{n + 1}"
            _, inst = await problems.record(s, office, inspection_id=specials[k].id, title=title, description=title,
                                            category="enforcement", source="inspection", severity="major",
                                            agency_ids=[unit], found_on=date(YEAR, 4, 10))
            found.append((k, unit, inst[0].id))
        fbs = {}
        for k, insp in enumerate(specials):
            units = sorted({u for kk, u, _ in found if kk == k})
            fbs.update({(k, u): fb for u, fb in (await _report_and_feed_back(s, office, leader, committee, insp,
                                                                            units, date(YEAR, 5, 6))).items()})
    gengdi = found[80][2]
    async with db.system_session() as s:
        for (k, unit), fb in fbs.items():
            liaison, head = gov_users[unit]
            mine = [i for kk, u, i in found if kk == k and u == unit]
            plan = await rectification.save_plan(s, liaison, fb.id, [
                rectification.MeasureIn(i, "逐项整改", "责任人", date(YEAR, 6, 30)) for i in mine])
            await rectification.submit_plan(s, liaison, plan.id)
            await rectification.approve_plan_as_head(s, head, plan.id)
            await rectification.decide_plan(s, office, plan.id, accept=True)
            for m in await rectification.measures_of(s, plan):
                if m.instance_id == gengdi:
                    continue
                await rectification.report_progress(s, liaison, m.id, body="整改完成", completes=True)
                await acceptance.request(s, liaison, m.instance_id)
                await acceptance.sign(s, office, m.instance_id, round=1, step=0, decision="pass", comment="验收通过")
        lb = await lookback.create(s, office, original_inspection_id=specials[found[80][0]].id, title="耕地勘界问题整改回头看",
                                   instance_ids=[gengdi], reason="poorly_rectified", year=YEAR)

    # 3. 313 clues found in the traffic-enforcement campaign, all closed once rectified.
    async with db.system_session() as s:
        for n in range(313):
            c = await clues.register(s, office, source="hotline_12345" if n % 3 else "media", importance="routine",
                                     discovered_on=date(YEAR, 5, 1 + n % 28), title=f"道路交通执法问题线索{n + 1}",
                                     content="道路交通安全和运输执法领域突出问题", today=date(YEAR, 6, 1))
            await clues.close(s, office, c.id, note="整改完成")
    return {"tenant": tenant, "gengdi": gengdi, "lookback": lb.id, "groups": len(groups)}
