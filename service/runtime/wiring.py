"""Adapter objects built from ``Settings``: what the composition root hands to the
loops, the API and the target executors. Nothing here reads the environment."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from nats.aio.client import Client

from adapters.auth.tokens import JwksKeys, KeySource, StaticKeys, TokenVerifier
from adapters.clock import SystemClock
from adapters.http.ratelimit import RateLimiter
from adapters.http_target.executor import HttpTargetExecutor
from adapters.http_target.ssrf import Network, parse_allowlist
from adapters.nats.event_target import EventTarget
from adapters.nats.queue_target import QueueLimits, QueueTarget
from adapters.postgres.database import SessionLimits
from adapters.secrets import FernetSecretBox
from domain.addresses import AddressPolicy
from domain.ids import TenantId, parse_tenant
from domain.job import TargetKind
from domain.limits import TenantLimits
from domain.ports import TargetExecutor
from service.settings import Settings
from service.telemetry import NO_METRICS, Metrics


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """How targets are reached (``KAIROS_SECRET_KEY``, ``KAIROS_HTTP_ALLOW``,
    ``KAIROS_QUEUE_*``)."""

    secret_key: str | None = None  # seals HTTP signing secrets
    http_allow: tuple[Network, ...] = ()  # SSRF guard exceptions
    # Loopback targets (127.0.0.0/8, ::1, localhost): only `kairos dev` admits them.
    allow_loopback: bool = False
    queue_limits: QueueLimits = field(default_factory=QueueLimits)

    def box(self) -> FernetSecretBox | None:
        return FernetSecretBox(self.secret_key) if self.secret_key else None

    def addresses(self) -> AddressPolicy:
        """The SSRF guard's policy, for the API's check of what a job is written with."""
        return AddressPolicy(self.http_allow, self.allow_loopback)


def target_options(settings: Settings, *, fallback_key: str | None = None) -> TargetOptions:
    """``fallback_key``: the secret key when none is set (``kairos dev``'s own)."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return TargetOptions(
        secret_key=key or fallback_key,
        http_allow=parse_allowlist(settings.http_allow),
        queue_limits=QueueLimits(
            max_msgs=settings.queue_max_msgs,
            max_bytes=settings.queue_max_bytes,
            max_age=timedelta(seconds=settings.queue_max_age_seconds),
        ),
    )


def verifier(settings: Settings) -> TokenVerifier | None:
    """The API's token verifier (None when no JWKS is configured). Raises
    ``ValueError`` for an unusable configuration (no issuer, a symmetric algorithm)."""
    url, file = settings.auth_jwks_url, settings.auth_jwks_file
    if not url and not file:
        return None
    keys: KeySource = JwksKeys(url) if url else StaticKeys.from_file(Path(file or ""))
    algorithms = settings.auth_algorithms
    return TokenVerifier(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=tuple(a.strip() for a in algorithms.split(",") if a.strip()),
        tenant_claim=settings.auth_tenant_claim,
        scope_claim=settings.auth_scope_claim,
    )


def tenant_limits(settings: Settings) -> TenantLimits:
    return TenantLimits(
        max_schedules=settings.max_schedules,
        min_interval=timedelta(seconds=settings.min_interval_seconds),
        max_payload_bytes=settings.max_payload_bytes,
        max_running=settings.max_running,
    )


def rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings.rate_limit, settings.rate_burst)


def operator(settings: Settings) -> TenantId | None:
    """The tenant whose admins see every tenant's usage."""
    value = (settings.operator_tenant or "").strip()
    return parse_tenant(value) if value else None


def session_limits(settings: Settings) -> SessionLimits:
    """0 leaves the server's own setting."""

    def seconds(value: float) -> timedelta | None:
        return timedelta(seconds=value) if value else None

    return SessionLimits(
        statement_timeout=seconds(settings.pg_statement_timeout),
        lock_timeout=seconds(settings.pg_lock_timeout),
        idle_in_transaction=seconds(settings.pg_idle_in_transaction_timeout),
        keepalive_idle=seconds(settings.pg_keepalive_idle),
        keepalive_interval=seconds(settings.pg_keepalive_interval),
        keepalive_count=settings.pg_keepalive_count or None,
        tcp_user_timeout=seconds(settings.pg_tcp_user_timeout),
    )


@contextlib.asynccontextmanager
async def executors(
    nc: Client, targets: TargetOptions, metrics: Metrics = NO_METRICS
) -> AsyncIterator[dict[TargetKind, TargetExecutor]]:
    """The process's target executors (EVENT, QUEUE, HTTP); HTTP clients closed on exit."""
    http = HttpTargetExecutor(
        targets.box(),
        SystemClock(),
        allow=targets.http_allow,
        allow_loopback=targets.allow_loopback,
        metrics=metrics,
    )
    try:
        yield {
            TargetKind.EVENT: EventTarget(nc),
            TargetKind.QUEUE: QueueTarget(nc, targets.queue_limits),
            TargetKind.HTTP: http,
        }
    finally:
        await http.aclose()
