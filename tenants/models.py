"""ORM mappings of the directory tables (regions, tenants, agencies, users, role grants)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Text
from sqlalchemy.orm import Mapped, mapped_column

from ducha.db import Base


class Region(Base):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str]
    level: Mapped[str]
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    path: Mapped[str]
    synthetic: Mapped[bool] = mapped_column(default=False)


class Tenant(Base):
    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    region_path: Mapped[str]
    name: Mapped[str]
    kind: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id"))
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class Agency(Base):
    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    region_path: Mapped[str]
    kind: Mapped[str]
    name: Mapped[str]
    short_name: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    login: Mapped[str]
    name: Mapped[str]
    active: Mapped[bool] = mapped_column(default=True)
    grants_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class RoleAssignment(Base):
    __tablename__ = "role_assignment"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    role: Mapped[str]
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    region_path: Mapped[str]
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    granted_at: Mapped[datetime] = mapped_column(server_default="now()")


AGENCY_KINDS: dict[str, str] = {
    "office": "依法治办",
    "committee": "法治建设委员会",
    "party_committee": "党委",
    "government": "人民政府",
    "discipline": "纪委监委",
    "court": "人民法院",
    "procuratorate": "人民检察院",
    "inspection_tour": "巡察办",
    "justice": "司法局",
    "petition": "信访局",
    "data": "政务服务和大数据管理局",
    "cyberspace": "网信办",
    "enforcement": "行政执法单位",
    "department": "政府部门",
    "town": "乡镇（街道）",
    "organization": "组织部",
    "congress": "人大常委会",
    "zone": "开发区",
}
