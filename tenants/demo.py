"""The demo province: 湖北省 with 咸宁市/嘉鱼县 and 十堰市/郧西县 staffed, the rest as empty tenants."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ducha.policies.roles import AGENCY_BOUND_ROLES, Role
from ducha.tenants import directory
from ducha.tenants.models import Agency, Tenant
from ducha.tenants.regions_data import load_hubei

JIAYU, YUNXI, XIANNING, SHIYAN, HUBEI = "421221", "420322", "421200", "420300", "420000"
XINJIE = "421221104"  # 新街镇, 嘉鱼县

# (region, kind, name) of the agencies named in seeds 000 and 001.
AGENCIES: list[tuple[str, str, str]] = [
    (HUBEI, "office", "中共湖北省委全面依法治省委员会办公室"),
    (HUBEI, "justice", "湖北省司法厅"),
    (XIANNING, "office", "中共咸宁市委全面依法治市委员会办公室"),
    (SHIYAN, "office", "中共十堰市委全面依法治市委员会办公室"),
    (JIAYU, "office", "中共嘉鱼县委全面依法治县委员会办公室"),
    (JIAYU, "committee", "中共嘉鱼县委全面依法治县委员会"),
    (JIAYU, "party_committee", "中共嘉鱼县委员会"),
    (JIAYU, "government", "嘉鱼县人民政府"),
    (JIAYU, "discipline", "嘉鱼县纪委监委"),
    (JIAYU, "court", "嘉鱼县人民法院"),
    (JIAYU, "procuratorate", "嘉鱼县人民检察院"),
    (JIAYU, "inspection_tour", "中共嘉鱼县委巡察工作领导小组办公室"),
    (JIAYU, "justice", "嘉鱼县司法局"),
    (JIAYU, "petition", "嘉鱼县信访局"),
    (JIAYU, "data", "嘉鱼县政务服务和大数据管理局"),
    (JIAYU, "cyberspace", "中共嘉鱼县委网络安全和信息化委员会办公室"),
    (JIAYU, "zone", "嘉鱼经济开发区管理委员会"),
    (YUNXI, "office", "中共郧西县委全面依法治县委员会办公室"),
    (YUNXI, "committee", "中共郧西县委全面依法治县委员会"),
    (YUNXI, "party_committee", "中共郧西县委员会"),
    (YUNXI, "government", "郧西县人民政府"),
    (YUNXI, "discipline", "郧西县纪委监委"),
    (YUNXI, "court", "郧西县人民法院"),
    (YUNXI, "procuratorate", "郧西县人民检察院"),
    (YUNXI, "inspection_tour", "中共郧西县委巡察工作领导小组办公室"),
    (YUNXI, "justice", "郧西县司法局"),
    (YUNXI, "petition", "郧西县信访局"),
]


@dataclass(frozen=True)
class DemoUser:
    login: str
    name: str
    agency: str  # agency name
    roles: tuple[tuple[Role, str], ...]  # (role, region code)
    note: str


USERS: list[DemoUser] = [
    DemoUser("hubei.office", "李卫东", "中共湖北省委全面依法治省委员会办公室",
             ((Role.PLATFORM_ADMIN, HUBEI), (Role.OFFICE_ADMIN, HUBEI), (Role.OFFICE_LEADER, HUBEI)),
             "province office: platform admin, office admin and leader for all of 湖北"),
    DemoUser("hubei.justice", "王静", "湖北省司法厅", ((Role.OVERSEER, HUBEI),),
             "provincial justice department: reads everything, changes nothing"),
    DemoUser("xianning.office", "陈志刚", "中共咸宁市委全面依法治市委员会办公室",
             ((Role.OFFICE_ADMIN, XIANNING), (Role.OFFICE_LEADER, XIANNING)),
             "咸宁市 office: sees 咸宁 and its counties (嘉鱼县 included)"),
    DemoUser("jiayu.office", "刘洋", "中共嘉鱼县委全面依法治县委员会办公室", ((Role.OFFICE_ADMIN, JIAYU),),
             "嘉鱼县 office staff"),
    DemoUser("jiayu.leader", "周建华", "中共嘉鱼县委全面依法治县委员会办公室", ((Role.OFFICE_LEADER, JIAYU),),
             "head of the 嘉鱼县 office: approves"),
    DemoUser("jiayu.inspector", "吴敏", "中共嘉鱼县委全面依法治县委员会办公室",
             ((Role.INSPECTOR, JIAYU), (Role.TEAM_LEADER, JIAYU)), "嘉鱼县 inspector and team leader"),
    DemoUser("jiayu.discipline", "郑国强", "嘉鱼县纪委监委", ((Role.DISCIPLINE_LIAISON, JIAYU),),
             "嘉鱼县 discipline commission liaison"),
    DemoUser("jiayu.court", "孙丽", "嘉鱼县人民法院", ((Role.JUDICIAL_LIAISON, JIAYU),), "嘉鱼县 court liaison"),
    DemoUser("jiayu.xinjie", "黄海", "新街镇人民政府", ((Role.AGENCY_LIAISON, XINJIE),), "新街镇 liaison"),
    DemoUser("jiayu.xinjie.head", "邓红梅", "新街镇人民政府", ((Role.AGENCY_LEADER, XINJIE),),
             "head of 新街镇: approves its rectification plans, signs its self-check"),
    DemoUser("jiayu.committee", "段正平", "中共嘉鱼县委全面依法治县委员会", ((Role.COMMITTEE_MEMBER, JIAYU),),
             "member of the county's rule-of-law committee: approves reports, hears rectification"),
    DemoUser("xianning.inspector", "钱卫国", "中共咸宁市委全面依法治市委员会办公室",
             ((Role.INSPECTOR, XIANNING), (Role.TEAM_LEADER, XIANNING)), "咸宁市 inspector and team leader"),
    DemoUser("shiyan.office", "马俊", "中共十堰市委全面依法治市委员会办公室",
             ((Role.OFFICE_ADMIN, SHIYAN), (Role.OFFICE_LEADER, SHIYAN)), "十堰市 office"),
    DemoUser("yunxi.office", "何芳", "中共郧西县委全面依法治县委员会办公室",
             ((Role.OFFICE_ADMIN, YUNXI), (Role.OFFICE_LEADER, YUNXI)), "郧西县 office"),
    DemoUser("yunxi.inspector", "冯磊", "中共郧西县委全面依法治县委员会办公室",
             ((Role.INSPECTOR, YUNXI), (Role.TEAM_LEADER, YUNXI)), "郧西县 inspector and team leader"),
    DemoUser("yunxi.justice", "罗斌", "郧西县司法局", ((Role.JUDICIAL_LIAISON, YUNXI),), "郧西县 justice bureau liaison"),
]


async def seed_demo(session: AsyncSession) -> bool:
    """Load the demo province once (a system session); False if it was there already."""
    if (await session.execute(select(Tenant.id).limit(1))).first() is not None:
        return False
    rows = load_hubei()
    await directory.load_regions(session, rows)
    for r in rows:  # parents first: every city and county office is a tenant
        if r.level in ("province", "city", "county"):
            await directory.create_tenant(session, r.code)
    agencies: dict[str, Agency] = {}
    for code, kind, name in AGENCIES:
        agencies[name] = await directory.create_agency(session, region_code=code, kind=kind, name=name)
    for r in rows:
        if r.level == "town" and r.parent_code in (JIAYU, YUNXI):
            name = f"{r.name}人民政府"
            agencies[name] = await directory.create_agency(session, region_code=r.code, kind="town", name=name)
    # Every other tenant gets its office, so a higher office can address it.
    staffed = {HUBEI, XIANNING, SHIYAN, JIAYU, YUNXI}
    suffix = {"province": "省", "city": "市", "county": "县"}
    for r in rows:
        if r.level in ("city", "county") and r.code not in staffed:
            await directory.create_agency(
                session, region_code=r.code, kind="office",
                name=f"{r.name}全面依法治{suffix[r.level]}委员会办公室",
            )
    for u in USERS:
        user = await directory.create_user(session, login=u.login, name=u.name, agency_id=agencies[u.agency].id)
        for role, code in u.roles:
            await directory.grant_role(session, user=user, role=role, region_code=code,
                                       agency_bound=role in AGENCY_BOUND_ROLES)
    return True
