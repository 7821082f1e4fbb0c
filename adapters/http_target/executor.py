"""The HTTP target (docs/semantics.md, *Targets*): one signed request per attempt.

- Signed per Standard Webhooks (the ``standardwebhooks`` package): ``webhook-id`` is the
  run id (the same across attempts, so a receiver deduplicates retries),
  ``webhook-timestamp`` the attempt's time, ``webhook-signature`` one ``v1,`` signature
  per active secret (several during a rotation). Secrets are opened from their sealed
  form only here, for the request, and never logged.
- The SSRF guard checks the resolved addresses at every attempt and the request goes to
  the address checked (``ssrf.py``). TLS still verifies the certificate against the
  URL's host name (SNI and hostname check use it).
- Redirects are not followed. ``429``/``503`` honour ``Retry-After`` (seconds or an
  HTTP date, at most a day). ``410`` raises ``TargetGone``: the job is disabled and its
  schedules paused. Any status outside the expected set fails the attempt.
- What the target answered (status, latency, the first ``BODY_KEPT`` characters of the
  body) is answered as the attempt's detail, on success and on failure.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from adapters import jsonfast
from adapters.http_target.ssrf import Network, Resolver, resolve_checked, system_resolver
from domain.addresses import AddressPolicy
from domain.errors import ExecutionFailed, TargetGone
from domain.job import Job
from domain.ports import Clock, SecretBox
from domain.run import Run
from domain.targets import MAX_HTTP_TIMEOUT, HttpTarget
from service import telemetry
from service.telemetry import NO_METRICS, Metrics

BODY_KEPT = 1024  # characters of the answer kept on the attempt
BODY_READ = 64 * 1024  # bytes read at most (the rest is not waited for)
MAX_RETRY_AFTER = timedelta(days=1)
USER_AGENT = "Kairos-Webhooks/0.1"
_CLIENTS = 256


class HttpTargetExecutor:
    def __init__(
        self,
        box: SecretBox | None,
        clock: Clock,
        *,
        allow: Sequence[Network] = (),
        allow_loopback: bool = False,
        resolve: Resolver = system_resolver,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._box = box
        self._metrics = metrics
        self._clock = clock
        # The guard's policy, from the composition root: the operator's allowlist, and
        # loopback when a development stack admits it.
        self._allow = AddressPolicy(tuple(allow), allow_loopback).admitted
        self._resolve = resolve
        # One client per (scheme, host, address, port): a pooled connection is only
        # reused for the host name its TLS session was verified for.
        self._clients: OrderedDict[tuple[str, str, str, int], httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for task in self._closing:
            task.cancel()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def execute(self, run: Run, job: Job) -> Mapping[str, Any] | None:
        target = HttpTarget.parse(job.target.config)
        parts = urlsplit(target.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await resolve_checked(host, port, self._allow, self._resolve)
        body = b"" if target.method == "GET" else jsonfast.dumps(target.render_body(_context(run)))
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "kairos-run-id": str(run.id),
            "kairos-schedule-id": str(run.schedule_id),
            "kairos-attempt": str(run.attempt),
            **dict(target.headers),
            "host": parts.netloc.rpartition("@")[2],
            **self._signature(run, job, body),
        }
        telemetry.inject(headers)  # traceparent: the receiver can join the trace
        literal = f"[{address}]" if address.version == 6 else str(address)
        url = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
        client = self._client(parts.scheme, host, str(address), port)
        started = time.perf_counter()
        try:
            request = client.build_request(
                target.method,
                url,
                content=body,
                headers=headers,
                timeout=target.timeout.total_seconds(),
                extensions={"sni_hostname": host} if parts.scheme == "https" else {},
            )
            response = await client.send(request, stream=True)
            try:
                text, truncated = await _read_some(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            self._metrics.delivery("HTTP", "timeout", time.perf_counter() - started)
            raise ExecutionFailed(
                f"TIMEOUT: {host} gave no answer within {target.timeout.total_seconds():g}s"
            ) from None
        except httpx.HTTPError as exc:
            self._metrics.delivery("HTTP", "error", time.perf_counter() - started)
            raise ExecutionFailed(f"request to {host} failed: {type(exc).__name__}") from None
        elapsed = time.perf_counter() - started
        self._metrics.delivery("HTTP", f"{response.status_code // 100}xx", elapsed)
        detail = {
            "status": response.status_code,
            "latency_ms": round(elapsed * 1000, 1),
            "body": text,
            "truncated": truncated,
        }
        return _verdict(target, response, detail, self._clock.now())

    def _signature(self, run: Run, job: Job, body: bytes) -> dict[str, str]:
        if not job.secrets:
            raise ExecutionFailed("the HTTP target has no signing secret; add one")
        if self._box is None:
            raise ExecutionFailed("no secret key is configured (KAIROS_SECRET_KEY)")
        msg_id = str(run.id)
        now = self._clock.now().astimezone(UTC)
        text = body.decode()
        signatures = [
            Webhook(self._box.open(secret.sealed)).sign(msg_id, now, text)
            for secret in reversed(job.secrets)  # newest first
        ]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(signatures),
        }

    def _client(self, scheme: str, host: str, address: str, port: int) -> httpx.AsyncClient:
        key = (scheme, host, address, port)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
            self._clients[key] = client
            if len(self._clients) > _CLIENTS:
                _, old = self._clients.popitem(last=False)
                # A request may still be using it: closed once the longest one is over.
                task = asyncio.create_task(_close_later(old))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        else:
            self._clients.move_to_end(key)
        return client


def _context(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "schedule_id": str(run.schedule_id),
        "job_id": str(run.job_id),
        "tenant_id": str(run.tenant_id),
        "nominal_at": run.nominal_at.isoformat(),
        "attempt": run.attempt,
        "payload": dict(run.payload),
    }


async def _read_some(response: httpx.Response) -> tuple[str, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_READ:
            break
    data = b"".join(chunks)
    text = data.decode("utf-8", errors="replace")
    return text[:BODY_KEPT], len(text) > BODY_KEPT or size >= BODY_READ


async def _close_later(client: httpx.AsyncClient) -> None:
    try:
        await asyncio.sleep(MAX_HTTP_TIMEOUT.total_seconds() + 60)
    finally:
        await client.aclose()


def _verdict(
    target: HttpTarget, response: httpx.Response, detail: dict[str, Any], now: datetime
) -> Mapping[str, Any]:
    status = response.status_code
    if target.accepts(status):
        return detail
    if status == 410:
        raise TargetGone("HTTP 410 Gone: the target is disabled", response=detail)
    if 300 <= status < 400:
        location = response.headers.get("location", "")[:200]
        raise ExecutionFailed(
            f"HTTP {status}: redirects are not followed (Location: {location})", response=detail
        )
    retry_after = None
    if status in (429, 503):
        retry_after = _retry_after(response.headers.get("retry-after"), now)
    raise ExecutionFailed(f"HTTP {status}", retry_after=retry_after, response=detail)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER.total_seconds()))
