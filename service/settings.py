"""Every setting Kairos reads from its environment, in one validated class.

``Settings.load()`` reads ``os.environ`` once (the CLI does, at start) and validates
every ``KAIROS_*`` variable; a bad value is a ``SettingsError`` whose one line names
the variable, and the process stops there instead of failing later with a traceback.
An empty variable counts as unset. The composition root (``service/runtime``) turns
these values into adapter objects; nothing else reads the environment.

docs/settings.md holds the table ``table()`` renders (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "KAIROS_"


class SettingsError(ValueError):
    """A variable with a value Kairos cannot use; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    # -- servers -----------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN: the kairos_scheduler role for `serve`, `worker` and "
        "`tzdata`; the schema owner for `migrate` (`kairos apply` goes through the API; it "
        "writes to a database only when given `--database-url`).",
    )
    api_database_url: str | None = Field(
        default=None,
        description="DSN of the kairos_app role the API uses; unset: the database URL "
        "with its user swapped for kairos_app.",
    )
    nats_url: str | None = Field(
        default=None, description="NATS URL; a cluster's nodes comma-separated."
    )
    nats_stream_replicas: int = Field(
        default=1, ge=1, le=5, description="On how many NATS servers each stream is kept (1 to 5)."
    )
    # -- PostgreSQL sessions (seconds; 0: the server's own setting) ----------------------
    pg_statement_timeout: float = Field(default=30.0, ge=0, description="statement_timeout.")
    pg_lock_timeout: float = Field(default=5.0, ge=0, description="lock_timeout.")
    pg_idle_in_transaction_timeout: float = Field(
        default=10.0,
        ge=0,
        description="idle_in_transaction_session_timeout (keep it within the leader lease).",
    )
    pg_keepalive_idle: float = Field(default=5.0, ge=0, description="tcp_keepalives_idle.")
    pg_keepalive_interval: float = Field(default=2.0, ge=0, description="tcp_keepalives_interval.")
    pg_keepalive_count: int = Field(
        default=3, ge=0, description="tcp_keepalives_count (0: server's)."
    )
    pg_tcp_user_timeout: float = Field(default=10.0, ge=0, description="tcp_user_timeout.")
    # -- API authentication --------------------------------------------------------------
    auth_jwks_url: str | None = Field(default=None, description="JWKS URL of the token issuer.")
    auth_jwks_file: str | None = Field(
        default=None,
        description="A JWKS file instead of a URL (one of the two is needed to serve).",
    )
    auth_issuer: str = Field(default="", description="Required `iss` of API tokens.")
    auth_audience: str = Field(default="", description="Required `aud` of API tokens.")
    auth_tenant_claim: str = Field(
        default="tenant", description="Claim naming the caller's tenant."
    )
    auth_scope_claim: str = Field(default="scope", description="Claim listing the caller's scopes.")
    auth_algorithms: str = Field(
        default="RS256,ES256,EdDSA", description="Accepted signing algorithms (asymmetric only)."
    )
    operator_tenant: str | None = Field(
        default=None, description="The tenant whose admins see every tenant's usage."
    )
    # -- tenants' limits (the same for every tenant) -------------------------------------
    max_schedules: int = Field(default=1000, ge=1, description="Schedules per tenant.")
    min_interval_seconds: float = Field(
        default=1.0, ge=0, description="Shortest gap allowed between a schedule's fires."
    )
    max_payload_bytes: int = Field(
        default=65536, ge=1, description="Largest schedule payload (JSON)."
    )
    max_running: int | None = Field(
        default=None,
        ge=1,
        description="Runs of one tenant running at once; unset: no cap. Give every process "
        "that claims runs the same value.",
    )
    rate_limit: float = Field(default=50.0, gt=0, description="API requests per second per tenant.")
    rate_burst: int = Field(default=100, ge=1, description="API request burst per tenant.")
    # -- targets ---------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet keys sealing HTTP targets' signing secrets, comma-separated "
        "(the first seals); `kairos dev` makes its own.",
    )
    http_allow: str = Field(
        default="",
        description="Addresses or CIDRs HTTP targets may reach although private, comma-separated.",
    )
    queue_max_msgs: int = Field(
        default=1_000_000, ge=1, description="Per-tenant work-queue messages."
    )
    queue_max_bytes: int = Field(default=1024**3, ge=1, description="Per-tenant work-queue bytes.")
    queue_max_age_seconds: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="Per-tenant work-queue message age."
    )
    # -- process -----------------------------------------------------------------------------
    zoneinfo: str = Field(
        default="system",
        description="Zone rules: `system`, `package` (the tzdata package) or a zoneinfo directory.",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="`json` or `console`; unset: JSON unless stderr is a terminal."
    )
    # OpenTelemetry's own variables (no KAIROS_ prefix), read here all the same.
    otel_service_name: str = Field(
        default="kairos",
        validation_alias="OTEL_SERVICE_NAME",
        description="The service name on exported spans.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ),
        description="Where spans are exported over OTLP/HTTP; unset: not exported.",
    )

    @classmethod
    def load(cls) -> Settings:
        """Read and validate the environment; ``SettingsError`` (one line) if a value is
        bad."""
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None


def variable(name: str) -> str:
    """The environment variable of a field."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return " or ".join(str(choice) for choice in alias.choices)
    return PREFIX + name.upper()


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = variable(field) if field in Settings.model_fields else field
        parts.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)


def table() -> str:
    """The Markdown table of every variable: name, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = info.default
        shown = "unset" if default is None or default == "" else f"`{default}`"
        rows.append(f"| `{variable(name)}` | {shown} | {info.description} |")
    return "\n".join(rows) + "\n"
