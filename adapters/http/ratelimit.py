"""API rate limits per tenant: a token bucket of ``rate`` requests per second with a
``burst``, kept in this replica's memory (N replicas allow N times the rate; the
load balancer spreads a tenant's calls). Over the limit: 429 ``RATE_LIMITED`` with
``Retry-After``."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request

from domain.access import Principal
from domain.errors import RateLimited


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tenants: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max = max_tenants
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float | None:
        """Spend one token; None when allowed, else the seconds until one is free."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            wait = None
        else:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) / self.rate
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)  # the least recently seen tenant: full again
        return wait


def admit(request: Request, principal: Principal) -> None:
    """Spend one of the tenant's tokens for this request, once: every authenticated
    request counts, before its scope is checked or anything is read, so denied calls
    cost the caller too. ``RateLimited`` past the limit."""
    if getattr(request.state, "admitted", False):
        return
    request.state.admitted = True
    limiter: RateLimiter | None = request.app.state.limiter
    wait = limiter.take(principal.tenant_id) if limiter is not None else None
    if wait is not None:
        raise RateLimited(
            f"over {limiter.rate:g} requests/s for this tenant; retry shortly",  # type: ignore[union-attr]
            retry_after=wait,
        )
