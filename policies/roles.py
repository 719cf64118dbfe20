"""The role catalogue: who may be granted what, and the vocabulary the rules speak.

A role is granted to a user *within a domain* (a region, by its materialized path); it reaches
that region and everything below it, never up and never sideways. What each role may do is
written, generically, in ``rules.csv`` (role -> action on resource kind); this module holds
the names, labels and flags the rest of the code and the front end need.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    OFFICE_ADMIN = "office_admin"
    OFFICE_LEADER = "office_leader"
    INSPECTOR = "inspector"
    TEAM_LEADER = "team_leader"
    AGENCY_LIAISON = "agency_liaison"
    AGENCY_LEADER = "agency_leader"
    DISCIPLINE_LIAISON = "discipline_liaison"
    JUDICIAL_LIAISON = "judicial_liaison"
    COMMITTEE_MEMBER = "committee_member"
    OVERSEER = "overseer"


@dataclass(frozen=True, slots=True)
class RoleInfo:
    label: str
    agency_bound: bool  # acts for its own agency only (the grant carries agency_id)
    description: str


ROLES: dict[Role, RoleInfo] = {
    Role.PLATFORM_ADMIN: RoleInfo(
        "平台管理员",
        False,
        "Runs the platform: regions, tenants, agencies, users, role grants, everything.",
    ),
    Role.OFFICE_ADMIN: RoleInfo(
        "办公室管理员",
        False,
        "Staff of a rule-of-law office (法治办): prepares plans, inspections, teams, problems, "
        "reports and rectification decisions, manages users and agencies, grants roles.",
    ),
    Role.OFFICE_LEADER: RoleInfo(
        "办公室负责人",
        False,
        "Head of a rule-of-law office: approves plans and work plans, reports, escalation "
        "rungs and acceptance sign-offs.",
    ),
    Role.INSPECTOR: RoleInfo(
        "督察员",
        False,
        "Member of an inspection team: records inspections, problems and clues.",
    ),
    Role.TEAM_LEADER: RoleInfo(
        "督察组组长",
        False,
        "Leads an inspection team: as an inspector, plus approving team matters (e.g. "
        "unannounced visits), signing acceptance and submitting report drafts.",
    ),
    Role.AGENCY_LIAISON: RoleInfo(
        "单位联络员",
        True,
        "Liaison of an inspected agency: reads what is addressed to the agency, submits "
        "self-inspections and rectification, handles clues.",
    ),
    Role.AGENCY_LEADER: RoleInfo(
        "单位负责人",
        True,
        "Head of an inspected agency: as its liaison, plus approving rectification and "
        "signing acceptance.",
    ),
    Role.DISCIPLINE_LIAISON: RoleInfo(
        "纪委监委联络员",
        True,
        "Liaison of the discipline inspection and supervision commission: receives, "
        "transfers and answers clues.",
    ),
    Role.JUDICIAL_LIAISON: RoleInfo(
        "政法联络员（法院/检察院/司法局）",
        True,
        "Liaison of a court, procuratorate or justice bureau: creates, transfers and answers "
        "clues.",
    ),
    Role.COMMITTEE_MEMBER: RoleInfo(
        "委员会成员",
        False,
        "Member of the rule-of-law committee: reads, approves reports, signs acceptance.",
    ),
    Role.OVERSEER: RoleInfo(
        "只读监督（省司法厅）",
        False,
        "Read-only oversight (provincial Department of Justice): reads and exports "
        "everything, changes nothing.",
    ),
}

AGENCY_BOUND_ROLES: frozenset[Role] = frozenset(r for r, i in ROLES.items() if i.agency_bound)

# Resource kinds the rules speak about (``obj`` in a request). A wildcard ``*`` in rules.csv
# expands over exactly these.
RESOURCES: tuple[str, ...] = (
    "region",
    "tenant",
    "agency",
    "user",
    "role",
    "plan",
    "inspection",
    "team",
    "inspector",
    "problem",
    "report",
    "rectification",
    "acceptance",
    "lookback",
    "clue",
    "escalation",
    "notification",
    "calendar",
    "rollup",
    "assessment",
    "task",
    "document",
    "export",
    "audit",
)

# Actions (``act`` in a request). A wildcard ``*`` in rules.csv expands over exactly these.
ACTIONS: tuple[str, ...] = (
    "read",
    "create",
    "update",
    "submit",
    "approve",
    "decide",
    "sign",
    "grant",
    "transfer",
    "receive",
    "feedback",
    "export",
)

# Actions that change nothing (the overseer's whole world).
READ_ONLY_ACTIONS: frozenset[str] = frozenset({"read", "export"})
