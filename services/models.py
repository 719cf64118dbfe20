"""ORM mappings of the inspection cycle (tables made by migration 0003).

Every table is a tenant table: the primary key starts with tenant_id (Citus-ready). Rows
addressed to a target unit carry agency_id and target_tenant_id for row-level security.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Identity, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True)


def _tenant() -> Mapped[int]:
    return mapped_column(BigInteger, primary_key=True)


class AnnualPlan(Base):
    __tablename__ = "annual_plan"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    year: Mapped[int]
    title: Mapped[str]
    status: Mapped[str] = mapped_column(default="draft")
    return_reason: Mapped[str | None]
    created_by: Mapped[int | None]
    submitted_at: Mapped[datetime | None]
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class PlanItem(Base):
    __tablename__ = "plan_item"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    plan_id: Mapped[int]
    title: Mapped[str]
    kind: Mapped[str]
    form: Mapped[str]
    planned_month: Mapped[int | None]
    scope_note: Mapped[str] = mapped_column(default="")


class Inspection(Base):
    __tablename__ = "inspection"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    year: Mapped[int]
    title: Mapped[str]
    kind: Mapped[str]
    form: Mapped[str]
    focus_area: Mapped[str | None]
    plan_item_id: Mapped[int | None]
    off_plan_status: Mapped[str] = mapped_column(default="not_needed")
    off_plan_reason: Mapped[str | None]
    joint_agency_id: Mapped[int | None]
    lookback_of: Mapped[int | None]
    status: Mapped[str] = mapped_column(default="draft")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class WorkPlan(Base):
    __tablename__ = "work_plan"
    tenant_id: Mapped[int] = _tenant()
    inspection_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project: Mapped[str]
    reason: Mapped[str]
    legal_basis: Mapped[str]
    methods: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    focus: Mapped[str] = mapped_column(default="")
    schedule: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(default="draft")
    return_reason: Mapped[str | None]
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]


class InspectionTarget(Base):
    __tablename__ = "inspection_target"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]


class Inspector(Base):
    __tablename__ = "inspector"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    name: Mapped[str]
    category: Mapped[str]
    agency_id: Mapped[int | None]
    user_id: Mapped[int | None]
    term_start: Mapped[date | None]
    term_end: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True)


class InspectorTraining(Base):
    __tablename__ = "inspector_training"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspector_id: Mapped[int]
    title: Mapped[str]
    held_on: Mapped[date]
    hours: Mapped[float] = mapped_column(default=0)


class TeamMember(Base):
    __tablename__ = "team_member"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    inspector_id: Mapped[int | None]
    invited_name: Mapped[str | None]
    invited_category: Mapped[str | None]
    is_leader: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[int | None]


class TeamNote(Base):
    __tablename__ = "team_note"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    body: Mapped[str]
    author_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class UnannouncedVisit(Base):
    __tablename__ = "unannounced_visit"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    place: Mapped[str]
    planned_on: Mapped[date]
    staff_member_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    approved_by: Mapped[int]
    record: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SelfInspection(Base):
    __tablename__ = "self_inspection"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    requested_on: Mapped[date]
    due_on: Mapped[date]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[int | None]
    content: Mapped[str | None]
    file_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    late: Mapped[bool | None]


class Problem(Base):
    __tablename__ = "problem"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int | None]
    title: Mapped[str]
    description: Mapped[str] = mapped_column(default="")
    category: Mapped[str]
    source: Mapped[str]
    severity: Mapped[str]
    is_common: Mapped[bool] = mapped_column(default=False)
    clue_id: Mapped[int | None]
    found_on: Mapped[date]
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ProblemInstance(Base):
    __tablename__ = "problem_instance"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    problem_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    status: Mapped[str] = mapped_column(default="found")
    feedback_id: Mapped[int | None]
    due_on: Mapped[date | None]
    acceptance_round: Mapped[int] = mapped_column(default=0)
    acceptance_step: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]
    rebound: Mapped[bool] = mapped_column(default=False)
    # the acceptance chain of the current round, fixed when the round starts (migration 0006)
    acceptance_steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, default=None)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class Report(Base):
    __tablename__ = "report"
    tenant_id: Mapped[int] = _tenant()
    inspection_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    body: Mapped[str]
    status: Mapped[str] = mapped_column(default="draft")
    return_reason: Mapped[str | None]
    drafted_by: Mapped[int | None]
    office_approved_by: Mapped[int | None]
    committee_approved_by: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class Feedback(Base):
    __tablename__ = "feedback"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    issued_by: Mapped[int | None]
    notice_required: Mapped[bool]
    notice_due_on: Mapped[date | None]
    notice_due_provisional: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(default="")


class RectificationPlan(Base):
    __tablename__ = "rectification_plan"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    feedback_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    status: Mapped[str] = mapped_column(default="draft")
    return_reason: Mapped[str | None]
    submitted_by: Mapped[int | None]
    leader_approved_by: Mapped[int | None]
    decided_by: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class Measure(Base):
    __tablename__ = "measure"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    plan_id: Mapped[int]
    instance_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    content: Mapped[str]
    responsible_person: Mapped[str]
    due_on: Mapped[date]
    completed_at: Mapped[datetime | None]


class ProgressUpdate(Base):
    __tablename__ = "progress_update"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    measure_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    body: Mapped[str]
    completes: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AcceptanceChain(Base):
    __tablename__ = "acceptance_chain"
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Signoff(Base):
    __tablename__ = "signoff"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    instance_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    round: Mapped[int]
    step: Mapped[int]
    step_name: Mapped[str]
    decision: Mapped[str]
    comment: Mapped[str] = mapped_column(default="")
    evidence_sha256: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    signed_by: Mapped[int]
    signed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LookbackItem(Base):
    __tablename__ = "lookback_item"
    tenant_id: Mapped[int] = _tenant()
    id: Mapped[int] = _id()
    inspection_id: Mapped[int]
    instance_id: Mapped[int]
    agency_id: Mapped[int]
    target_tenant_id: Mapped[int]
    reason: Mapped[str]
    outcome: Mapped[str | None]
