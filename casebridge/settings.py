"""Process settings, read once from the environment (prefix ``CASEBRIDGE_``).

Outside dev mode a default secret is refused: a real deployment must set its own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "casebridge-dev-secret-change-me"
DEFAULT_POLICY = Path(__file__).parent / "policy" / "default.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBRIDGE_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    data_dir: Path = Path(".data")
    policy: Path = DEFAULT_POLICY
    calendar_overrides: Path | None = None
    timezone: str = "Asia/Shanghai"

    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "casebridge"
    task_queue: str = "casebridge"
    # A Temporal cluster behind TLS (mTLS with a client certificate and key, PEM files) or Temporal
    # Cloud (an API key, which turns TLS on). Unset: plain gRPC, as the embedded dev server speaks.
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    # Connections the API process keeps to PostgreSQL (and as many again under load).
    api_db_pool_size: int = Field(default=10, ge=1)

    # Ports of the embedded servers that `make run` (casebridge.devstack) starts when
    # CASEBRIDGE_DATABASE_URL / CASEBRIDGE_TEMPORAL_ADDRESS are unset. All bind 127.0.0.1 only.
    embedded_pg_port: int = Field(default=55432, ge=1, le=65535)
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)

    # Worker tuning: how much one worker process takes on at once.
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    worker_db_pool_size: int = Field(default=10, ge=1)
    # Workflows kept in memory between their tasks (the SDK's default). A case not cached is
    # replayed from its history when its next deadline fires: memory is bounded by this number,
    # not by the number of open cases.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # host:port where the worker serves Temporal SDK metrics for Prometheus; unset = off.
    worker_metrics_address: str | None = None

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    token_ttl_minutes: int = Field(default=12 * 60, ge=1)
    # The web UI's session cookie is Secure when the request came over https (None); set true behind
    # a TLS-terminating proxy that does not pass X-Forwarded-Proto, or false to never set it.
    web_cookie_secure: bool | None = None
    log_json: bool | None = None
    log_level: str = "INFO"

    # --- Intake from outside systems (casebridge/api/routes/hotline.py, open311.py) ---------------
    # 12345 hotline: work orders are signed with HMAC-SHA256 over f"{timestamp}.{body}" with this
    # shared secret. Unset: the hotline endpoint answers 503 "not configured" (there is no default).
    hotline_secret: SecretStr | None = None
    # A signed order is accepted only when its X-Hotline-Timestamp is within this many seconds of now.
    hotline_replay_window_seconds: int = Field(default=300, ge=1, le=3600)
    # Hotline category names → our category codes, over the built-in table in casebridge/intake.py
    # (JSON in the environment, e.g. CASEBRIDGE_HOTLINE_CATEGORIES='{"农民工欠薪": "wage_arrears"}').
    hotline_categories: dict[str, str] = Field(default_factory=dict)
    # Open311 GeoReport v2: the api_key values a client may file requests with. Empty: every POST
    # is refused (403). JSON list in the environment: CASEBRIDGE_OPEN311_API_KEYS='["key-1"]'.
    open311_api_keys: list[SecretStr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "prod" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "CASEBRIDGE_SECRET_KEY is the development default; set a secret of your own outside dev mode"
            )
        return self

    @model_validator(mode="after")
    def _temporal_tls_files(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("CASEBRIDGE_TEMPORAL_TLS_CERT and CASEBRIDGE_TEMPORAL_TLS_KEY go together; set both")
        for name in ("temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"CASEBRIDGE_{name.upper()}: no such file: {path}")
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        return (
            self.temporal_tls
            or self.temporal_api_key is not None
            or any(p is not None for p in (self.temporal_tls_ca, self.temporal_tls_cert))
        )

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env == "prod"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("CASEBRIDGE_DATABASE_URL is not set (make run sets it for the embedded server)")
        return self.database_url

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise RuntimeError("CASEBRIDGE_TEMPORAL_ADDRESS is not set (make run sets it for the embedded server)")
        return self.temporal_address


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
