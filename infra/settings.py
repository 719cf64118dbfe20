"""Settings from the environment (and an optional .env), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    """Configuration; every field is an environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Literal["dev", "prod", "test"] = "dev"
    # The owner's connection: migrations run as this login, which owns the tables. With no
    # URL the embedded PostgreSQL in data_dir is started. The API never uses it.
    database_url: str | None = None
    # The API's connection: a non-owner role bound by row-level security. Default: the
    # owner's URL with the login replaced by `ducha_app` (made by `ducha migrate`).
    app_database_url: str | None = None
    # Workers and the scheduler: a BYPASSRLS role, since sweeps span tenants. Default: the
    # owner's URL with the login `ducha_system`.
    system_database_url: str | None = None
    # Roll-up reads (the dashboards' figures, series and drill-down pages): a streaming replica,
    # as `ducha_app` under the same row-level security. Default: the API's own transaction.
    read_database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEV_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    # Prometheus scrapes /metrics on this port (not published outside the cluster; 0: none),
    # or on the API port with `Authorization: Bearer METRICS_TOKEN`; dev mode: also the API port.
    metrics_port: int = 9100
    metrics_token: str | None = None
    data_dir: Path = Path("var")
    # Authentication: dev signs HS256 with secret_key; prod verifies RS256/ES256 against a
    # JWKS URL or a PEM public key of the organisation's OIDC provider.
    jwt_issuer: str = "ducha-dev"
    jwt_audience: str = "ducha"
    jwt_login_claim: str = "sub"
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    token_lifetime_s: int = 8 * 3600
    clock_skew_s: int = 30
    # GraphQL limits.
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_page_size: int = 100
    max_body_bytes: int = 1_000_000
    max_query_cost: int = 50_000
    rate_limit_per_user: int = 1200  # requests a minute; 0 switches the limit off
    rate_limit_per_tenant: int = 12_000
    # Only the persisted operations of graphql/operations/ run (default: on in prod only).
    persisted_only: bool | None = None
    json_logs: bool = True
    # OpenTelemetry traces over OTLP/HTTP (needs the `otel` extra; see ducha/tracing.py)
    otel_enabled: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    db_pool_size: int = 10

    @field_validator("database_url", "app_database_url", "system_database_url", "redis_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def allow_list_only(self) -> bool:
        return self.is_prod if self.persisted_only is None else self.persisted_only


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    s = Settings()
    if s.is_prod and (s.secret_key == DEV_SECRET or len(s.secret_key) < 32):
        raise RuntimeError("SECRET_KEY must be set in production, at least 32 characters (it signs file links)")
    return s
