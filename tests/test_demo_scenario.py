"""The demo's running 2024 scenario loads through the real actions and reads right."""

from __future__ import annotations

from ducha.services.demo_scenario import seed_scenario


async def test_demo_scenario_has_problems_at_several_stages(db, demo, gql):
    async with db.system_session() as s:
        await seed_scenario(s)
    async with db.system_session() as s:
        assert not await seed_scenario(s)  # once only
    d = await gql.data("jiayu.office", '{ inspections(first: 50, filter: {year: 2024}) { edges { node { title kind status } } } }')
    titles = {e["node"]["title"]: e["node"]["status"] for e in d["inspections"]["edges"]}
    assert titles["嘉鱼县2024年度法治建设全面督察"] == "rectification"
    assert titles["《长江保护法》贯彻实施专项督察"] == "in_progress"
    assert titles["行政机关负责人出庭应诉专项督察"] == "approved"
    assert titles["咸宁市2024年度对嘉鱼县法治建设督察"] == "feedback"  # addressed to 嘉鱼县's units
    d = await gql.data("jiayu.office", '{ problems(first: 100, filter: {year: 2024}) { edges { node { status problem { title } } } } }')
    stages = {e["node"]["status"] for e in d["problems"]["edges"]}
    assert {"closed", "in_acceptance", "notified", "found"} <= stages
