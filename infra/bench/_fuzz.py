"""Generated GraphQL operations against the in-process API, for the isolation and bad-input
fuzzers (tests/test_fuzz_isolation.py, tests/test_fuzz_mutations.py, `ducha bench isolation`).

- `api()`: a scratch database (migrated, demo province) and the ASGI app on it, driven over
  HTTP semantics in process; rate limits off, everything else as configured.
- `seed()`: five tenants at three levels (湖北省; 咸宁市, 十堰市; 嘉鱼县, 郧西县) each run an
  inspection through the real mutations, with a unique canary in every text field, and the
  counties' units transfer clues. Each canary records who may see it, from the rules:
  the owner's office chain (its tenant and every tenant above it), and, for what is
  addressed to a unit, that unit and its own office chain; agency-bound users see their
  agency's items only.
- `queries()` / `mutation()`: hypothesis-graphql strategies over the committed SDL, with
  scalars drawn from the seeded ids (every tenant's) so that operations reach real rows.
- `drive()`: run a strategy's examples on the event loop from a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import graphql
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import mutations as gen_mutations
from hypothesis_graphql import queries as gen_queries

HUBEI, XIANNING, JIAYU, SHIYAN, YUNXI = "420000", "421200", "421221", "420300", "420322"
# The region paths of the five tenants of the scenario (a tenant sees its own path's subtree).
PATHS = {HUBEI: "420000", XIANNING: "420000/421200", JIAYU: "420000/421200/421221", SHIYAN: "420000/420300",
         YUNXI: "420000/420300/420322"}

# Every demo login: the region its office roles reach (None: agency-bound only) and its agency.
LOGINS: dict[str, tuple[str | None, str]] = {
    "hubei.office": (HUBEI, "中共湖北省委全面依法治省委员会办公室"),
    "hubei.justice": (HUBEI, "湖北省司法厅"),
    "xianning.office": (XIANNING, "中共咸宁市委全面依法治市委员会办公室"),
    "xianning.inspector": (XIANNING, "中共咸宁市委全面依法治市委员会办公室"),
    "shiyan.office": (SHIYAN, "中共十堰市委全面依法治市委员会办公室"),
    "jiayu.office": (JIAYU, "中共嘉鱼县委全面依法治县委员会办公室"),
    "jiayu.leader": (JIAYU, "中共嘉鱼县委全面依法治县委员会办公室"),
    "jiayu.inspector": (JIAYU, "中共嘉鱼县委全面依法治县委员会办公室"),
    "jiayu.committee": (JIAYU, "中共嘉鱼县委全面依法治县委员会"),
    "jiayu.discipline": (None, "嘉鱼县纪委监委"),
    "jiayu.court": (None, "嘉鱼县人民法院"),
    "jiayu.xinjie": (None, "新街镇人民政府"),
    "jiayu.xinjie.head": (None, "新街镇人民政府"),
    "yunxi.office": (YUNXI, "中共郧西县委全面依法治县委员会办公室"),
    "yunxi.inspector": (YUNXI, "中共郧西县委全面依法治县委员会办公室"),
    "yunxi.justice": (None, "郧西县司法局"),
}

CANARY = re.compile(r"KNRY\d{4}Q")
E = "... on UserError { code message }"


def schema_sdl() -> str:
    """The committed SDL (graphql/schema.graphql), as the front end sees it."""
    return (files("ducha.graphql") / "schema.graphql").read_text(encoding="utf-8")


# --- the in-process API ---------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    text: str


@dataclass
class Api:
    """POST operations to the in-process app as a demo login."""

    client: Any
    settings: Any
    db: Any
    _tokens: dict[str, str] = field(default_factory=dict)

    async def post(self, login: str, query: str, variables: dict[str, Any] | None = None) -> Response:
        from ducha.tenants.auth import issue_dev_token

        tok = self._tokens.get(login) or self._tokens.setdefault(login, issue_dev_token(login))
        r = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                   headers={"Authorization": f"Bearer {tok}"})
        try:
            body = r.json()
        except ValueError:
            body = {}
        return Response(r.status_code, body if isinstance(body, dict) else {"_": body}, r.text)

    async def data(self, login: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.post(login, query, variables)
        if r.status != 200 or r.body.get("errors"):
            raise AssertionError(f"{login}: {r.status} {r.text[:2000]}\n{query}")
        return r.body["data"]


@asynccontextmanager
async def api(prefix: str) -> AsyncIterator[Api]:
    """A scratch database with the demo province and the app on it; both gone afterwards."""
    import httpx

    from ducha.bench._scratch import scratch_database
    from ducha.db import Database
    from ducha.graphql.app import create_app
    from ducha.settings import get_settings

    async with scratch_database(prefix):
        # no rate limits: thousands of operations a minute from a few logins are the point
        s = get_settings().model_copy(update={"rate_limit_per_user": 0, "rate_limit_per_tenant": 0})
        app = create_app(s)
        db = Database.from_settings(s)
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://fuzz", timeout=60) as client:
                yield Api(client=client, settings=s, db=db)
        finally:
            await db.dispose()


# --- the scenario ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    token: str
    where: str  # what carries it, for messages
    tenants: frozenset[str]  # region codes of tenants whose office chains may see it
    agencies: frozenset[str]  # agency names that may see it


def sees_tenant(login: str, code: str) -> bool:
    region = LOGINS[login][0]
    if region is None:
        return False
    return (PATHS[code] + "/").startswith(PATHS[region] + "/")


def may_see(login: str, c: Canary) -> bool:
    return any(sees_tenant(login, t) for t in c.tenants) or LOGINS[login][1] in c.agencies


@dataclass
class Scenario:
    canaries: dict[str, Canary] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)  # every id made or looked up, of every tenant
    tenant_ids: dict[str, str] = field(default_factory=dict)  # region code -> tenant id
    agency_ids: dict[str, str] = field(default_factory=dict)  # name -> id

    def canary(self, where: str, owner: str, *, to: tuple[str, str] | None = None,
               parties: Iterable[str] = ()) -> str:
        """A fresh canary of `owner`'s; `to`: addressed to (agency name, its tenant's code)."""
        token = f"KNRY{len(self.canaries) + 1:04d}Q"
        tenants = {owner} | ({to[1]} if to else set())
        agencies = set(parties) | ({to[0]} if to else set())
        self.canaries[token] = Canary(token, where, frozenset(tenants), frozenset(agencies))
        return token

    def leaks(self, login: str, text: str) -> list[Canary]:
        """Canaries in `text` that `login` may not see."""
        return [self.canaries[t] for t in sorted(set(CANARY.findall(text)))
                if t in self.canaries and not may_see(login, self.canaries[t])]

    def seen(self, text: str) -> set[str]:
        return set(CANARY.findall(text)) & set(self.canaries)


def _ok(d: dict[str, Any], name: str, typename: str | None = None) -> dict[str, Any]:
    v = d[name]
    if "code" in v or (typename and v.get("__typename") != typename):
        raise AssertionError(f"{name}: {v}")
    return v


@dataclass(frozen=True)
class Cycle:
    owner: str  # region code
    office: str
    leader: str
    committee: str
    team_leader: str | None  # a user with the team-leader role (unannounced visits)
    target: str  # agency name
    target_tenant: str  # its tenant's region code
    target_user: str | None = None  # a liaison of the target (self-inspection, rectification)
    target_head: str | None = None


CYCLES = [
    Cycle(JIAYU, "jiayu.office", "jiayu.leader", "jiayu.committee", "jiayu.inspector", "新街镇人民政府", JIAYU,
          "jiayu.xinjie", "jiayu.xinjie.head"),
    Cycle(YUNXI, "yunxi.office", "yunxi.office", "hubei.office", "yunxi.inspector", "郧西县人民法院", YUNXI),
    # a city reaches down into a county tenant's unit, the province into a city's
    Cycle(XIANNING, "xianning.office", "xianning.office", "hubei.office", "xianning.inspector", "中共嘉鱼县委员会", JIAYU),
    Cycle(SHIYAN, "shiyan.office", "shiyan.office", "hubei.office", None, "郧西县人民政府", YUNXI),
    Cycle(HUBEI, "hubei.office", "hubei.office", "hubei.office", None, "中共十堰市委全面依法治市委员会办公室", SHIYAN),
]
AGENCIES = sorted({c.target for c in CYCLES} | {a for _, a in LOGINS.values()})


async def seed(a: Api) -> Scenario:
    """Build the canary scenario through the real mutations, as the offices and units would."""
    sc = Scenario()
    d = await a.data("hubei.office", "{ tenants { id regionCode } }")
    sc.tenant_ids = {t["regionCode"]: t["id"] for t in d["tenants"]}
    sc.ids |= set(sc.tenant_ids.values())
    for name in AGENCIES:
        d = await a.data("hubei.office", "query($n: String!) { agencies(first: 5, filter: {nameContains: $n}) "
                                         "{ edges { node { id name } } } }", {"n": name})
        sc.agency_ids[name] = next(e["node"]["id"] for e in d["agencies"]["edges"] if e["node"]["name"] == name)
    sc.ids |= set(sc.agency_ids.values())
    for c in CYCLES:
        await _cycle(a, sc, c)
    await _open_inspection(a, sc, CYCLES[0])
    await _clues(a, sc)
    for login in ("hubei.office", "jiayu.xinjie", "jiayu.court"):
        d = await a.data(login, "{ deadlines(first: 100) { edges { node { id } } } inbox(first: 100) { edges { node { id } } } }")
        sc.ids |= {e["node"]["id"] for k in ("deadlines", "inbox") for e in d[k]["edges"]}
    return sc


async def _cycle(a: Api, sc: Scenario, c: Cycle) -> None:
    t = sc.tenant_ids[c.owner]
    internal = lambda where: sc.canary(where, c.owner)  # noqa: E731
    addressed = lambda where: sc.canary(where, c.owner, to=(c.target, c.target_tenant))  # noqa: E731
    target = sc.agency_ids[c.target]

    d = await a.data(c.office, "mutation($t: ID!, $x: String!) { createAnnualPlan(tenantId: $t, year: 2026, title: $x) "
                               "{ __typename ... on AnnualPlan { id } " + E + " } }", {"t": t, "x": f"计划{internal('plan.title')}"})
    plan = _ok(d, "createAnnualPlan", "AnnualPlan")["id"]
    d = await a.data(c.office, "mutation($p: ID!, $x: String!, $s: String!) { addPlanItem(planId: $p, title: $x, kind: SPECIAL, "
                               "form: WRITTEN, scopeNote: $s) { __typename ... on PlanItem { id } " + E + " } }",
                     {"p": plan, "x": f"项目{internal('plan_item.title')}", "s": f"范围{internal('plan_item.scope_note')}"})
    sc.ids |= {plan, _ok(d, "addPlanItem", "PlanItem")["id"]}

    d = await a.data(c.office, "mutation($in: CreateInspectionInput!) { createInspection(input: $in) "
                               "{ __typename ... on Inspection { id } " + E + " } }",
                     {"in": {"tenantId": t, "title": f"督察{addressed('inspection.title')}", "kind": "SPECIAL",
                             "form": "BOTH", "year": 2025, "offPlanReason": f"交办{internal('inspection.off_plan_reason')}",
                             "focusArea": f"重点{addressed('inspection.focus_area')}"}})
    i = _ok(d, "createInspection", "Inspection")["id"]
    sc.ids.add(i)
    await a.data(c.leader, "mutation($i: ID!) { decideOffPlanInspection(inspectionId: $i, approve: true) { __typename } }", {"i": i})
    _ok(await a.data(c.office, "mutation($i: ID!, $a: [ID!]!) { addInspectionTargets(inspectionId: $i, agencyIds: $a) "
                               "{ __typename " + E + " } }", {"i": i, "a": [target]}), "addInspectionTargets")
    wp = {"project": f"方案{internal('work_plan.project')}", "reason": f"理由{internal('work_plan.reason')}",
          "legalBasis": f"依据{internal('work_plan.legal_basis')}", "methods": ["site_visits"],
          "focus": f"重点{internal('work_plan.focus')}", "schedule": f"日程{internal('work_plan.schedule')}"}
    _ok(await a.data(c.office, "mutation($i: ID!, $w: WorkPlanInput!) { saveWorkPlan(inspectionId: $i, input: $w) "
                               "{ __typename " + E + " } }", {"i": i, "w": wp}), "saveWorkPlan")
    _ok(await a.data(c.office, "mutation($i: ID!) { submitWorkPlan(inspectionId: $i) { __typename " + E + " } }", {"i": i}),
        "submitWorkPlan")
    _ok(await a.data(c.leader, "mutation($i: ID!) { decideWorkPlan(inspectionId: $i, approve: true) { __typename " + E + " } }",
                     {"i": i}), "decideWorkPlan")

    q = ("mutation($t: ID!, $n: String!, $m: String!, $u: String) { a: addInspector(tenantId: $t, name: $n, category: OFFICE, "
         "userLogin: $u) { ... on Inspector { id } " + E + " } b: addInspector(tenantId: $t, name: $m, category: LEGAL) "
         "{ ... on Inspector { id } " + E + " } }")
    d = await a.data(c.office, q, {"t": t, "n": f"组长{internal('inspector.name')}", "m": f"组员{internal('inspector.name')}",
                                   "u": c.team_leader})
    la, lb = _ok(d, "a")["id"], _ok(d, "b")["id"]
    _ok(await a.data(c.office, "mutation($i: ID!, $x: String!) { addInspectorTraining(inspectorId: $i, title: $x, "
                               "heldOn: \"2025-03-01\", hours: 4) { __typename " + E + " } }",
                     {"i": lb, "x": f"培训{internal('inspector_training.title')}"}), "addInspectorTraining")
    q = ("mutation($i: ID!, $l: ID!, $m: ID!, $n: String!) { l: addTeamMember(inspectionId: $i, inspectorId: $l, isLeader: true) "
         "{ ... on TeamMember { id } " + E + " } m: addTeamMember(inspectionId: $i, inspectorId: $m) { ... on TeamMember { id } "
         + E + " } x: addTeamMember(inspectionId: $i, invitedName: $n, invitedCategory: LAWYER) { ... on TeamMember { id } "
         + E + " } }")
    d = await a.data(c.office, q, {"i": i, "l": la, "m": lb, "n": f"律师{internal('team_member.invited_name')}"})
    staff = [_ok(d, k)["id"] for k in ("l", "m", "x")]
    sc.ids |= {la, lb, *staff}
    _ok(await a.data(c.office, "mutation($i: ID!) { startInspection(inspectionId: $i) { __typename " + E + " } }", {"i": i}),
        "startInspection")

    d = await a.data(c.office, "mutation($i: ID!) { requestSelfInspections(inspectionId: $i, workingDays: 10, today: \"2025-05-06\") "
                               "{ __typename ... on Inspection { selfInspections { id } } " + E + " } }", {"i": i})
    sis = [s["id"] for s in _ok(d, "requestSelfInspections", "Inspection")["selfInspections"]]
    sc.ids |= set(sis)
    if c.target_user:
        for si in sis:
            _ok(await a.data(c.target_user, "mutation($s: ID!, $x: String!) { submitSelfInspection(selfInspectionId: $s, "
                                            "content: $x, today: \"2025-05-08\") { __typename " + E + " } }",
                             {"s": si, "x": f"自查{addressed('self_inspection.content')}"}), "submitSelfInspection")
    if c.team_leader:
        q = ("mutation($i: ID!, $s: [ID!]!, $p: String!, $r: String!) { recordUnannouncedVisit(inspectionId: $i, place: $p, "
             "plannedOn: \"2025-05-06\", staffMemberIds: $s, record: $r) { __typename " + E + " } }")
        _ok(await a.data(c.team_leader, q, {"i": i, "s": staff[:2], "p": f"暗访{internal('unannounced_visit.place')}",
                                            "r": f"记录{internal('unannounced_visit.record')}"}), "recordUnannouncedVisit")
    _ok(await a.data(c.office, "mutation($i: ID!, $x: String!) { addTeamNote(inspectionId: $i, body: $x) { __typename " + E + " } }",
                     {"i": i, "x": f"内部{internal('team_note.body')}"}), "addTeamNote")
    q = ("mutation($in: ProblemInput!) { recordProblem(input: $in) { __typename ... on ProblemRecorded { problemId "
         "instances { id } } " + E + " } }")
    d = await a.data(c.office, q, {"in": {"inspectionId": i, "title": f"问题{addressed('problem.title')}",
                                          "description": f"描述{addressed('problem.description')}", "category": "ENFORCEMENT",
                                          "source": "INSPECTION", "severity": "GENERAL", "agencyIds": [target]}})
    rec = _ok(d, "recordProblem", "ProblemRecorded")
    sc.ids |= {rec["problemId"], *(x["id"] for x in rec["instances"])}
    _ok(await a.data(c.office, "mutation($i: ID!, $x: String!) { saveReportDraft(inspectionId: $i, body: $x) { __typename " + E
                     + " } }", {"i": i, "x": f"报告{internal('report.body')}"}), "saveReportDraft")
    _ok(await a.data(c.office, "mutation($i: ID!) { submitReport(inspectionId: $i) { __typename " + E + " } }", {"i": i}),
        "submitReport")
    for login, level in ((c.leader, "OFFICE"), (c.committee, "COMMITTEE")):
        _ok(await a.data(login, "mutation($i: ID!, $l: String!) { approveReport(inspectionId: $i, level: $l) { __typename " + E
                         + " } }", {"i": i, "l": level}), "approveReport")
    q = ("mutation($i: ID!, $a: ID!, $x: String!) { issueFeedback(inspectionId: $i, agencyId: $a, noticeRequired: true, "
         "noticeWorkingDays: 20, summary: $x, today: \"2025-06-03\") { __typename ... on Feedback { id } " + E + " } }")
    fb = _ok(await a.data(c.office, q, {"i": i, "a": target, "x": f"反馈{addressed('feedback.summary')}"}), "issueFeedback")["id"]
    sc.ids.add(fb)
    if c.target_user and c.target_head:
        inst = rec["instances"][0]["id"]
        m = [{"instanceId": inst, "content": f"措施{addressed('measure.content')}",
              "responsiblePerson": f"责任人{addressed('measure.responsible_person')}", "dueOn": "2025-06-30"}]
        d = await a.data(c.target_user, "mutation($f: ID!, $m: [MeasureInput!]!) { saveRectificationPlan(feedbackId: $f, "
                                        "measures: $m) { __typename ... on RectificationPlan { id measures { id } } " + E + " } }",
                         {"f": fb, "m": m})
        rp = _ok(d, "saveRectificationPlan", "RectificationPlan")
        sc.ids |= {rp["id"], *(x["id"] for x in rp["measures"])}
        _ok(await a.data(c.target_user, "mutation($p: ID!) { submitRectificationPlan(planId: $p) { __typename " + E + " } }",
                         {"p": rp["id"]}), "submitRectificationPlan")
        _ok(await a.data(c.target_head, "mutation($p: ID!) { approveRectificationPlan(planId: $p) { __typename " + E + " } }",
                         {"p": rp["id"]}), "approveRectificationPlan")
        _ok(await a.data(c.office, "mutation($p: ID!) { decideRectificationPlan(planId: $p, accept: true) { __typename " + E
                         + " } }", {"p": rp["id"]}), "decideRectificationPlan")
        _ok(await a.data(c.target_user, "mutation($m: ID!, $x: String!) { reportProgress(measureId: $m, body: $x) { __typename "
                         + E + " } }", {"m": rp["measures"][0]["id"], "x": f"进展{addressed('progress_update.body')}"}),
            "reportProgress")


async def _open_inspection(a: Api, sc: Scenario, c: Cycle) -> None:
    """An inspection still in progress: its unit sees the inspection, not yet the problem found."""
    t, target = sc.tenant_ids[c.owner], sc.agency_ids[c.target]
    d = await a.data(c.office, "mutation($in: CreateInspectionInput!) { createInspection(input: $in) "
                               "{ __typename ... on Inspection { id } " + E + " } }",
                     {"in": {"tenantId": t, "title": f"进行中{sc.canary('inspection.title', c.owner, to=(c.target, c.target_tenant))}",
                             "kind": "CASE", "form": "ONSITE", "year": 2025, "offPlanReason": "个案"}})
    i = _ok(d, "createInspection", "Inspection")["id"]
    sc.ids.add(i)
    await a.data(c.leader, "mutation($i: ID!) { decideOffPlanInspection(inspectionId: $i, approve: true) { __typename } }", {"i": i})
    await a.data(c.office, "mutation($i: ID!, $a: [ID!]!) { addInspectionTargets(inspectionId: $i, agencyIds: $a) { __typename } }",
                 {"i": i, "a": [target]})
    await a.data(c.office, "mutation($i: ID!, $w: WorkPlanInput!) { saveWorkPlan(inspectionId: $i, input: $w) { __typename } }",
                 {"i": i, "w": {"project": "个案", "reason": "个案", "legalBasis": "规定", "methods": ["site_visits"]}})
    await a.data(c.office, "mutation($i: ID!) { submitWorkPlan(inspectionId: $i) { __typename } }", {"i": i})
    await a.data(c.leader, "mutation($i: ID!) { decideWorkPlan(inspectionId: $i, approve: true) { __typename } }", {"i": i})
    d = await a.data(c.office, "mutation($t: ID!, $n: String!) { addInspector(tenantId: $t, name: $n, category: OFFICE) "
                               "{ ... on Inspector { id } " + E + " } }", {"t": t, "n": f"组长{sc.canary('inspector.name', c.owner)}"})
    leader = _ok(d, "addInspector")["id"]
    _ok(await a.data(c.office, "mutation($i: ID!, $l: ID!) { addTeamMember(inspectionId: $i, inspectorId: $l, isLeader: true) "
                               "{ __typename " + E + " } }", {"i": i, "l": leader}), "addTeamMember")
    sc.ids.add(leader)
    _ok(await a.data(c.office, "mutation($i: ID!) { startInspection(inspectionId: $i) { __typename " + E + " } }", {"i": i}),
        "startInspection")
    q = ("mutation($in: ProblemInput!) { recordProblem(input: $in) { __typename ... on ProblemRecorded { problemId "
         "instances { id } } " + E + " } }")
    d = await a.data(c.office, q, {"in": {"inspectionId": i, "title": f"未反馈{sc.canary('problem.title (found)', c.owner)}",
                                          "description": f"未反馈{sc.canary('problem.description (found)', c.owner)}",
                                          "category": "OTHER", "source": "INSPECTION", "severity": "MINOR", "agencyIds": [target]}})
    rec = _ok(d, "recordProblem", "ProblemRecorded")
    sc.ids |= {rec["problemId"], *(x["id"] for x in rec["instances"])}


async def _clues(a: Api, sc: Scenario) -> None:
    """Clues of the counties' units, transferred within their tenant; the parties see them."""
    reg = ("mutation($in: RegisterClueInput!) { registerClue(input: $in) { __typename ... on Clue { id } " + E + " } }")
    move = ("mutation($in: TransferClueInput!) { transferClue(input: $in) { __typename " + E + " } }")
    for sender, owner, receiver, answer in (
        ("jiayu.court", JIAYU, "中共嘉鱼县委全面依法治县委员会办公室", None),
        ("jiayu.office", JIAYU, "嘉鱼县纪委监委", "jiayu.discipline"),
        ("yunxi.justice", YUNXI, "中共郧西县委全面依法治县委员会办公室", None),
    ):
        parties = (LOGINS[sender][1], receiver)
        canary = lambda where: sc.canary(where, owner, parties=parties)  # noqa: E731
        d = await a.data(sender, reg, {"in": {"source": "LITIGATION", "importance": "ROUTINE", "discoveredOn": "2025-06-02",
                                              "title": f"线索{canary('clue.title')}", "content": f"内容{canary('clue.content')}"}})
        cid = _ok(d, "registerClue", "Clue")["id"]
        sc.ids.add(cid)
        d = await a.data(sender, "query($c: ID!) { clueTransferTargets(clueId: $c) { id name } }", {"c": cid})
        rid = next(r["id"] for r in d["clueTransferTargets"] if r["name"] == receiver)
        _ok(await a.data(sender, move, {"in": {"clueId": cid, "receiverAgencyId": rid,
                                               "note": f"移送{canary('clue_transfer.note')}"}}), "transferClue")
        if answer:
            for op in ("receiveClue", "startClueInvestigation"):
                _ok(await a.data(answer, f"mutation($c: ID!) {{ {op}(clueId: $c) {{ __typename {E} }} }}", {"c": cid}), op)
            _ok(await a.data(answer, "mutation($in: FeedBackClueInput!) { feedBackClue(input: $in) { __typename " + E + " } }",
                             {"in": {"clueId": cid, "feedback": f"反馈{canary('clue_transfer.feedback')}"}}), "feedBackClue")


# --- strategies -----------------------------------------------------------------------------

REGION_CODES = [HUBEI, XIANNING, JIAYU, SHIYAN, YUNXI, "421221104", "420322100", "429004", "420100", "421202"]
SUBJECT_TYPES = ["inspection", "problem_instance", "problem", "clue", "feedback", "rectification_plan", "annual_plan",
                 "measure", "deadline", "escalation"]


def query_scalars(sc: Scenario) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Argument values that reach real rows of every tenant, with a little noise."""
    ids = sorted(sc.ids, key=int)
    id_values = st.sampled_from([*ids, "999999"])
    strings = st.one_of(st.sampled_from(REGION_CODES), st.sampled_from(SUBJECT_TYPES),
                        st.sampled_from(["嘉鱼", "郧西", "县", "notified", "rectifying"]))
    ints = st.sampled_from([1, 2, 3, 5, 8, 12, 20, 50, 100])
    dates = st.sampled_from(["2025-06-02", "2025-10-01", "2025-01-01", "2024-12-31", "2026-03-15"])
    return {
        "ID": id_values.map(nodes.String),
        "String": strings.map(nodes.String),
        "Int": ints.map(nodes.Int),
        "Float": st.sampled_from([0.0, 1.5, 8.0]).map(nodes.Float),
        "Date": dates.map(nodes.String),
        "DateTime": st.just("2025-06-02T08:00:00+08:00").map(nodes.String),
        "JSON": st.just(graphql.ObjectValueNode(fields=())),
    }


class _Productive(graphql.Visitor):
    """Arguments that would only earn an error, which blanks the whole answer (every Query field
    is non-null): a random `after` cursor is dropped (pages after the first are walked by
    tests/test_isolation.py); years and day counts are brought into their ranges."""

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
        name, v = node.name.value, node.value
        if name == "after":
            return graphql.REMOVE
        if isinstance(v, graphql.IntValueNode):
            n = int(v.value)
            fixed = {"year": 2025, "month": n if 1 <= n <= 12 else 6, "days": n if abs(n) <= 1000 else 5}.get(name)
            if fixed is not None and fixed != n:
                return dataclasses.replace(node, value=graphql.IntValueNode(value=str(fixed)))
        return None


def _texts(t: graphql.GraphQLNamedType) -> tuple[graphql.SelectionNode, ...]:
    """Every text field (String, no arguments) of an object or interface; a fragment per member
    of a union; `__typename` where there is no text."""
    def field(name: str) -> graphql.FieldNode:
        return graphql.FieldNode(name=graphql.NameNode(value=name))

    if isinstance(t, graphql.GraphQLUnionType):
        return tuple(graphql.InlineFragmentNode(
            type_condition=graphql.NamedTypeNode(name=graphql.NameNode(value=m.name)),
            selection_set=graphql.SelectionSetNode(selections=_texts(m))) for m in t.types)
    if isinstance(t, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
        names = [n for n, f in t.fields.items() if not f.args and graphql.get_named_type(f.type) is graphql.GraphQLString]
        return tuple(field(n) for n in names) or (field("__typename"),)
    return ()


class _AllText(graphql.Visitor):
    """Show everything the generated query reaches: every text field of each object, the
    items of each connection, every member of each result union. The generator picks which
    objects to reach and how (fields, arguments, nesting); what they say is where a leak shows."""

    def __init__(self, type_info: graphql.TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info

    def leave_selection_set(self, node: graphql.SelectionSetNode, *_: Any) -> Any:
        parent = graphql.get_named_type(self.type_info.get_parent_type())
        have = {(f.alias or f.name).value for f in node.selections if isinstance(f, graphql.FieldNode)}
        extra: list[graphql.SelectionNode] = []
        if isinstance(parent, graphql.GraphQLUnionType):
            covered = {f.type_condition.name.value for f in node.selections
                       if isinstance(f, graphql.InlineFragmentNode) and f.type_condition}
            extra += [f for f in _texts(parent) if isinstance(f, graphql.InlineFragmentNode)
                      and f.type_condition and f.type_condition.name.value not in covered]
        elif isinstance(parent, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
            extra += [f for f in _texts(parent) if isinstance(f, graphql.FieldNode) and f.name.value not in have | {"__typename"}]
            edges = parent.fields.get("edges")
            if "edges" not in have and edges is not None and parent.name.endswith("Connection"):
                edge = graphql.get_named_type(edges.type)
                assert isinstance(edge, graphql.GraphQLObjectType)
                item = graphql.get_named_type(edge.fields["node"].type)
                extra.append(graphql.FieldNode(name=graphql.NameNode(value="edges"), selection_set=graphql.SelectionSetNode(
                    selections=(graphql.FieldNode(name=graphql.NameNode(value="node"),
                                                  selection_set=graphql.SelectionSetNode(selections=_texts(item))),))))
        return dataclasses.replace(node, selections=(*node.selections, *extra)) if extra else None


def _productive(doc: graphql.DocumentNode) -> str:
    schema = _schema()
    doc = graphql.visit(doc, _Productive())
    ti = graphql.TypeInfo(schema)
    return graphql.print_ast(graphql.visit(doc, graphql.TypeInfoVisitor(ti, _AllText(ti))))


@functools.lru_cache(maxsize=1)
def _schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(schema_sdl())


def queries(sc: Scenario) -> st.SearchStrategy[str]:
    """Query documents over the Query fields, with arguments from the scenario: mostly one root
    field each (so that one field's bad argument does not blank the others), sometimes many."""
    sdl, schema = schema_sdl(), _schema()
    assert schema.query_type is not None
    scalars = query_scalars(sc)
    single = st.sampled_from(sorted(schema.query_type.fields)).flatmap(
        lambda f: gen_queries(sdl, fields=[f], custom_scalars=scalars, print_ast=_productive))
    return st.one_of(single, single, single, gen_queries(sdl, custom_scalars=scalars, print_ast=_productive))


def with_typename(doc: graphql.DocumentNode) -> str:
    """The document with `__typename` on every root field that has a selection (result unions)."""
    tn = graphql.FieldNode(name=graphql.NameNode(value="__typename"))
    defs = []
    for d in doc.definitions:
        if isinstance(d, graphql.OperationDefinitionNode):
            sels = tuple(dataclasses.replace(f, selection_set=dataclasses.replace(
                f.selection_set, selections=(tn, *f.selection_set.selections)))
                if isinstance(f, graphql.FieldNode) and f.selection_set else f for f in d.selection_set.selections)
            d = dataclasses.replace(d, selection_set=dataclasses.replace(d.selection_set, selections=sels))
        defs.append(d)
    return graphql.print_ast(dataclasses.replace(doc, definitions=tuple(defs)))


def mutation(name: str, scalars: dict[str, st.SearchStrategy[graphql.ValueNode]], *,
             negative: bool = False) -> st.SearchStrategy[str]:
    """Documents calling one mutation field; NEGATIVE mode breaks the schema in one place."""
    return gen_mutations(schema_sdl(), fields=[name], custom_scalars=scalars, print_ast=with_typename,
                         mode=Mode.NEGATIVE if negative else Mode.POSITIVE)


def mutation_names() -> list[str]:
    schema = _schema()
    assert schema.mutation_type is not None
    return sorted(schema.mutation_type.fields)


def has_arguments(field: str) -> bool:
    schema = _schema()
    assert schema.mutation_type is not None
    return bool(schema.mutation_type.fields[field].args)


def error_type_names() -> set[str]:
    """The typed error members (implementations of UserError) of the committed schema."""
    schema = _schema()
    iface = schema.get_type("UserError")
    assert isinstance(iface, graphql.GraphQLInterfaceType)
    return {t.name for t in schema.get_implementations(iface).objects}


# --- checks and the runner ------------------------------------------------------------------


def unexpected_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors that are neither about the document (syntax, validation, limits: no path) nor
    bad user input (BAD_USER_INPUT): a resolver failed where it should have answered."""
    out = []
    for e in body.get("errors") or []:
        if not isinstance(e, dict):
            out.append({"message": repr(e)})
            continue
        code = (e.get("extensions") or {}).get("code")
        if e.get("path") and code != "BAD_USER_INPUT":
            out.append(e)
    return out


def drive(strategy: st.SearchStrategy[Any], body: Callable[[Any], Awaitable[None]], *, examples: int,
          loop: asyncio.AbstractEventLoop, shrink: bool = True) -> None:
    """Run `body` for `examples` examples of `strategy` on `loop`; call from a worker thread.

    Derandomized (the same operations every run, for CI) with no deadline (a request's time
    depends on the machine) and no example database (nothing is written to .hypothesis/).
    """
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None, phases=phases,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def each(example: Any) -> None:
        asyncio.run_coroutine_threadsafe(body(example), loop).result()

    each()


# --- hostile input --------------------------------------------------------------------------

_PDF = "JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK"  # a minimal PDF, base64
HOSTILE_STRINGS: list[str] = [
    "", " ", "\t\r\n", "\x00", "a\x00b", "\x01\x02\x07\x1b[31m\x7f", "\u200b\u202e\u2066反向", "\ufeff\uffff", "😀" * 40,
    "' OR '1'='1", "'; DROP TABLE inspection; --", "\"; SELECT pg_sleep(3); --", "$$ LANGUAGE sql; $$", "%s%s%n%x",
    "{{7*7}}${7*7}", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)",
    "../../../../etc/passwd", "C:\\Windows\\win.ini", "NaN", "null", "true", "-1", "0", "1e309",
    "421221", "999999999", "inspection", "pass", "reject", "OFFICE", "COMMITTEE", "site_visits",
    "yunxi.office", "jiayu.court", "nobody.here",
    "A" * 5_000, "测" * 50_000, "x" * 900_000,
    "y" * 1_100_000,  # over MAX_BODY_BYTES: refused with 413 before any parsing
    _PDF, "%%%not base64%%%", "====", "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAA==",  # a Windows executable's head
    "QUFB" * 200_000,  # 800 kB of base64 (600 kB decoded): over the upload limit
]
HOSTILE_DATES = ["0001-01-01", "9999-12-31", "2025-02-30", "2025-13-01", "1899-12-31", "2100-01-01", "2025-06-02",
                 "", "2025-06-02T00:00:00", "-2025-01-01", "２０２５-０６-０２", "20250602", "2025-6-2", "today"]
HOSTILE_INTS = [-2147483648, -1000, -1, 0, 1, 2, 5, 13, 100, 101, 1000, 2147483647]
HOSTILE_FLOATS = [-1.0, 0.0, 0.5, 1e308, -1e308, 1e-308, 99999.5]
JUNK_IDS = ["0", "-1", "abc", "", " 1", "1.5", "1e3", "１２", "9223372036854775807", "9223372036854775808",
            "99999999999999999999999", "1; DROP TABLE tenant;--", "<script>", "\x00", "NaN", "null"]


def _nested(depth: int) -> graphql.ValueNode:
    v: graphql.ValueNode = graphql.IntValueNode(value="1")
    for _ in range(depth):
        v = graphql.ListValueNode(values=(v,))
    return v


BENIGN_STRINGS = ["整改到位", "督察组", "site_visits", "pass", "OFFICE", "LEADER", "2025年度", "张三", "application/pdf",
                  "a.pdf", _PDF]


def hostile_scalars(sc: Scenario) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Values meant to break things: every tenant's ids (other tenants' included), junk ids,
    huge strings, control characters, SQL and script fragments, dates out of range, oversized
    base64, deeply nested JSON. Plausible values come as often, so that one hostile value
    often meets otherwise valid input and reaches the code past the first check."""
    ids = sorted(sc.ids, key=int)

    def mix(benign: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(benign, hostile)

    return {
        "ID": mix(st.sampled_from(ids), st.one_of(st.sampled_from(ids), st.sampled_from(JUNK_IDS))).map(nodes.String),
        "String": mix(st.sampled_from(BENIGN_STRINGS), st.sampled_from(HOSTILE_STRINGS)).map(nodes.String),
        "Int": mix(st.sampled_from([1, 5, 10, 20, 2025]), st.sampled_from(HOSTILE_INTS)).map(nodes.Int),
        "Float": mix(st.sampled_from([1.0, 4.0]), st.sampled_from(HOSTILE_FLOATS)).map(nodes.Float),
        "Date": mix(st.sampled_from(["2025-06-02", "2025-07-01", "2026-01-05"]), st.sampled_from(HOSTILE_DATES)).map(nodes.String),
        "DateTime": st.sampled_from(HOSTILE_DATES).map(nodes.String),
        "JSON": st.one_of(st.sampled_from(HOSTILE_STRINGS[:12]).map(nodes.String), st.sampled_from([1, 50, 300]).map(_nested),
                          st.just(graphql.ObjectValueNode(fields=()))),
    }


async def fingerprint(db: Any) -> str:
    """A digest of every row of every table (as the system role): equal before and after means
    nothing was written."""
    from sqlalchemy import text

    async with db.system_session() as s:
        names = [n for (n,) in (await s.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
            "ORDER BY tablename"))).all()]
        parts = " UNION ALL ".join(
            f"SELECT '{n}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM \"{n}\" x"
            for n in names)
        return (await s.execute(text(f"SELECT string_agg(t || ':' || h, ',' ORDER BY t) FROM ({parts}) f"))).scalar_one()
