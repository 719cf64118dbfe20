"""The running 2024 scenario of the demo (seeds 000 and 001), made through the real actions:
嘉鱼县's comprehensive inspection and its special inspections (Yangtze Protection Law, heads
appearing in court) with problems at several stages, and a 咸宁市 inspection of 嘉鱼县."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.services import acceptance, inspections, lookback, plans, problems, rectification, reports
from ducha.services.models import Feedback, Measure, ProblemInstance, RectificationPlan
from ducha.tenants.auth import load_identity
from ducha.tenants.models import Agency, Tenant
from ducha.tenants.principal import Principal

PDF = b"%PDF-1.4\n% demo evidence\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _who(session: AsyncSession, login: str) -> Principal:
    return (await load_identity(session, login)).principal


async def _agency(session: AsyncSession, name: str) -> int:
    return (await session.execute(select(Agency.id).where(Agency.name == name))).scalar_one()


async def _tenant(session: AsyncSession, code: str) -> int:
    return (await session.execute(select(Tenant.id).where(Tenant.region_code == code))).scalar_one()


async def _run(session: AsyncSession, *, office: Principal, leader: Principal, insp_id: int, team_leader_login: str,
               members: list[tuple[str, str]], tenant_id: int) -> None:
    """Work plan approved, team named, work started."""
    await inspections.save_work_plan(session, office, insp_id, project="法治督察", reason="落实年度督察计划",
                                     legal_basis="《法治政府建设与责任落实督察工作规定》", methods=["hear_reports", "review_files", "site_visits"])
    await inspections.submit_work_plan(session, office, insp_id)
    await inspections.decide_work_plan(session, leader, insp_id, approve=True)
    tl = await _who(session, team_leader_login)
    lead = await inspections.add_inspector(session, office, tenant_id=tenant_id, name=tl.name, category="office",
                                           user_id=tl.user_id)
    await inspections.add_team_member(session, office, insp_id, inspector_id=lead.id, is_leader=True)
    for name, cat in members:
        ins = await inspections.add_inspector(session, office, tenant_id=tenant_id, name=name, category=cat)
        await inspections.add_team_member(session, office, insp_id, inspector_id=ins.id)
    await inspections.add_team_member(session, office, insp_id, invited_name="陈律师", invited_category="lawyer")
    await inspections.start(session, office, insp_id)


async def seed_scenario(session: AsyncSession) -> bool:
    """Load the scenario once (a system session; every step authorized as its real actor)."""
    jiayu = await _tenant(session, "421221")
    from ducha.services.models import AnnualPlan

    exists = (await session.execute(select(AnnualPlan.id).where(AnnualPlan.tenant_id == jiayu, AnnualPlan.year == 2024))).first()
    if exists:
        return False
    office, leader = await _who(session, "jiayu.office"), await _who(session, "jiayu.leader")
    inspector, committee = await _who(session, "jiayu.inspector"), await _who(session, "jiayu.committee")
    liaison, head = await _who(session, "jiayu.xinjie"), await _who(session, "jiayu.xinjie.head")
    xinjie, luxi = await _agency(session, "新街镇人民政府"), await _agency(session, "陆溪镇人民政府")
    justice, petition = await _agency(session, "嘉鱼县司法局"), await _agency(session, "嘉鱼县信访局")
    panjiawan, paizhouwan = await _agency(session, "潘家湾镇人民政府"), await _agency(session, "簰洲湾镇人民政府")
    government = await _agency(session, "嘉鱼县人民政府")

    plan = await plans.create(session, office, tenant_id=jiayu, year=2024, title="嘉鱼县2024年度法治督察工作计划")
    comp = await plans.add_item(session, office, plan_id=plan.id, title="2024年度法治建设全面督察", kind="comprehensive",
                                form="both", planned_month=9)
    yangtze = await plans.add_item(session, office, plan_id=plan.id, title="《长江保护法》贯彻实施专项督察", kind="special",
                                   form="onsite", planned_month=6)
    court = await plans.add_item(session, office, plan_id=plan.id, title="行政机关负责人出庭应诉专项督察", kind="special",
                                 form="written", planned_month=11)
    await plans.submit(session, office, plan.id)
    await plans.decide(session, leader, plan.id, approve=True)

    # The comprehensive inspection: fed back, rectified at several stages.
    c = await inspections.create(session, office, tenant_id=jiayu, title="嘉鱼县2024年度法治建设全面督察", kind="comprehensive",
                                 form="both", year=2024, plan_item_id=comp.id, focus_area="营商环境、行政执法三项制度",
                                 starts_on=date(2024, 9, 2), ends_on=date(2024, 10, 31))
    await inspections.add_targets(session, office, c.id, [xinjie, luxi, justice, petition])
    await _run(session, office=office, leader=leader, insp_id=c.id, team_leader_login="jiayu.inspector",
               members=[("郑国强", "discipline"), ("李娜", "legal")], tenant_id=jiayu)
    await inspections.request_self_inspections(session, office, c.id, working_days=10, today=date(2024, 9, 3))
    found = [
        ("行政执法公示信息更新不及时", "three_enforcement_systems", "general", [xinjie, luxi, justice]),
        ("重大行政决策未经合法性审查", "lawful_decision_making", "major", [xinjie]),
        ("涉企行政检查未备案", "business_environment", "general", [luxi]),
        ("信访事项办理超期", "dispute_resolution", "minor", [petition]),
        ("执法人员持证上岗不全", "team_capacity", "general", [justice]),
    ]
    for title, cat, sev, units in found:
        await problems.record(session, inspector, inspection_id=c.id, title=title, description=f"{title}（督察组实地检查发现）",
                              category=cat, source="inspection", severity=sev, agency_ids=units, found_on=date(2024, 10, 15))
    await reports.save_draft(session, inspector, c.id, "嘉鱼县2024年度法治建设全面督察报告：……")
    await reports.submit(session, inspector, c.id)
    await reports.approve(session, leader, c.id, level="office")
    await reports.approve(session, committee, c.id, level="committee")
    for unit in (xinjie, luxi, justice, petition):
        await reports.issue_feedback(session, office, c.id, agency_id=unit, notice_required=True, notice_working_days=40,
                                     summary="请对照问题清单认真整改", today=date(2024, 11, 4))

    # 新街镇 rectifies: plan accepted; one problem closed out, one still in acceptance.
    fb = (await session.execute(select(Feedback).where(Feedback.tenant_id == jiayu, Feedback.inspection_id == c.id,
                                                       Feedback.agency_id == xinjie))).scalar_one()
    insts = (await session.execute(select(ProblemInstance).where(ProblemInstance.feedback_id == fb.id)
                                   .order_by(ProblemInstance.id))).scalars().all()
    rp = await rectification.save_plan(session, liaison, fb.id, [
        rectification.MeasureIn(i.id, "建立执法公示信息定期更新机制" if n == 0 else "重大决策一律提交合法性审查", "黄海",
                                date(2024, 12, 20)) for n, i in enumerate(insts)])
    await rectification.submit_plan(session, liaison, rp.id)
    await rectification.approve_plan_as_head(session, head, rp.id)
    await rectification.decide_plan(session, office, rp.id, accept=True)
    measures = (await session.execute(select(Measure).where(Measure.plan_id == rp.id).order_by(Measure.id))).scalars().all()
    for m in measures:
        await rectification.report_progress(session, liaison, m.id, body="已按方案完成整改", completes=True)
        await rectification.add_evidence(session, liaison, m.instance_id, slot="整改报告", name="整改报告.pdf",
                                         content_type="application/pdf", data=PDF + str(m.id).encode())
        await acceptance.request(session, liaison, m.instance_id)
    first, second = insts[0], insts[1]
    await acceptance.sign(session, head, first.id, round=1, step=0, decision="pass", comment="自查合格")
    await acceptance.sign(session, inspector, first.id, round=1, step=1, decision="pass", comment="验收合格")
    await acceptance.sign(session, committee, first.id, round=1, step=2, decision="pass", comment="同意销号")
    await acceptance.sign(session, head, second.id, round=1, step=0, decision="pass", comment="自查合格")

    # 陆溪镇's plan is drafted (the county office helping its town); the others have not answered yet.
    fb_luxi = (await session.execute(select(Feedback).where(Feedback.inspection_id == c.id, Feedback.agency_id == luxi))).scalar_one()
    luxi_insts = (await session.execute(select(ProblemInstance).where(ProblemInstance.feedback_id == fb_luxi.id))).scalars().all()
    office_as_unit = office  # the county office may act for its towns (office roles reach down)
    lp = await rectification.save_plan(session, office_as_unit, fb_luxi.id, [
        rectification.MeasureIn(i.id, "制定整改措施", "陆溪镇党委书记", date(2024, 12, 27)) for i in luxi_insts])
    assert lp.status == "draft"

    # The Yangtze Protection Law special inspection: on site, problems found, no report yet.
    y = await inspections.create(session, office, tenant_id=jiayu, title="《长江保护法》贯彻实施专项督察", kind="special",
                                 form="onsite", year=2024, plan_item_id=yangtze.id, focus_area="长江保护法")
    await inspections.add_targets(session, office, y.id, [panjiawan, paizhouwan])
    await _run(session, office=office, leader=leader, insp_id=y.id, team_leader_login="jiayu.inspector",
               members=[("王强", "legal")], tenant_id=jiayu)
    await problems.record(session, inspector, inspection_id=y.id, title="长江岸线非法码头整治不彻底", description="",
                          category="yangtze_protection", source="inspection", severity="serious",
                          agency_ids=[panjiawan, paizhouwan], found_on=date(2024, 7, 10))
    await inspections.add_note(session, inspector, y.id, "暗访发现簰洲湾段仍有夜间非法采砂迹象（内部材料）")

    # Heads appearing in court: the work plan approved, not started yet.
    h = await inspections.create(session, office, tenant_id=jiayu, title="行政机关负责人出庭应诉专项督察", kind="special",
                                 form="written", year=2024, plan_item_id=court.id, focus_area="一把手出庭应诉")
    await inspections.add_targets(session, office, h.id, [government, justice])
    await inspections.save_work_plan(session, office, h.id, project="负责人出庭应诉专项督察", reason="出庭应诉率偏低",
                                     legal_basis="《行政诉讼法》第三条", methods=["review_files", "statistics"])
    await inspections.submit_work_plan(session, office, h.id)
    await inspections.decide_work_plan(session, leader, h.id, approve=True)

    # 咸宁市 inspects 嘉鱼县's party committee and government (level by level).
    xianning = await _tenant(session, "421200")
    x_office, x_inspector = await _who(session, "xianning.office"), await _who(session, "xianning.inspector")
    province = await _who(session, "hubei.office")
    party = await _agency(session, "中共嘉鱼县委员会")
    x = await inspections.create(session, x_office, tenant_id=xianning, title="咸宁市2024年度对嘉鱼县法治建设督察",
                                 kind="comprehensive", form="both", year=2024, off_plan_reason="市委依法治市委员会年度部署",
                                 starts_on=date(2024, 8, 5))
    await inspections.decide_off_plan(session, x_office, x.id, approve=True)
    await inspections.add_targets(session, x_office, x.id, [party, government])
    await _run(session, office=x_office, leader=x_office, insp_id=x.id, team_leader_login="xianning.inspector",
               members=[("周敏", "court")], tenant_id=xianning)
    await problems.record(session, x_inspector, inspection_id=x.id, title="党政主要负责人履行推进法治建设第一责任人职责述职不规范",
                          description="", category="first_responsibility", source="inspection", severity="general",
                          agency_ids=[party, government], found_on=date(2024, 8, 20))
    await reports.save_draft(session, x_inspector, x.id, "咸宁市对嘉鱼县法治建设督察报告：……")
    await reports.submit(session, x_inspector, x.id)
    await reports.approve(session, x_office, x.id, level="office")
    await reports.approve(session, province, x.id, level="committee")
    for unit in (party, government):
        await reports.issue_feedback(session, x_office, x.id, agency_id=unit, notice_required=True, notice_working_days=30,
                                     today=date(2024, 9, 2))
    assert lookback and RectificationPlan  # the look-back stays for the user to try
    return True
